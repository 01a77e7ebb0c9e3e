"""Named queries, by resource. Python never builds SQL: filters are parameters, optional ones tested for
NULL; a constant is composed of constants only."""

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
                           max_budget, started_at)
    SELECT external_id, title, description, landing_url, cta_label, 'active', daily_budget, max_budget, started_at
    FROM jsonb_to_recordset($1::text::jsonb) AS r(external_id text, title text, description text, landing_url text,
                                                  cta_label text, daily_budget numeric, max_budget numeric,
                                                  started_at timestamptz)
    ON CONFLICT (account_id, external_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM new
"""

CAMPAIGN_SERIES = "SELECT * FROM campaign_metric_series($1, $2, $3, $4)"

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

# -- Analytics and stats -----------------------------------------------------------------------------

UNDERPERFORMING = "SELECT * FROM identify_underperforming_campaigns() LIMIT $1 OFFSET $2"

SCALING_CANDIDATES = "SELECT * FROM identify_scaling_candidates() LIMIT $1 OFFSET $2"

STATS = "SELECT autonomous_stats()"

STATS_DAILY = """
SELECT day::text AS day, paused, scaled, posted, optimized, expected_saved, expected_added,
       measured_saved, measured_added
FROM autonomous_daily($1)
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

SETTINGS_GET = "SELECT * FROM autonomous_settings"

SETTINGS_UPDATE = "SELECT * FROM update_autonomous_settings($1::jsonb)"

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

# -- Social accounts ---------------------------------------------------------------------------------

SOCIAL_ACCOUNT_COLUMNS = """
id, platform, account_id, display_name, token_last4, refresh_token_encrypted IS NOT NULL AS has_refresh_token,
token_expires_at, status, created_at, updated_at
"""

SOCIAL_ACCOUNT_INSERT = f"""
INSERT INTO social_accounts (platform, account_id, display_name, access_token_encrypted, refresh_token_encrypted,
                             token_last4, token_expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING {SOCIAL_ACCOUNT_COLUMNS}
"""

SOCIAL_ACCOUNT_LIST = f"""
SELECT {SOCIAL_ACCOUNT_COLUMNS} FROM social_accounts
WHERE ($1::text IS NULL OR platform = $1) AND ($2::text IS NULL OR status = $2)
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $5
"""

# $2 names the fields a PATCH changes; $3/$4/$5 are the new encrypted tokens and last 4 characters.
SOCIAL_ACCOUNT_PATCH = f"""
UPDATE social_accounts SET
    display_name = CASE WHEN $2::jsonb ? 'display_name' THEN $2->>'display_name' ELSE display_name END,
    token_expires_at = CASE WHEN $2::jsonb ? 'token_expires_at' THEN ($2->>'token_expires_at')::timestamptz
                            ELSE token_expires_at END,
    access_token_encrypted = coalesce($3, access_token_encrypted),
    token_last4 = coalesce($5, token_last4),
    refresh_token_encrypted = CASE WHEN $2::jsonb ? 'refresh_token' THEN $4 ELSE refresh_token_encrypted END,
    -- a rotated token revives an expired account; status revoked deactivates it
    status = CASE WHEN $2::jsonb ? 'status' THEN $2->>'status'
                  WHEN $3::bytea IS NOT NULL AND status = 'expired' THEN 'active' ELSE status END
WHERE id = $1
RETURNING {SOCIAL_ACCOUNT_COLUMNS}
"""

# -- Ad accounts and their syncs ---------------------------------------------------------------------

AD_ACCOUNT_COLUMNS = """id, platform, external_id, name, currency, timezone, mode, status, is_sandbox,
    credentials_last4, last_sync_at, next_sync_at, last_error, created_at, updated_at,
    (SELECT count(*) FROM campaigns c WHERE c.account_id = ad_accounts.id) AS campaigns"""

AD_ACCOUNT_INSERT = f"""
INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, mode, credentials_encrypted,
                         credentials_last4, is_sandbox, created_by, next_sync_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $1 = 'manual' THEN NULL ELSE now() END)
RETURNING {AD_ACCOUNT_COLUMNS}
"""

AD_ACCOUNT_GET = f"SELECT {AD_ACCOUNT_COLUMNS} FROM ad_accounts WHERE id = $1"

AD_ACCOUNT_LIST = f"""
SELECT {AD_ACCOUNT_COLUMNS} FROM ad_accounts
WHERE ($1::text IS NULL OR platform = $1) AND ($2::text IS NULL OR status = $2)
  AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
ORDER BY created_at, id
LIMIT $5
"""

AD_ACCOUNT_CREDENTIALS = "SELECT platform, external_id, is_sandbox FROM ad_accounts WHERE id = $1"

# $2 names the fields a PATCH changes; $3/$4 are the new encrypted credentials and their last 4
# characters. New credentials (or status active) revive an account in error and sync it at once.
AD_ACCOUNT_PATCH = f"""
UPDATE ad_accounts SET
    name = CASE WHEN $2::jsonb ? 'name' THEN $2->>'name' ELSE name END,
    mode = CASE WHEN $2::jsonb ? 'mode' AND platform <> 'manual' THEN $2->>'mode' ELSE mode END,
    credentials_encrypted = coalesce($3, credentials_encrypted),
    credentials_last4 = coalesce($4, credentials_last4),
    status = CASE WHEN $2::jsonb ? 'status' THEN $2->>'status'
                  WHEN $3::bytea IS NOT NULL AND status = 'error' THEN 'active' ELSE status END,
    last_error = CASE WHEN $3::bytea IS NOT NULL OR $2->>'status' = 'active' THEN NULL ELSE last_error END,
    next_sync_at = CASE WHEN platform <> 'manual' AND ($3::bytea IS NOT NULL OR $2->>'status' = 'active')
                        THEN now() ELSE next_sync_at END
WHERE id = $1
RETURNING {AD_ACCOUNT_COLUMNS}
"""

MANUAL_ACCOUNT_CURRENCY = """
UPDATE ad_accounts SET currency = $1
WHERE id = ao_manual_account_id() AND currency IS DISTINCT FROM $1
"""

SANDBOX_ACCOUNT_EXISTS = "SELECT EXISTS (SELECT 1 FROM ad_accounts WHERE is_sandbox)"

AD_ACCOUNT_SYNC_REQUEST = "SELECT * FROM request_ad_account_sync($1, $2, $3)"

AD_ACCOUNT_SYNCS = """
SELECT * FROM ad_account_syncs
WHERE account_id = $1
  AND ($2::timestamptz IS NULL OR (started_at, id) < ($2, $3::uuid))
ORDER BY started_at DESC, id DESC
LIMIT $4
"""

SYNC_WAKE = "SELECT pg_notify(ao_channel('syncs'), $1::uuid::text)"

SYNC_CLAIM = "SELECT * FROM claim_ad_account_sync($1, $2, $3)"

SYNC_RENEW = "SELECT renew_ad_account_lease($1, $2)"

SYNC_RECORD = "SELECT record_ad_account_sync($1, $2::text::jsonb, $3)"

MATURITY_LEARN = "SELECT learn_account_maturity($1, $2)"

AD_ACCOUNT_MATURITY = "SELECT ao_account_maturity($1)"

SYNC_FAIL = "SELECT * FROM fail_ad_account_sync($1, $2, $3, $4, $5, $6)"

# -- Platform changes (the outbox of writes to the ad platforms) ---------------------------------------

PLATFORM_CHANGES_CLAIM = "SELECT * FROM claim_platform_changes($1, $2, $3)"

PLATFORM_WRITE_RECORD = "SELECT record_platform_write($1, $2, $3::text::jsonb, $4, $5, $6, $7)"

PLATFORM_CHANGE_FINISH = "SELECT finish_platform_change($1, $2, $3, $4::text::jsonb, $5, $6)"

RECENT_BUDGET_WRITES = "SELECT * FROM recent_budget_writes($1)"

PROPOSALS_EXPIRE = "SELECT expire_proposals()"

PLATFORM_CHANGE_LIST = """
SELECT ao_platform_change_document(pc) AS change
FROM platform_changes pc
WHERE ($1::text IS NULL OR pc.state = $1) AND ($2::uuid IS NULL OR pc.account_id = $2)
  AND ($3::timestamptz IS NULL OR (pc.created_at, pc.id) < ($3, $4::uuid))
ORDER BY pc.created_at DESC, pc.id DESC
LIMIT $5
"""

# -- Schedules and their social posts ----------------------------------------------------------------

CAMPAIGN_POST = "SELECT auto_post_campaign_to_social($1)"

SCHEDULE_COLUMNS = """
s.id, s.campaign_id, c.title AS campaign_title, s.action_id, s.scheduled_for, s.platforms, s.content, s.status,
s.created_at, s.updated_at
"""

SCHEDULE_LIST = f"""
SELECT {SCHEDULE_COLUMNS}
FROM campaign_schedules s JOIN campaigns c ON c.id = s.campaign_id
WHERE ($1::text IS NULL OR s.status = $1) AND ($2::uuid IS NULL OR s.campaign_id = $2)
  AND ($3::timestamptz IS NULL OR (s.created_at, s.id) < ($3, $4::uuid))
ORDER BY s.created_at DESC, s.id DESC
LIMIT $5
"""

SCHEDULE_GET = f"""
SELECT {SCHEDULE_COLUMNS}
FROM campaign_schedules s JOIN campaigns c ON c.id = s.campaign_id
WHERE s.id = $1
"""

SCHEDULE_POSTS = """
SELECT schedule_id, id, platform, account_id, status, external_post_ids, attempts, next_attempt_at, last_error,
       posted_at
FROM social_posts WHERE schedule_id = ANY($1::uuid[]) ORDER BY platform
"""

SCHEDULE_CANCEL = "SELECT cancel_campaign_schedule($1)"

POSTS_CLAIM = "SELECT * FROM claim_due_posts($1)"

POST_ACCEPTED = "SELECT record_post_accepted($1, $2)"

POST_FINISH = "SELECT finish_post($1, $2, $3, $4, $5)"

# -- Webhooks ----------------------------------------------------------------------------------------

WEBHOOK_COLUMNS = """
id, url, description, event_types, format, is_active, secret_rotated_at, created_by, created_at, updated_at
"""

WEBHOOK_INSERT = f"""
INSERT INTO webhook_endpoints (url, description, event_types, format, is_active, secret_encrypted, created_by)
VALUES ($1, $2, $3, $4, $5, $6, app_auth.actor())
RETURNING {WEBHOOK_COLUMNS}
"""

WEBHOOK_LIST = f"""
SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints
WHERE ($1::boolean IS NULL OR is_active = $1)
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""

WEBHOOK_GET = f"SELECT {WEBHOOK_COLUMNS} FROM webhook_endpoints WHERE id = $1"

WEBHOOK_PATCH = f"""
UPDATE webhook_endpoints SET
    url         = CASE WHEN $2::jsonb ? 'url'         THEN $2->>'url'                 ELSE url END,
    description = CASE WHEN $2::jsonb ? 'description' THEN $2->>'description'         ELSE description END,
    event_types = CASE WHEN $2::jsonb ? 'event_types'
                       THEN ARRAY(SELECT jsonb_array_elements_text($2->'event_types')) ELSE event_types END,
    format      = CASE WHEN $2::jsonb ? 'format'      THEN $2->>'format'              ELSE format END,
    is_active   = CASE WHEN $2::jsonb ? 'is_active'   THEN ($2->>'is_active')::boolean ELSE is_active END
WHERE id = $1
RETURNING {WEBHOOK_COLUMNS}
"""

WEBHOOK_ROTATE = f"""
UPDATE webhook_endpoints SET secret_encrypted = $2, secret_rotated_at = now()
WHERE id = $1
RETURNING {WEBHOOK_COLUMNS}
"""

WEBHOOK_TEST = "SELECT webhook_send_test($1)"

WEBHOOK_DELIVERY_COLUMNS = """
d.id, d.event_id, ev.type AS event_type, d.endpoint_id, d.status, d.attempts, d.next_attempt_at, d.give_up_at,
d.last_status_code, d.last_error, d.delivered_at, d.created_at
"""

WEBHOOK_DELIVERIES = f"""
SELECT {WEBHOOK_DELIVERY_COLUMNS}
FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
WHERE d.endpoint_id = $1
  AND ($2::text IS NULL OR d.status = $2)
  AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4::uuid))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $5
