"""Named queries. Python never builds SQL: filters are parameters, optional ones tested for NULL."""

CAMPAIGN_INSERT = """
INSERT INTO campaigns (external_id, title, description, image_url, cta_label, landing_url,
                       status, daily_budget, max_budget, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id
"""

CAMPAIGN_GET = "SELECT * FROM campaigns_with_kpis WHERE id = $1"

CAMPAIGN_LIST = """
SELECT * FROM campaigns_with_kpis
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""

# A PATCH names only the fields it changes: $2 is the jsonb of those fields.
CAMPAIGN_PATCH = """
UPDATE campaigns SET
    title        = CASE WHEN $2::jsonb ? 'title'        THEN $2->>'title'        ELSE title END,
    description  = CASE WHEN $2::jsonb ? 'description'  THEN $2->>'description'  ELSE description END,
    image_url    = CASE WHEN $2::jsonb ? 'image_url'    THEN $2->>'image_url'    ELSE image_url END,
    cta_label    = CASE WHEN $2::jsonb ? 'cta_label'    THEN $2->>'cta_label'    ELSE cta_label END,
    landing_url  = CASE WHEN $2::jsonb ? 'landing_url'  THEN $2->>'landing_url'  ELSE landing_url END,
    status       = CASE WHEN $2::jsonb ? 'status'       THEN $2->>'status'       ELSE status END,
    daily_budget = CASE WHEN $2::jsonb ? 'daily_budget' THEN ($2->>'daily_budget')::numeric ELSE daily_budget END,
    max_budget   = CASE WHEN $2::jsonb ? 'max_budget'   THEN ($2->>'max_budget')::numeric ELSE max_budget END,
    started_at   = CASE WHEN $2::jsonb ? 'started_at'   THEN ($2->>'started_at')::timestamptz ELSE started_at END
WHERE id = $1
RETURNING id
"""

METRICS_INGEST = "SELECT ingest_campaign_metrics($1::text::jsonb)"

READY_REVISION = "SELECT version_num FROM alembic_version"
