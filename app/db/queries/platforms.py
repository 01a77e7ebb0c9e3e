"""Named queries: ad accounts, their syncs, and the outbox of changes to the ad platforms."""

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