"""

WEBHOOK_DELIVERY_GET = f"""
SELECT {WEBHOOK_DELIVERY_COLUMNS}
FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
WHERE d.id = $1
"""

WEBHOOK_ATTEMPTS = """
SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, response_excerpt, error
FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[])
ORDER BY delivery_id, attempt, attempted_at
"""

WEBHOOK_REDELIVER = "SELECT webhook_redeliver($1)"

WEBHOOK_CLAIM = "SELECT * FROM claim_webhook_deliveries($1, $2)"

WEBHOOK_RECORD = "SELECT record_webhook_attempt($1, $2, $3, $4, $5, $6, $7, $8)"

# -- Backtests ---------------------------------------------------------------------------------------

# The list shows each result's totals; GET /backtests/{id} the whole of it.
BACKTEST_FIELDS = """id, status, from_at AS from_, to_at AS to, step, rules, settings, steps_total,
    progress::float8 AS progress, error, created_by, cancelled_by, created_at, started_at, finished_at"""

BACKTEST_CREATE = "SELECT create_backtest($1, $2, $3, $4::text::jsonb, $5::text::jsonb)"

BACKTEST_GET = f"SELECT {BACKTEST_FIELDS}, result FROM backtests WHERE id = $1"

BACKTEST_LIST = f"""
SELECT {BACKTEST_FIELDS}, jsonb_build_object('totals', result -> 'totals') AS result
FROM backtests
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""

BACKTEST_STATUS = "SELECT status FROM backtests WHERE id = $1"

BACKTEST_CANCEL = "SELECT cancel_backtest($1)"

BACKTEST_CLAIM = "SELECT claim_backtest()"

BACKTEST_EXECUTE = "SELECT execute_backtest($1)"

BACKTEST_PROGRESS = """
UPDATE backtests SET progress = least($2::numeric, 0.9999), heartbeat_at = now()
WHERE id = $1 AND status = 'running'
"""

# A run whose statement was cancelled: by a person (the row says cancelled already) or by its time
# limit ($2 seconds). Returns how it ended.
BACKTEST_STOPPED = "SELECT record_backtest_stopped($1, $2)"

BACKTEST_RUN = "SELECT run_backtest($1, $2, $3, $4::text::jsonb, $5::text::jsonb)"

# -- Session -----------------------------------------------------------------------------------------

# The time limit of the statements of this transaction ($1: a duration such as 60000ms).
STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', $1, true)"

# Cancels the statement a backend of this service runs (the backtest runner's, on a cancel).
CANCEL_BACKEND = "SELECT pg_cancel_backend($1)"
