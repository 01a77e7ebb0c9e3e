"""Named queries: the engine's own: readiness, campaigns and their metrics, cycles, analytics, actions, rules, settings, opportunities."""

# -- Readiness and errors ----------------------------------------------------------------------------

READY_REVISION = "SELECT version_num FROM alembic_version"

READY_FUNCTIONS = "SELECT file, sha256 FROM schema_functions ORDER BY file"

# The words of each constraint the API reports, from its comment ({"field", "message"}).
CONSTRAINT_MESSAGES = """
SELECT conname AS name, obj_description(oid, 'pg_constraint') AS comment
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace AND obj_description(oid, 'pg_constraint') IS NOT NULL
"""

# -- Campaigns ---------------------------------------------------------------------------------------

CAMPAIGN_INSERT = """
INSERT INTO campaigns (external_id, title, description, image_url, cta_label, landing_url,
                       status, daily_budget, max_budget, started_at, account_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, ao_manual_account_id()))
RETURNING id
"""

CAMPAIGN_GET = "SELECT * FROM campaigns_with_kpis WHERE id = $1"

CAMPAIGN_LIST = """
SELECT * FROM campaigns_with_kpis
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
  AND ($5::uuid IS NULL OR account_id = $5)
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

CAMPAIGNS_EXIST = "SELECT EXISTS (SELECT 1 FROM campaigns)"

DEMO_CAMPAIGNS_INSERT = """
WITH new AS (
    INSERT INTO campaigns (external_id, title, description, landing_url, cta_label, status, daily_budget,
                           max_budget, started_at, account_id)
    SELECT external_id, title, description, landing_url, cta_label, 'active', daily_budget, max_budget, started_at,
           coalesce(account_id, ao_manual_account_id())
    FROM jsonb_to_recordset($1::text::jsonb) AS r(external_id text, title text, description text, landing_url text,
                                                  cta_label text, daily_budget numeric, max_budget numeric,
                                                  started_at timestamptz, account_id uuid)
    ON CONFLICT (account_id, external_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM new
"""

CAMPAIGN_SERIES = "SELECT * FROM campaign_metric_series($1, $2, $3, $4)"

CAMPAIGN_ACCOUNT = """
SELECT a.currency, a.timezone FROM campaigns c JOIN ad_accounts a ON a.id = c.account_id WHERE c.id = $1
"""

CAMPAIGN_IMAGE_URL = "SELECT image_url FROM campaigns WHERE id = $1"

# -- Metrics and imports -----------------------------------------------------------------------------

METRICS_INGEST = "SELECT ingest_campaign_metrics($1::text::jsonb)"

IMPORT_REPORT = "SELECT import_campaign_report($1::text::jsonb, $2::text::jsonb)"

# -- Cycles and trigger evaluations ------------------------------------------------------------------

CYCLE_RUN = "SELECT run_autonomous_operations_with_posting($1, $2, $3, $4)"

CYCLE_COLUMNS = (
    "id, trigger, triggered_by, dry_run, status, scope, started_at, finished_at, summary, error,"
    " released_at, released_by, released_by_cycle_id"
)

CYCLE_LIST = f"""
SELECT {CYCLE_COLUMNS} FROM autonomous_cycles
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::text IS NULL OR trigger = $2)
  AND ($3::timestamptz IS NULL OR (started_at, id) < ($3, $4::uuid))
ORDER BY started_at DESC, id DESC
LIMIT $5
"""

CYCLE_GET = f"SELECT {CYCLE_COLUMNS} FROM autonomous_cycles WHERE id = $1"

CYCLE_RELEASE = "SELECT release_held_cycle($1, $2)"

TRIGGERS_EVALUATE = "SELECT evaluate_metric_triggers($1)"

# The worker's pass over the metric partitions: the months ahead, then the roll-up past retention.
METRIC_PARTITIONS_MAINTAIN = "SELECT ao_maintain_metric_partitions()"

# -- Analytics and stats -----------------------------------------------------------------------------

# The analytics lists in their own order, for one account on request, each row with its currency.
UNDERPERFORMING = """
SELECT u.*, c.account_id, a.currency
FROM identify_underperforming_campaigns() WITH ORDINALITY u
JOIN campaigns c ON c.id = u.campaign_id JOIN ad_accounts a ON a.id = c.account_id
WHERE $3::uuid IS NULL OR c.account_id = $3
ORDER BY u.ordinality LIMIT $1 OFFSET $2
"""

SCALING_CANDIDATES = """
SELECT u.*, c.account_id, a.currency
FROM identify_scaling_candidates() WITH ORDINALITY u
JOIN campaigns c ON c.id = u.campaign_id JOIN ad_accounts a ON a.id = c.account_id
WHERE $3::uuid IS NULL OR c.account_id = $3
ORDER BY u.ordinality LIMIT $1 OFFSET $2
"""

STATS = "SELECT autonomous_stats($1)"

STATS_DAILY = """
SELECT currency, day::text AS day, paused, scaled, posted, optimized, expected_saved, expected_added,
       measured_saved, measured_added
FROM autonomous_daily($1, $2)
"""

# -- Actions -----------------------------------------------------------------------------------------

ACTION_COLUMNS = """
a.id, a.cycle_id, a.campaign_id, c.title AS campaign_title, a.rule_id, r.name AS rule_name, a.action_type,
a.reason, a.previous_state, a.new_state, a.confidence, a.expected_impact, a.actual_impact, a.status,
a.created_at, a.executed_at, a.rolled_back_at, a.rolled_back_by, a.rollback_reason, a.created_by,
a.expires_at, a.decided_at, a.decided_by, a.status_reason,
(SELECT jsonb_build_object('id', pc.id, 'purpose', pc.purpose, 'state', pc.state, 'attempts', pc.attempts,
                           'last_answer', pc.last_answer)
   FROM platform_changes pc WHERE pc.action_id = a.id
  ORDER BY pc.created_at DESC, pc.id DESC LIMIT 1) AS platform_change
"""

ACTION_LIST = f"""
SELECT {ACTION_COLUMNS}
FROM autonomous_actions a
JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN autonomous_rules r ON r.id = a.rule_id
WHERE ($1::text IS NULL OR a.status = $1)
  AND ($2::text IS NULL OR a.action_type = $2)
  AND ($3::uuid IS NULL OR a.campaign_id = $3)
  AND ($4::uuid IS NULL OR a.cycle_id = $4)
  AND ($5::timestamptz IS NULL OR (a.created_at, a.id) < ($5, $6::uuid))
ORDER BY a.created_at DESC, a.id DESC
LIMIT $7
"""

ACTION_GET = f"""
SELECT {ACTION_COLUMNS}
FROM autonomous_actions a
JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN autonomous_rules r ON r.id = a.rule_id
WHERE a.id = $1
"""

ACTION_ROLLBACK = "SELECT rollback_autonomous_action($1, $2, $3)"

ACTION_APPROVE = "SELECT approve_action($1)"

ACTION_REJECT = "SELECT reject_action($1, $2)"

# -- Rules -------------------------------------------------------------------------------------------

RULE_COLUMNS = """
id, name, description, rule_type, priority, is_active, is_builtin, conditions,
describe_rule_conditions(conditions) AS conditions_text, action, min_confidence, cooldown_hours,
evaluation_type, reading, account_ids, created_by, updated_by, created_at, updated_at
"""

RULE_LIST = f"""
SELECT {RULE_COLUMNS} FROM autonomous_rules
WHERE ($1::text IS NULL OR rule_type = $1) AND ($2::boolean IS NULL OR is_active = $2)
ORDER BY priority DESC, name, id
LIMIT $3 OFFSET $4
"""

RULE_GET = f"SELECT {RULE_COLUMNS} FROM autonomous_rules WHERE id = $1"

RULE_INSERT = """
INSERT INTO autonomous_rules (name, description, rule_type, priority, is_active, conditions, action,
                              min_confidence, cooldown_hours, evaluation_type, reading, account_ids, created_by,
                              updated_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, app_auth.actor(), app_auth.actor())
RETURNING id
"""

RULE_PATCH = """
UPDATE autonomous_rules SET
    name           = CASE WHEN $2::jsonb ? 'name'           THEN $2->>'name'                   ELSE name END,
    description    = CASE WHEN $2::jsonb ? 'description'    THEN $2->>'description'            ELSE description END,
    is_active      = CASE WHEN $2::jsonb ? 'is_active'      THEN ($2->>'is_active')::boolean   ELSE is_active END,
    priority       = CASE WHEN $2::jsonb ? 'priority'       THEN ($2->>'priority')::integer    ELSE priority END,
    conditions     = CASE WHEN $2::jsonb ? 'conditions'     THEN $2->'conditions'              ELSE conditions END,
    action         = CASE WHEN $2::jsonb ? 'action'         THEN $2->'action'                  ELSE action END,
    min_confidence = CASE WHEN $2::jsonb ? 'min_confidence' THEN ($2->>'min_confidence')::numeric ELSE min_confidence END,
    cooldown_hours = CASE WHEN $2::jsonb ? 'cooldown_hours' THEN ($2->>'cooldown_hours')::integer ELSE cooldown_hours END,
    evaluation_type = CASE WHEN $2::jsonb ? 'evaluation_type' THEN $2->>'evaluation_type' ELSE evaluation_type END,
    reading        = CASE WHEN $2::jsonb ? 'reading'        THEN $2->>'reading'                ELSE reading END,
    account_ids    = CASE WHEN NOT $2::jsonb ? 'account_ids' THEN account_ids
                          WHEN jsonb_typeof($2->'account_ids') = 'null' THEN NULL
                          ELSE ARRAY(SELECT jsonb_array_elements_text($2->'account_ids')::uuid) END,
    updated_by     = app_auth.actor()
WHERE id = $1
RETURNING id
"""

RULE_PREVIEW = "SELECT preview_rule($1::text::jsonb)"

# -- Settings ----------------------------------------------------------------------------------------

SETTINGS_GET = "SELECT s.*, ao_account_overrides() AS account_overrides FROM autonomous_settings s"

SETTINGS_UPDATE = "SELECT update_autonomous_settings($1::jsonb) IS NOT NULL"

# -- Opportunities -----------------------------------------------------------------------------------

OPPORTUNITY_COLUMNS = """
o.id, o.campaign_id, c.title AS campaign_title, o.opportunity_type, o.severity, o.description,
o.suggested_action, o.confidence_score, o.evidence, o.status, o.detected_at, o.updated_at, o.resolved_by
"""

# The filters both orders of the opportunities list take ($1 status, $2 severity, $3 type, $4 campaign).
OPPORTUNITY_FILTERS = """
FROM optimization_opportunities o
JOIN campaigns c ON c.id = o.campaign_id
WHERE ($1::text IS NULL OR o.status = $1)
  AND ($2::text IS NULL OR o.severity = $2)
  AND ($3::text IS NULL OR o.opportunity_type = $3)
  AND ($4::uuid IS NULL OR o.campaign_id = $4)
"""

OPPORTUNITY_LIST = f"""
SELECT {OPPORTUNITY_COLUMNS}
{OPPORTUNITY_FILTERS}
  AND ($5::timestamptz IS NULL OR (o.detected_at, o.id) < ($5, $6::uuid))
ORDER BY o.detected_at DESC, o.id DESC
LIMIT $7
"""

# Opportunities by what needs attention first: severity, then the money at stake (the campaign's
# spend), then the newest; paged by offset.
OPPORTUNITY_ATTENTION = f"""
SELECT {OPPORTUNITY_COLUMNS}
{OPPORTUNITY_FILTERS}
ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], o.severity), c.spend DESC,
         o.detected_at DESC, o.id DESC
OFFSET $5 LIMIT $6
"""

OPPORTUNITY_GET = f"""
SELECT {OPPORTUNITY_COLUMNS}
FROM optimization_opportunities o
JOIN campaigns c ON c.id = o.campaign_id
WHERE o.id = $1
"""

OPPORTUNITY_TRANSITION = "SELECT transition_optimization_opportunity($1, $2, $3)"

# -- Session -----------------------------------------------------------------------------------------

# The time limit of the statements of this transaction ($1: a duration such as 60000ms).
STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"

# Cancels the statement a backend of this service runs (the backtest runner's, on a cancel).
CANCEL_BACKEND = "SELECT pg_cancel_backend($1)"
