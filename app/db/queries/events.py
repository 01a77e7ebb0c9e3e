"""Named queries: webhooks and backtests."""

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
