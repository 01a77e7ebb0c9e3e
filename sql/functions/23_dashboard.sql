-- 23_dashboard.sql: what the dashboard shows beyond the lists: a campaign's figures over time, what the
-- automation did for the money day by day, and a rule previewed before it is saved.

-- A period is counted in the bucket it starts in; buckets are the days and hours of the campaign's
-- account, in its time zone (a day in Tokyo starts at 15:00 UTC the day before).
CREATE OR REPLACE FUNCTION campaign_metric_series(p_campaign_id uuid, p_from timestamptz, p_to timestamptz,
                                                  p_bucket text)
RETURNS TABLE (bucket_start timestamptz, impressions bigint, clicks bigint, conversions bigint, spend numeric,
               revenue numeric, roi numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tz text;
BEGIN
    IF p_bucket IS NULL OR p_bucket NOT IN ('day', 'hour') THEN
        PERFORM ao_raise_422('bucket', 'must be day or hour');
    END IF;
    IF p_to <= p_from THEN
        PERFORM ao_raise_422('to', 'must be after from');
    END IF;
    IF p_to - p_from > (CASE p_bucket WHEN 'day' THEN interval '400 days' ELSE interval '31 days' END) THEN
        PERFORM ao_raise_422('to', CASE p_bucket WHEN 'day' THEN 'at most 400 days after from by day'
                                                 ELSE 'at most 31 days after from by hour' END);
    END IF;
    SELECT a.timezone INTO v_tz FROM campaigns c JOIN ad_accounts a ON a.id = c.account_id WHERE c.id = p_campaign_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no campaign %', p_campaign_id USING ERRCODE = 'AO404';
    END IF;
    RETURN QUERY
    WITH buckets AS (  -- local days stepped as local dates (a day across a DST change is 23 or 25 hours)
        SELECT CASE p_bucket WHEN 'day' THEN d::timestamp AT TIME ZONE v_tz END AS b
          FROM generate_series((p_from AT TIME ZONE v_tz)::date, ((p_to - interval '1 microsecond') AT TIME ZONE v_tz)::date,
                               interval '1 day') d
         WHERE p_bucket = 'day'
        UNION ALL
        SELECT h FROM generate_series(date_trunc('hour', p_from, v_tz), date_trunc('hour', p_to - interval '1 microsecond', v_tz),
                                      interval '1 hour') h
         WHERE p_bucket = 'hour'
    ), sums AS (
        SELECT date_trunc(p_bucket, m.period_start, v_tz) AS b, sum(m.impressions) AS impressions,
               sum(m.clicks) AS clicks, sum(m.conversions) AS conversions, sum(m.spend) AS spend,
               sum(m.revenue) AS revenue
          FROM campaign_metrics m
         WHERE m.campaign_id = p_campaign_id AND m.period_start >= p_from AND m.period_start < p_to
         GROUP BY 1
    )
    SELECT k.b, coalesce(s.impressions, 0)::bigint, coalesce(s.clicks, 0)::bigint, coalesce(s.conversions, 0)::bigint,
           coalesce(s.spend, 0), coalesce(s.revenue, 0), round(s.revenue / NULLIF(s.spend, 0), 4)
      FROM buckets k LEFT JOIN sums s ON s.b = k.b
     ORDER BY k.b;
END;
$$;
COMMENT ON FUNCTION campaign_metric_series(uuid, timestamptz, timestamptz, text) IS
    'A campaign''s impressions, clicks, conversions, spend, revenue and ROI per day or hour of its account''s time zone between two moments (a point per bucket, zeros where nothing ran; at most 400 days by day, 31 by hour).';

-- In effect on a day: executed then or before, and not rolled back by then. Each action falls on the
-- day of its own account's time zone; money is summed within a currency only, never across.
CREATE OR REPLACE FUNCTION autonomous_daily(p_days integer, p_account_id uuid DEFAULT NULL) RETURNS TABLE (
    currency text, day date, paused integer, scaled integer, posted integer, optimized integer,
    expected_saved numeric, expected_added numeric, measured_saved numeric, measured_added numeric)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_days IS NULL OR p_days < 1 OR p_days > 366 THEN
        PERFORM ao_raise_422('days', 'must be from 1 to 366');
    END IF;
    IF p_account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ad_accounts WHERE id = p_account_id) THEN
        RAISE EXCEPTION 'no ad account %', p_account_id USING ERRCODE = 'AO404';
    END IF;
    RETURN QUERY
    WITH accounts AS (  -- the accounts with campaigns (or the one asked for), each with its today
        SELECT a.id, a.currency, a.timezone, ao_account_today(a.timezone) AS today
          FROM ad_accounts a
         WHERE CASE WHEN p_account_id IS NULL THEN EXISTS (SELECT 1 FROM campaigns c WHERE c.account_id = a.id)
                    ELSE a.id = p_account_id END
    ), days AS (
        SELECT g.currency, d::date AS d
          FROM (SELECT x.currency, max(x.today) AS last_day FROM accounts x GROUP BY x.currency) g
         CROSS JOIN LATERAL generate_series(g.last_day - (p_days - 1), g.last_day, interval '1 day') d
    ), acts AS (
        SELECT ac.currency, a.action_type, (a.created_at AT TIME ZONE ac.timezone)::date AS on_day,
               (a.rolled_back_at AT TIME ZONE ac.timezone)::date AS off_day,
               CASE a.action_type
                   WHEN 'pause' THEN (a.expected_impact ->> 'daily_loss_avoided')::numeric
                   WHEN 'scale' THEN (a.expected_impact ->> 'added_daily_revenue')::numeric
                                     - (a.expected_impact ->> 'added_daily_budget')::numeric END AS expected,
               (a.actual_impact ->> 'profit_per_day_change')::numeric AS measured
          FROM autonomous_actions a
          JOIN campaigns c ON c.id = a.campaign_id
          JOIN accounts ac ON ac.id = c.account_id
         WHERE a.status IN ('executed', 'rolled_back') AND a.executed_at IS NOT NULL
    )
    SELECT k.currency, k.d,
           count(*) FILTER (WHERE x.on_day = k.d AND x.action_type = 'pause')::int,
           count(*) FILTER (WHERE x.on_day = k.d AND x.action_type = 'scale')::int,
           count(*) FILTER (WHERE x.on_day = k.d AND x.action_type = 'post')::int,
           count(*) FILTER (WHERE x.on_day = k.d AND x.action_type = 'optimize')::int,
           round(coalesce(sum(x.expected) FILTER (WHERE x.action_type = 'pause' AND x.in_effect), 0), 2),
           round(coalesce(sum(x.expected) FILTER (WHERE x.action_type = 'scale' AND x.in_effect), 0), 2),
           round(coalesce(sum(x.measured) FILTER (WHERE x.action_type = 'pause' AND x.in_effect), 0), 2),
           round(coalesce(sum(x.measured) FILTER (WHERE x.action_type = 'scale' AND x.in_effect), 0), 2)
      FROM days k
      LEFT JOIN LATERAL (SELECT a.*, a.on_day <= k.d AND (a.off_day IS NULL OR a.off_day > k.d) AS in_effect
                           FROM acts a WHERE a.currency = k.currency AND a.on_day <= k.d) x ON true
     GROUP BY k.currency, k.d
     ORDER BY k.currency, k.d;
