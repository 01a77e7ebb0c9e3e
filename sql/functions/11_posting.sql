-- 11_posting.sql: scheduling social posts of the campaigns a post rule picked (or an admin asked for):
-- one schedule per campaign for now + post_lead_minutes, to every platform with a usable account, with
-- a snapshot of what is posted and the landing URL tagged per platform with UTM parameters.

CREATE OR REPLACE FUNCTION usable_social_accounts() RETURNS SETOF social_accounts
LANGUAGE sql STABLE AS $$
    SELECT * FROM social_accounts
     WHERE status = 'active' AND (token_expires_at IS NULL OR token_expires_at > now())
$$;
COMMENT ON FUNCTION usable_social_accounts() IS
    'The social accounts a post can go out on now: active, with a token that has not expired. The one definition the plan, the posting, the cycle summary and the dispatcher use.';

CREATE OR REPLACE FUNCTION usable_social_platforms(OUT platforms text[])
LANGUAGE sql STABLE AS $$
    SELECT array_agg(DISTINCT platform ORDER BY platform) FROM usable_social_accounts()
$$;
COMMENT ON FUNCTION usable_social_platforms() IS
    'The platforms with a usable account, in name order; NULL when there is none.';

CREATE OR REPLACE FUNCTION utm_link(p_url text, p_platform text, p_campaign text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_url IS NULL OR p_url = '' THEN NULL ELSE
        split_part(p_url, '#', 1)
        || CASE WHEN split_part(p_url, '#', 1) LIKE '%?%' THEN '&' ELSE '?' END
        || 'utm_source=' || ao_urlencode(p_platform) || '&utm_medium=social&utm_campaign='
        || ao_urlencode(coalesce(p_campaign, '')) || '&utm_content=autonomous_post'
        || CASE WHEN position('#' IN p_url) > 0 THEN '#' || substr(p_url, position('#' IN p_url) + 1) ELSE '' END
    END
$$;
COMMENT ON FUNCTION utm_link(text, text, text) IS
    'The landing URL tagged for one platform (utm_source, utm_medium=social, utm_campaign=external_id, utm_content=autonomous_post), keeping its own query and fragment.';

-- p_decisions: [{campaign_id, rule_id, confidence, reason, expected_impact, previous_state}].
CREATE OR REPLACE FUNCTION _ao_schedule_posts(p_decisions jsonb, p_cycle_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_actions jsonb;
BEGIN
    WITH cfg AS (SELECT * FROM autonomous_settings LIMIT 1),
    platforms AS (SELECT platforms AS list FROM usable_social_platforms()),
    d AS (
        SELECT x.*, c.account_id, gen_random_uuid() AS action_id, gen_random_uuid() AS schedule_id, c.title, c.description,
               c.image_url, c.cta_label, c.landing_url, c.external_id, c.daily_budget, c.status AS campaign_status
          FROM jsonb_to_recordset(p_decisions) AS x(campaign_id uuid, rule_id uuid, confidence numeric,
                                                    reason text, expected_impact jsonb, previous_state jsonb)
          JOIN campaigns c ON c.id = x.campaign_id
         WHERE (SELECT list FROM platforms) IS NOT NULL
    ),
    logged AS (
        INSERT INTO autonomous_actions (id, cycle_id, campaign_id, account_id, rule_id, action_type, reason,
                                        previous_state, new_state, confidence, expected_impact, status, executed_at,
                                        created_by)
        SELECT d.action_id, p_cycle_id, d.campaign_id, d.account_id, d.rule_id, 'post', d.reason,
               coalesce(d.previous_state, jsonb_build_object('status', d.campaign_status, 'daily_budget', d.daily_budget)),
               jsonb_build_object('status', d.campaign_status, 'daily_budget', d.daily_budget,
                                  'schedule_id', d.schedule_id, 'platforms', to_jsonb((SELECT list FROM platforms))),
               coalesce(d.confidence, 1), coalesce(d.expected_impact, '{}'), 'executed', now(), app_auth.actor()
          FROM d
        RETURNING *
    ),
    scheduled AS (
        INSERT INTO campaign_schedules (id, campaign_id, account_id, action_id, scheduled_for, platforms, content)
        SELECT d.schedule_id, d.campaign_id, d.account_id, d.action_id,
               now() + make_interval(mins => (SELECT post_lead_minutes FROM cfg)),
               (SELECT list FROM platforms),
               jsonb_build_object(
                   'title', d.title, 'copy', coalesce(d.description, ''), 'image_url', d.image_url,
                   'cta_label', coalesce(d.cta_label, 'Learn more'), 'landing_url', d.landing_url,
                   'campaign_external_id', d.external_id,
                   'links', (SELECT jsonb_object_agg(p, utm_link(d.landing_url, p, d.external_id))
                               FROM unnest((SELECT list FROM platforms)) p))
          FROM d
        RETURNING id
    )
    -- (Data-modifying CTEs always run: `scheduled` is written even though nothing reads it.)
    SELECT coalesce(jsonb_agg(to_jsonb(logged) - 'actual_impact' - 'account_id'
                              || jsonb_build_object('campaign_title', c.title, 'rule_name', r.name)
                              ORDER BY c.title, logged.campaign_id), '[]')
      INTO v_actions
      FROM logged JOIN campaigns c ON c.id = logged.campaign_id
      LEFT JOIN autonomous_rules r ON r.id = logged.rule_id;
    -- a post due at once (no lead time) wakes the dispatchers at commit
    IF jsonb_array_length(v_actions) > 0 AND (SELECT post_lead_minutes FROM autonomous_settings LIMIT 1) = 0 THEN
        PERFORM pg_notify(ao_channel('posts'), '');
    END IF;
    RETURN v_actions;
END;
$$;
COMMENT ON FUNCTION _ao_schedule_posts(jsonb, uuid) IS
    'Schedules posts (now + post_lead_minutes) to every platform with an active, unexpired account, snapshots the content with UTM links, and logs one post action per schedule; posts due at once wake the dispatchers.';

CREATE OR REPLACE FUNCTION auto_post_campaign_to_social(p_campaign_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_spacing integer;
    v_campaign campaigns%ROWTYPE;
    v_last timestamptz;
    v_actions jsonb;
BEGIN
    SELECT * INTO v_campaign FROM campaigns WHERE id = p_campaign_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no campaign %', p_campaign_id USING ERRCODE = 'AO404';
    END IF;
    -- the campaign's account's spacing, as a cycle's posts have it
    SELECT s.post_spacing_hours INTO v_spacing FROM ao_account_settings() s WHERE s.account_id = v_campaign.account_id;
    IF v_campaign.status <> 'active' THEN
        RAISE EXCEPTION 'campaign is %, only active campaigns are posted', v_campaign.status USING ERRCODE = 'AO409';
    END IF;
    SELECT max(created_at) INTO v_last FROM campaign_schedules WHERE campaign_id = p_campaign_id;
    IF v_last > now() - make_interval(hours => v_spacing) THEN
        RAISE EXCEPTION 'a post was scheduled at %; posts are % h apart', v_last, v_spacing
            USING ERRCODE = 'AO409';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM usable_social_accounts()) THEN
        RAISE EXCEPTION 'no connected social account with a valid token' USING ERRCODE = 'AO409';
    END IF;
    v_actions := _ao_schedule_posts(jsonb_build_array(jsonb_build_object(
        'campaign_id', p_campaign_id, 'confidence', 1,
        'reason', format('Posted on request by %s', app_auth.actor()),
        'expected_impact', jsonb_build_object('sentence', 'Shares the campaign on the connected platforms.'))), NULL);
    RETURN v_actions -> 0;
END;
$$;
COMMENT ON FUNCTION auto_post_campaign_to_social(uuid) IS
    'Schedules one campaign''s post now + post_lead_minutes (manual trigger), refusing (AO409) an inactive campaign, a post within post_spacing_hours (its account''s) of the last, or no valid account. The cycle schedules its post candidates in one set-based call instead.';
