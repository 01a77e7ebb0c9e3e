"""Named queries: social accounts, schedules and their posts."""

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