END;
$$;
COMMENT ON FUNCTION autonomous_daily(integer, uuid) IS
    'Per currency (or for one account) and per day over the last p_days (1–366) of the accounts'' own time zones: pauses, scales, posts and optimizations taken, and the money per day of the pauses and scales in effect: expected (loss avoided; added revenue less added budget) and measured (actual change in profit per day), never added across currencies.';

-- The rule is written (and checked, as any rule is) in a subtransaction that plans a cycle and is then
-- undone.
CREATE OR REPLACE FUNCTION preview_rule(p_rule jsonb) RETURNS jsonb
LANGUAGE plpgsql
-- as a cycle, without JIT: a compilation cannot be interrupted, and the API gives a preview a time limit
SET jit = off AS $$
DECLARE
    v_result jsonb;
BEGIN
    IF jsonb_typeof(p_rule) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422('rule', 'must be a rule body');
    END IF;
    BEGIN
        UPDATE autonomous_rules SET is_active = false WHERE is_active;
        INSERT INTO autonomous_rules
        SELECT r.* FROM _ao_rule_from_body(p_rule,
                            left(coalesce(nullif(btrim(p_rule ->> 'name'), ''), 'This rule'), 188) || ' (preview)',
                            app_auth.actor()) r;
        PERFORM _ao_plan_afresh();
        SELECT jsonb_build_object(
                   'evaluated', (SELECT count(*) FROM _ao_stats),
                   'rule_errors', (SELECT coalesce(jsonb_agg(e.error), '[]') FROM _ao_rule_errors e),
                   'items', coalesce(jsonb_agg(jsonb_build_object(
                       'campaign_id', p.campaign_id, 'campaign_title', p.title, 'action_type', p.action_type,
                       'confidence', p.confidence, 'roi', round(p.roi, 4), 'spend', p.spend_lifetime,
                       'daily_budget', p.daily_budget, 'new_budget', p.new_budget, 'reason', p.reason,
                       'held_code', p.held_code, 'held_reason', p.held_reason,
                       'blocked_code', p.held_code, 'blocked_reason', p.held_reason,
                       'expected_impact', p.expected_impact)
                   ORDER BY p.held_code IS NOT NULL, p.confidence DESC, p.spend_lifetime DESC), '[]'))
          INTO v_result
          FROM _ao_plan p;
        RAISE EXCEPTION 'preview' USING ERRCODE = 'AODRY';
    EXCEPTION WHEN SQLSTATE 'AODRY' THEN
        NULL;
    END;
    RETURN v_result;
END;
$$;
COMMENT ON FUNCTION preview_rule(jsonb) IS
    'A scoped dry run of one rule body: which active campaigns it would act on now as the only active rule, with confidence, reason and expected impact, and which a guardrail would hold back (and why); the rule is checked as any rule is (AO422 naming the field) and nothing is kept.';
