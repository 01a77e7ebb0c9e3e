-- 18_dispatch.sql: publishing without ever posting twice. A schedule becomes one social post per
-- platform (social_posts); a post is claimed (pending → sending, attempts + 1) and that claim is
-- committed before anything is sent; a platform's id is stored the moment the platform accepts it; a
-- posted post is never claimed again; and a post left in sending by a worker that died becomes unknown
-- for a person to check, never sent blindly again.

CREATE OR REPLACE FUNCTION claim_due_posts(p_limit integer DEFAULT 50, p_stale_after interval DEFAULT '10 minutes')
RETURNS TABLE (post_id uuid, schedule_id uuid, campaign_id uuid, platform text, account_row_id uuid,
               account_id text, access_token_encrypted bytea, content jsonb, attempts integer,
               external_post_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        PERFORM ao_raise_422('limit', 'must be between 1 and 1000');
    END IF;

    -- A send whose worker vanished: its outcome is unknown, so it is never retried automatically.
    UPDATE social_posts
       SET status = 'unknown',
           last_error = 'the worker stopped while sending; check the platform before posting again'
     WHERE status = 'sending' AND updated_at < now() - p_stale_after;

    -- Due schedules become posts, one per platform, each with the account that will post it.
    WITH due AS (
        SELECT s.id, s.platforms FROM campaign_schedules s
         WHERE s.status = 'pending' AND s.scheduled_for <= now()
         ORDER BY s.scheduled_for
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), started AS (
        UPDATE campaign_schedules s SET status = 'posting' FROM due WHERE s.id = due.id RETURNING s.id, s.platforms
    )
    INSERT INTO social_posts (schedule_id, platform, account_id, status, last_error, next_attempt_at)
    SELECT st.id, p.platform, acc.id,
           CASE WHEN acc.id IS NULL THEN 'failed' ELSE 'pending' END,
           CASE WHEN acc.id IS NULL THEN format('no active %s account with a valid token at posting time', p.platform) END,
           now()
      FROM started st
     CROSS JOIN LATERAL unnest(st.platforms) AS p(platform)
      LEFT JOIN LATERAL (
           SELECT a.id FROM usable_social_accounts() a
            WHERE a.platform = p.platform
            ORDER BY a.created_at DESC LIMIT 1) acc ON true
    ON CONFLICT ON CONSTRAINT social_posts_schedule_platform_key DO NOTHING;

    RETURN QUERY
    WITH ready AS (
        SELECT sp.id FROM social_posts sp
          JOIN campaign_schedules s ON s.id = sp.schedule_id AND s.status = 'posting'
         WHERE sp.status = 'pending' AND coalesce(sp.next_attempt_at, now()) <= now()
         ORDER BY sp.next_attempt_at NULLS FIRST
         LIMIT p_limit
           FOR UPDATE OF sp SKIP LOCKED
    ), claimed AS (
        UPDATE social_posts sp SET status = 'sending', attempts = sp.attempts + 1
          FROM ready WHERE sp.id = ready.id
        RETURNING sp.*
    )
    SELECT c.id, c.schedule_id, s.campaign_id, c.platform, a.id, a.account_id, a.access_token_encrypted,
           s.content || jsonb_build_object('campaign_id', s.campaign_id), c.attempts, c.external_post_ids
      FROM claimed c
      JOIN campaign_schedules s ON s.id = c.schedule_id
      JOIN social_accounts a ON a.id = c.account_id;

    PERFORM _ao_roll_up_schedules();
END;
$$;
COMMENT ON FUNCTION claim_due_posts(integer, interval) IS
    'Claims work for one dispatcher pass with FOR UPDATE SKIP LOCKED (so workers never share a post): turns due schedules into one post per platform, marks up to p_limit due posts sending (attempts + 1) and returns them; a send left in sending longer than p_stale_after becomes unknown, never resent.';

CREATE OR REPLACE FUNCTION record_post_accepted(p_post_id uuid, p_external_id text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE social_posts SET external_post_ids = array_append(external_post_ids, p_external_id)
     WHERE id = p_post_id AND status = 'sending';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'post % is not being sent', p_post_id USING ERRCODE = 'AO409';
    END IF;
END;
$$;
COMMENT ON FUNCTION record_post_accepted(uuid, text) IS
    'Stores a platform''s id the moment the platform accepts a post (a thread stores one per tweet), so a crash right after never leads to posting it again.';

CREATE OR REPLACE FUNCTION finish_post(p_post_id uuid, p_status text, p_error text DEFAULT NULL,
                                           p_retry_at timestamptz DEFAULT NULL, p_token_expired boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_post social_posts%ROWTYPE;
BEGIN
    IF p_status NOT IN ('posted', 'failed', 'unknown', 'pending') THEN
        PERFORM ao_raise_422('status', 'must be one of posted, failed, unknown, pending (a retry)');
    END IF;
    -- The posts of one schedule finish one after the other, so the last one's roll-up sees them all.
    PERFORM 1 FROM campaign_schedules
     WHERE id = (SELECT schedule_id FROM social_posts WHERE id = p_post_id) FOR UPDATE;
    UPDATE social_posts
       SET status = p_status, last_error = p_error,
           next_attempt_at = CASE WHEN p_status = 'pending' THEN p_retry_at END,
           posted_at = CASE WHEN p_status = 'posted' THEN now() END
     WHERE id = p_post_id AND status = 'sending'
    RETURNING * INTO v_post;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'post % is not being sent', p_post_id USING ERRCODE = 'AO409';
    END IF;
    IF p_token_expired THEN
        UPDATE social_accounts SET status = 'expired' WHERE id = v_post.account_id AND status = 'active';
    END IF;
    PERFORM _ao_roll_up_schedules(v_post.schedule_id);
END;
$$;
COMMENT ON FUNCTION finish_post(uuid, text, text, timestamptz, boolean) IS
    'Records how a send ended: posted, failed for good, unknown (a mutating call whose outcome is not known: never retried automatically), or pending again with the time of the next attempt when the platform proved nothing was posted; a token error marks the account expired.';

CREATE OR REPLACE FUNCTION _ao_roll_up_schedules(p_schedule_id uuid DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    -- posting while any post is pending or sending; posted when all posted; failed otherwise
    -- (a post failed for good, or of unknown outcome: each post shows its own result).
    UPDATE campaign_schedules s
       SET status = r.status
      FROM (SELECT sp.schedule_id,
                   CASE WHEN bool_or(sp.status IN ('pending', 'sending')) THEN 'posting'
                        WHEN bool_and(sp.status = 'posted') THEN 'posted'
                        ELSE 'failed' END AS status
              FROM social_posts sp
              JOIN campaign_schedules cs ON cs.id = sp.schedule_id AND cs.status = 'posting'
             WHERE p_schedule_id IS NULL OR sp.schedule_id = p_schedule_id
             GROUP BY sp.schedule_id) r
     WHERE s.id = r.schedule_id AND s.status IS DISTINCT FROM r.status
$$;
COMMENT ON FUNCTION _ao_roll_up_schedules(uuid) IS
    'Derives a posting schedule''s status from its posts: posted when all posted, failed when none is left to send and any did not post.';

CREATE OR REPLACE FUNCTION cancel_campaign_schedule(p_schedule_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM campaign_schedules WHERE id = p_schedule_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no schedule %', p_schedule_id USING ERRCODE = 'AO404';
    END IF;
    IF v_status <> 'pending' THEN
        RAISE EXCEPTION 'the schedule is %; only a pending one can be cancelled', v_status USING ERRCODE = 'AO409';
    END IF;
    UPDATE campaign_schedules SET status = 'cancelled' WHERE id = p_schedule_id;
END;
$$;
COMMENT ON FUNCTION cancel_campaign_schedule(uuid) IS
    'Cancels a schedule while it is still pending (nothing sent yet); anything later is refused with AO409.';
