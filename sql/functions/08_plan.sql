-- 08_plan.sql: what a cycle decides, campaign by campaign: which rule acts on it and which guardrail
-- holds it back. Read top-down:
--   1. _ao_evaluate_rules: every active rule, as one set-based query over the window sums, each in its
--      own subtransaction (a rule that fails is skipped and reported), into _ao_matches;
--   2. _ao_choose_decisions: per campaign, the highest-priority rule it matches with enough confidence
--      (pause and scale exclusive, posts apart), with the figures the guardrails need;
--   3. _ao_guard_decisions: the guardrails, each refusal a code (blocked_code);
--   4. _ao_build_plan: the plan (_ao_plan): reason, states and expected impact of what will be done,
--      and the words of what is held back.

-- Fills _ao_matches with every (campaign, rule) pair whose conditions hold, and _ao_rule_errors with
-- the rules that raised. Each rule runs in its own subtransaction: a rule that fails at run time (a
-- row written around the validation, an unforeseen error) is skipped and reported, and the others act.
-- p_trigger_only: only the rules evaluated as soon as metrics arrive (evaluation_type trigger).
CREATE OR REPLACE FUNCTION _ao_evaluate_rules(p_rule_types text[] DEFAULT NULL, p_trigger_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
-- work tables are analyzed on a 3,000-row sample: joins need counts, not fine histograms
SET default_statistics_target = 10 AS $$
DECLARE
    r autonomous_rules%ROWTYPE;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NULL THEN
        PERFORM _ao_prepare_stats();
    END IF;
    PERFORM _ao_drop_work_table('_ao_matches');
    PERFORM _ao_drop_work_table('_ao_rule_errors');
    CREATE TEMP TABLE _ao_matches (
        campaign_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer, action jsonb,
        min_confidence numeric, cooldown_hours integer, confidence numeric) ON COMMIT DROP;
    CREATE TEMP TABLE _ao_rule_errors (rule_id uuid, name text, error text) ON COMMIT DROP;

    -- The live rules, or a backtest's (the relation from ao_state_table's whitelist).
    FOR r IN EXECUTE format('SELECT * FROM %I r
                              WHERE r.is_active AND ($1 IS NULL OR r.rule_type = ANY ($1))
                                AND (NOT $2 OR r.evaluation_type = ''trigger'')
                              ORDER BY r.priority DESC, r.name', ao_state_table('rules'))
             USING p_rule_types, p_trigger_only LOOP
        BEGIN
            PERFORM validate_rule_action(r.rule_type, r.action);
            PERFORM describe_rule_conditions(r.conditions);
            EXECUTE format(
                'INSERT INTO _ao_matches
                 SELECT s.campaign_id, $1, $2, $3, $4, $5, $6, $7, round(least(greatest((%s)::numeric, 0), 1), 4)
                   FROM _ao_stats s WHERE %s',
                compile_rule_confidence(r.conditions), compile_rule_conditions(r.conditions))
            USING r.id, r.name, r.rule_type, r.priority, r.action, r.min_confidence, r.cooldown_hours;
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO _ao_rule_errors VALUES (r.id, r.name, SQLERRM);
            RAISE WARNING 'rule "%" (%) skipped in this evaluation: %', r.name, r.id, SQLERRM;
        END;
    END LOOP;
    ANALYZE _ao_matches (campaign_id, rule_type);
    ANALYZE _ao_rule_errors;
END;
$$;
COMMENT ON FUNCTION _ao_evaluate_rules(text[], boolean) IS
    'Evaluates each active rule (of the given types, or all) as one set-based query over the cycle''s stats, each in its own subtransaction: matches go to _ao_matches, a rule that raises is skipped and recorded in _ao_rule_errors, so one broken rule cannot stop the others.';

CREATE OR REPLACE FUNCTION evaluate_autonomous_rules(p_rule_types text[] DEFAULT NULL)
RETURNS TABLE (campaign_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer,
               action jsonb, min_confidence numeric, cooldown_hours integer, confidence numeric)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_evaluate_rules(p_rule_types);
    RETURN QUERY SELECT * FROM _ao_matches;
END;
$$;
COMMENT ON FUNCTION evaluate_autonomous_rules(text[]) IS
    'Which active campaigns each active rule (of the given types, or all) matches, and with what confidence; a rule that fails is skipped (see _ao_rule_errors).';

-- Step 2: the decision per campaign, with the figures the guardrails and the documents need.
CREATE OR REPLACE FUNCTION _ao_choose_decisions() RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_decisions');
    CREATE TEMP TABLE _ao_decisions ON COMMIT DROP AS
    WITH cfg AS (SELECT * FROM ao_settings()),
    matches AS (
        SELECT m.*, CASE m.rule_type WHEN 'scale' THEN greatest(m.min_confidence, cfg.min_scale_confidence)
                                     ELSE m.min_confidence END AS confidence_floor
          FROM _ao_matches m CROSS JOIN cfg
    ),
    chosen AS (
        SELECT DISTINCT ON (m.campaign_id, m.rule_type = 'post') m.*,
               least((m.action ->> 'factor')::numeric, cfg.max_scale_factor) AS factor
          FROM matches m CROSS JOIN cfg
         ORDER BY m.campaign_id, m.rule_type = 'post', m.confidence >= m.confidence_floor DESC,
                  m.priority DESC, m.rule_name
    )
    SELECT c.*, c.rule_type AS action_type, s.title, s.external_id, s.daily_budget, s.max_budget,
           s.hours_running, s.spend_lifetime, s.revenue_lifetime, s.conversions_lifetime, s.clicks_lifetime,
           s.impressions_lifetime,
           s.revenue_lifetime / NULLIF(s.spend_lifetime, 0) AS roi,
           s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0) AS ctr,
           -- recent daily spend: the last 7 days' spend over the days actually run in them
           coalesce(NULLIF(s.spend_last_7d, 0) / greatest(least(s.hours_running / 24.0, 7), 1),
                    s.daily_budget) AS daily_spend,
           CASE WHEN c.rule_type = 'scale'
                THEN round(least(s.daily_budget * c.factor, coalesce(s.max_budget, s.daily_budget * c.factor)), 2)
           END AS new_budget,
           CASE WHEN c.rule_type = 'post' THEN (SELECT platforms FROM usable_social_platforms()) END AS platforms,
           cfg.min_spend, cfg.rollback_quiet_hours, cfg.post_spacing_hours
      FROM chosen c
      JOIN _ao_stats s ON s.campaign_id = c.campaign_id
     CROSS JOIN cfg;
    ANALYZE _ao_decisions (campaign_id, action_type);
END;
$$;
COMMENT ON FUNCTION _ao_choose_decisions() IS
    'Per campaign, the highest-priority matching rule with enough confidence (pause and scale exclusive, posts apart; ties by name), with its figures: ROI, CTR, recent daily spend, the factor capped at settings.max_scale_factor and the new budget capped at max_budget, the platforms a post would go to.';

-- Step 3: each guardrail that holds a decision back, as a code (the first that applies). What the
-- guardrails look up (the last action of a type, a recent rollback, the last schedule) is read once for
-- all decisions, only as far back as a guardrail can look, never once per decision.
CREATE OR REPLACE FUNCTION _ao_guard_decisions() RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_guarded');
    -- The actions looked up are the live audit trail, or in a backtest the replay's own (the relation
    -- from ao_state_table's whitelist); a backtest schedules no posts and rolls nothing back.
    EXECUTE format($q$
    CREATE TEMP TABLE _ao_guarded ON COMMIT DROP AS
    WITH cfg AS (SELECT * FROM ao_settings()),
    last_same AS (
        SELECT DISTINCT ON (a.campaign_id, a.action_type) a.campaign_id, a.action_type, a.created_at
          FROM %1$I a
         WHERE (a.campaign_id, a.action_type) IN (SELECT d.campaign_id, d.action_type FROM _ao_decisions d)
           AND a.status IN ('executed', 'rolled_back', 'pending')
           AND a.created_at > %2$L::timestamptz - make_interval(hours => (SELECT max(d.cooldown_hours) FROM _ao_decisions d))
         ORDER BY a.campaign_id, a.action_type, a.created_at DESC
    ),
    quiet AS (
        SELECT a.campaign_id, a.action_type, max(a.rolled_back_at) AS rolled_back_at
          FROM %1$I a CROSS JOIN cfg
         WHERE a.status = 'rolled_back' AND a.rolled_back_at > %2$L::timestamptz - make_interval(hours => cfg.rollback_quiet_hours)
         GROUP BY a.campaign_id, a.action_type
    ),
    last_schedule AS (
        SELECT cs.campaign_id, max(cs.created_at) AS created_at
          FROM campaign_schedules cs CROSS JOIN cfg
         WHERE cs.created_at > %2$L::timestamptz - make_interval(hours => cfg.post_spacing_hours) AND NOT %3$L
         GROUP BY cs.campaign_id
    )
    SELECT d.*, NULL::numeric AS limited_from, last_same.created_at AS last_same_at, quiet.rolled_back_at AS quiet_since,
           last_schedule.created_at AS last_schedule_at,
           CASE
               WHEN d.confidence < d.confidence_floor THEN 'below_confidence'
               WHEN d.action_type = 'pause' AND d.spend_lifetime < d.min_spend THEN 'below_min_spend'
               WHEN d.action_type = 'scale' AND d.max_budget IS NOT NULL AND d.daily_budget >= d.max_budget THEN 'capped'
               WHEN d.action_type = 'scale' AND d.new_budget <= d.daily_budget THEN 'no_budget_to_scale'
               WHEN quiet.rolled_back_at IS NOT NULL THEN 'rollback_quiet'
               WHEN last_same.created_at > %2$L::timestamptz - make_interval(hours => d.cooldown_hours) THEN 'cooldown'
               WHEN d.action_type = 'post'
                    AND last_schedule.created_at > %2$L::timestamptz - make_interval(hours => d.post_spacing_hours) THEN 'post_spacing'
               WHEN d.action_type = 'post' AND d.platforms IS NULL THEN 'no_account'
           END AS blocked_code
      FROM _ao_decisions d
      LEFT JOIN last_same ON last_same.campaign_id = d.campaign_id AND last_same.action_type = d.action_type
      LEFT JOIN quiet ON quiet.campaign_id = d.campaign_id AND quiet.action_type = d.action_type
      LEFT JOIN last_schedule ON d.action_type = 'post' AND last_schedule.campaign_id = d.campaign_id
    $q$, ao_state_table('actions'), ao_now(), ao_replaying());
    ANALYZE _ao_guarded (campaign_id, action_type, blocked_code);
END;
$$;
COMMENT ON FUNCTION _ao_guard_decisions() IS
    'The guardrails that hold whatever a rule says, first that applies: confidence below the floor, spend below min_spend, already at max_budget (capped), no budget to scale, a person''s rollback (quiet period), the rule''s cooldown, post spacing, no usable social account. Each refusal is a blocked_code.';

-- Step 3b: the blast-radius limits, over all the decisions at once (README, "What it will never do on
-- its own"), after the per-campaign guardrails:
--   * the data-outage breaker: the portfolio's revenue or conversions of the last 24 h below
--     breaker_revenue_ratio of the daily average of the 7 days before, while spend held at least
--     breaker_spend_ratio of its own: a broken feed, not bad campaigns; no pause or scale at all
--     (data_outage), unless a person released the hold (ao.breaker_released); it needs a portfolio (at
--     least 3 campaigns that earned in the 7 days before) to tell a broken feed from a failing campaign;
--   * the mass-pause limit: pauses worst first (lowest ROI, then largest loss) up to
--     max_pause_spend_share of the active portfolio's spend of the last 24 h (the worst one always),
--     the rest pause_limit;
--   * the budget growth limits: the sum of active daily budgets may rise by max_daily_budget_increase_pct
--     per rolling 24 h through scales and never above max_total_daily_budget; scales granted by expected
--     added profit per dollar (ROI − 1), then confidence, the last one partially, the rest budget_limit.
-- The figures go to _ao_limits for the summary. They are the portfolio's whatever the scope (a scoped
-- evaluation's stats hold only the campaigns it evaluates), read from the metrics of the last 8 days.
CREATE OR REPLACE FUNCTION _ao_apply_limits() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cfg autonomous_settings;
    v_now timestamptz := ao_now();
    p record;              -- the portfolio's figures
    v_tripped boolean;
    v_rise numeric;
    v_allowed numeric;
BEGIN
    SELECT * INTO cfg FROM ao_settings();
    -- The portfolio's figures, read apart from the cycle's one pass over the metrics (an index range
    -- over the last 8 days): the breaker's, over every campaign's rows (the feed, whatever the status);
    -- the 24 h spend of the active campaigns, which the pause share is a share of (a sum: only the
    -- pauses need their own, below); the active daily budgets the growth limits start from. A work table,
    -- not SELECT INTO, so that the reads can use parallel workers.
    PERFORM _ao_drop_work_table('_ao_portfolio');
    EXECUTE format($q$
        CREATE TEMP TABLE _ao_portfolio ON COMMIT DROP AS
        SELECT f.*, a.spend_24h, b.budget_now
          FROM (SELECT coalesce(sum(m.spend) FILTER (WHERE m.period_end > $1 - interval '24 hours'), 0) AS spend_24h_all,
                       coalesce(sum(m.revenue) FILTER (WHERE m.period_end > $1 - interval '24 hours'), 0) AS revenue_24h,
                       coalesce(sum(m.conversions) FILTER (WHERE m.period_end > $1 - interval '24 hours'), 0) AS conversions_24h,
                       coalesce(sum(m.spend), 0) AS spend_8d, coalesce(sum(m.revenue), 0) AS revenue_8d,
                       coalesce(sum(m.conversions), 0) AS conversions_8d,
                       (SELECT count(*) FROM (SELECT DISTINCT e.campaign_id FROM campaign_metrics e
                                               WHERE e.period_end > $1 - interval '8 days'
                                                 AND e.period_end <= $1 - interval '24 hours'
                                                 AND (e.revenue > 0 OR e.conversions > 0) LIMIT 3) x) AS earning
                  FROM campaign_metrics m
                 WHERE m.period_end > $1 - interval '8 days' AND m.period_end <= $1) f,
               (SELECT coalesce(sum(m.spend), 0) AS spend_24h
                  FROM campaign_metrics m JOIN %1$I c ON c.id = m.campaign_id AND c.status = 'active'
                 WHERE m.period_end > $1 - interval '24 hours' AND m.period_end <= $1) a,
               (SELECT coalesce(sum(daily_budget), 0) AS budget_now FROM %1$I WHERE status = 'active') b$q$,
        -- the statuses and budgets as written: in a backtest, without the lifetime totals the replay's
        -- campaigns-as-read add to every campaign
        ao_state_table('campaign states'))
      USING v_now;
    ANALYZE _ao_portfolio;
    SELECT * INTO p FROM _ao_portfolio;

    -- the breaker: each figure of the last 24 h against the daily average of the 7 days before
    -- (a portfolio: at least 3 campaigns earned in the 7 days before; with fewer, a campaign's own
    -- collapse cannot be told from a broken feed, and the rules must be free to act on it)
    v_tripped := coalesce(current_setting('ao.breaker_released', true), '') <> 'on'
        AND p.earning >= 3
        AND (p.spend_8d - p.spend_24h_all) > 0
        AND p.spend_24h_all >= cfg.breaker_spend_ratio * (p.spend_8d - p.spend_24h_all) / 7
        AND (((p.revenue_8d - p.revenue_24h) > 0
              AND p.revenue_24h < cfg.breaker_revenue_ratio * (p.revenue_8d - p.revenue_24h) / 7)
          OR ((p.conversions_8d - p.conversions_24h) > 0
              AND p.conversions_24h < cfg.breaker_revenue_ratio * (p.conversions_8d - p.conversions_24h) / 7));
    IF v_tripped THEN
        UPDATE _ao_guarded SET blocked_code = 'data_outage'
         WHERE blocked_code IS NULL AND action_type IN ('pause', 'scale');
    END IF;

    -- the mass-pause limit: the campaigns' spend of the last 24 h, worst first, up to the share; the
    -- worst one is always paused (an account can always stop its worst loser: the limit is against
    -- mass action, and a small account's one campaign is most of its spend)
    WITH pauses AS (
        SELECT g.campaign_id, g.roi, g.spend_lifetime, g.revenue_lifetime
          FROM _ao_guarded g
         WHERE g.action_type = 'pause' AND g.blocked_code IS NULL
    ), spend AS (  -- the 24 h spend of the campaigns to pause, not of the whole portfolio
        SELECT m.campaign_id, sum(m.spend) AS spend
          FROM campaign_metrics m
         WHERE m.campaign_id IN (SELECT campaign_id FROM pauses)
           AND m.period_end > v_now - interval '24 hours' AND m.period_end <= v_now
         GROUP BY m.campaign_id
    ), ranked AS (
        SELECT g.campaign_id,
               row_number() OVER w AS rank, sum(coalesce(s.spend, 0)) OVER w AS running
          FROM pauses g LEFT JOIN spend s ON s.campaign_id = g.campaign_id
        WINDOW w AS (ORDER BY g.roi NULLS FIRST, g.spend_lifetime - coalesce(g.revenue_lifetime, 0) DESC, g.campaign_id)
    )
    UPDATE _ao_guarded g SET blocked_code = 'pause_limit'
      FROM ranked r
     WHERE g.campaign_id = r.campaign_id AND g.action_type = 'pause' AND r.rank > 1
       AND r.running > cfg.max_pause_spend_share * p.spend_24h;

    -- the budget growth limits: what the scales of the last 24 h already added counts
    EXECUTE format($q$
        SELECT coalesce(sum((a.new_state ->> 'daily_budget')::numeric - (a.previous_state ->> 'daily_budget')::numeric), 0)
          FROM %I a
         WHERE a.action_type = 'scale' AND a.status = 'executed' AND a.created_at > $1 - interval '24 hours'
           AND a.created_at <= $1$q$, ao_state_table('actions'))
      INTO v_rise USING v_now;
    v_allowed := greatest(least((p.budget_now - v_rise) * cfg.max_daily_budget_increase_pct / 100 - v_rise,
                                coalesce(cfg.max_total_daily_budget - p.budget_now, 'Infinity'::numeric)), 0);
    WITH ranked AS (
        SELECT g.campaign_id, g.daily_budget, g.new_budget,
               coalesce(sum(g.new_budget - g.daily_budget) OVER (
                   ORDER BY coalesce(g.roi, 0) - 1 DESC, g.confidence DESC, g.campaign_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM _ao_guarded g
         WHERE g.action_type = 'scale' AND g.blocked_code IS NULL
    ), decided AS (
        SELECT r.campaign_id, r.new_budget,
               CASE WHEN r.before + (r.new_budget - r.daily_budget) <= v_allowed THEN r.new_budget
                    WHEN floor((v_allowed - r.before) * 100) / 100 >= 0.01
                         THEN r.daily_budget + floor((v_allowed - r.before) * 100) / 100
               END AS granted
          FROM ranked r
    )
    UPDATE _ao_guarded g
       SET blocked_code = CASE WHEN d.granted IS NULL THEN 'budget_limit' END,
           limited_from = CASE WHEN d.granted IS NOT NULL THEN g.new_budget END,
           new_budget = coalesce(d.granted, g.new_budget)
      FROM decided d
     WHERE g.campaign_id = d.campaign_id AND g.action_type = 'scale'
       AND (d.granted IS NULL OR d.granted < d.new_budget);

    PERFORM _ao_drop_work_table('_ao_limits');
    CREATE TEMP TABLE _ao_limits ON COMMIT DROP AS
    SELECT v_tripped AS held,
           round(p.revenue_24h / NULLIF((p.revenue_8d - p.revenue_24h) / 7, 0), 4) AS revenue_ratio,
           round(p.conversions_24h / NULLIF((p.conversions_8d - p.conversions_24h) / 7, 0), 4) AS conversions_ratio,
           round(p.spend_24h_all / NULLIF((p.spend_8d - p.spend_24h_all) / 7, 0), 4) AS spend_ratio,
           coalesce(current_setting('ao.breaker_released', true), '') = 'on' AS released,
           round(p.spend_24h, 2) AS portfolio_spend_24h,
           round(cfg.max_pause_spend_share * p.spend_24h, 2) AS pause_spend_cap,
           n.pauses_held, round(p.budget_now, 2) AS daily_budget_total, round(v_rise, 2) AS budget_added_24h,
           round(v_allowed, 2) AS budget_increase_allowed, n.scales_held, n.scales_partial
      FROM (SELECT count(*) FILTER (WHERE blocked_code = 'pause_limit') AS pauses_held,
                   count(*) FILTER (WHERE blocked_code = 'budget_limit') AS scales_held,
                   count(*) FILTER (WHERE limited_from IS NOT NULL) AS scales_partial
              FROM _ao_guarded) n;
    ANALYZE _ao_limits;
END;
$$;
COMMENT ON FUNCTION _ao_apply_limits() IS
    'The blast-radius limits over all of a plan''s decisions: the data-outage breaker (a broken revenue or conversion feed holds every pause and scale: data_outage), the mass-pause limit (worst first up to max_pause_spend_share of the portfolio''s 24 h spend: pause_limit), the budget growth limits (max_daily_budget_increase_pct per rolling 24 h, max_total_daily_budget; by expected added profit per dollar, the last partially: budget_limit); figures in _ao_limits.';

-- Why a decision is held back, in words (from its code and figures).
CREATE OR REPLACE FUNCTION _ao_blocked_reason(g anyelement) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE g.blocked_code
        WHEN 'below_confidence' THEN
            format('confidence %s below the floor %s', round(g.confidence, 2), round(g.confidence_floor, 2))
        WHEN 'below_min_spend' THEN
            format('spend %s below the minimum %s', ao_money(g.spend_lifetime), ao_money(g.min_spend))
        WHEN 'capped' THEN format('capped: daily budget already at max_budget %s', ao_money(g.max_budget))
        WHEN 'no_budget_to_scale' THEN 'no budget to scale'
        WHEN 'rollback_quiet' THEN
            format('a person rolled back a %s at %s; quiet for %s h after a rollback', g.action_type,
                   to_char(g.quiet_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), g.rollback_quiet_hours)
        WHEN 'cooldown' THEN
            format('cooldown: last %s %s ago, rule cooldown %s h', g.action_type,
                   ao_duration(ao_now() - g.last_same_at), g.cooldown_hours)
        WHEN 'post_spacing' THEN
            format('a post was scheduled %s ago; posts are %s h apart', ao_duration(ao_now() - g.last_schedule_at),
                   g.post_spacing_hours)
        WHEN 'no_account' THEN 'no connected social account with a valid token'
        WHEN 'paused_in_cycle' THEN 'paused in this cycle'
        WHEN 'data_outage' THEN 'held: the portfolio''s revenue or conversions fell far below their recent average while '
                                || 'spend did not (a broken feed?); a person can release the cycle'
        WHEN 'pause_limit' THEN 'held: this cycle''s pauses already reach max_pause_spend_share of the portfolio''s spend'
        WHEN 'budget_limit' THEN 'held: the daily budget growth limit (max_daily_budget_increase_pct per 24 h, '
                                 || 'max_total_daily_budget) is reached'
    END
$$;
COMMENT ON FUNCTION _ao_blocked_reason(anyelement) IS
    'The words a held-back decision shows (held_back, the analytics lists) for its blocked_code.';

-- What a decision will do, in words, with the numbers behind it.
CREATE OR REPLACE FUNCTION _ao_action_reason(g anyelement, p_words text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE g.action_type
        WHEN 'pause' THEN format('ROI %s× on %s spend (%s: %s)', round(coalesce(g.roi, 0), 2),
                                 ao_money(g.spend_lifetime), g.rule_name, p_words)
        WHEN 'scale' THEN format('ROI %s× over %s conversions (%s: %s)', round(coalesce(g.roi, 0), 2),
                                 g.conversions_lifetime, g.rule_name, p_words)
        ELSE format('CTR %s%% with %s conversions (%s: %s)', round(coalesce(g.ctr, 0) * 100, 2),
                    g.conversions_lifetime, g.rule_name, p_words)
    END
$$;
COMMENT ON FUNCTION _ao_action_reason(anyelement, text) IS
    'The reason an action records: the numbers that made the rule match and the rule in words ("ROI 0.20× on $200.00 spend (Critical ROI Pause: roi < 0.5 and spend ≥ 50)").';

-- The campaign's state after the action.
CREATE OR REPLACE FUNCTION _ao_new_state(g anyelement) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE g.action_type
        WHEN 'pause' THEN jsonb_build_object('status', 'paused', 'daily_budget', g.daily_budget)
        WHEN 'scale' THEN jsonb_build_object('status', 'active', 'daily_budget', g.new_budget, 'factor', g.factor)
        ELSE jsonb_build_object('status', 'active', 'daily_budget', g.daily_budget, 'platforms', to_jsonb(g.platforms))
    END
$$;
COMMENT ON FUNCTION _ao_new_state(anyelement) IS
    'The campaign''s status and budget after a planned action (a post also names its platforms).';

-- The money an action is expected to make or save (README, "How it decides").
CREATE OR REPLACE FUNCTION _ao_expected_impact(g anyelement) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE g.action_type
        WHEN 'pause' THEN jsonb_build_object(
            'daily_spend', round(g.daily_spend, 2), 'roi', round(coalesce(g.roi, 0), 4),
            'daily_loss_avoided', round(g.daily_spend * (1 - coalesce(g.roi, 0)), 2),
            'sentence', format('Avoids about %s of losses a day (spends %s a day at ROI %s×).',
                               ao_money(g.daily_spend * (1 - coalesce(g.roi, 0))), ao_money(g.daily_spend),
                               round(coalesce(g.roi, 0), 2)))
        WHEN 'scale' THEN jsonb_build_object(
            'added_daily_budget', g.new_budget - g.daily_budget, 'roi', round(coalesce(g.roi, 0), 4),
            'added_daily_revenue', round((g.new_budget - g.daily_budget) * coalesce(g.roi, 0), 2),
            'sentence', format('Adds about %s of revenue a day (%s more budget at ROI %s×).',
                               ao_money((g.new_budget - g.daily_budget) * coalesce(g.roi, 0)),
                               ao_money(g.new_budget - g.daily_budget), round(coalesce(g.roi, 0), 2)))
        ELSE jsonb_build_object(
            'ctr', round(coalesce(g.ctr, 0), 6), 'platforms', to_jsonb(g.platforms),
            'sentence', format('Shares a campaign with a %s%% CTR on %s.', round(coalesce(g.ctr, 0) * 100, 2),
                               coalesce(array_to_string(g.platforms, ', '), 'no platform')))
    END
$$;
COMMENT ON FUNCTION _ao_expected_impact(anyelement) IS
    'The expected impact an action records: for a pause the daily loss avoided = daily spend × (1 − ROI); for a scale the added daily revenue = (new − old budget) × ROI; for a post the CTR and platforms; each with a sentence.';

-- Step 4 (and the whole plan): the decisions a cycle would take now, and what holds each back.
CREATE OR REPLACE FUNCTION _ao_build_plan(p_trigger_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_plan');
    -- Post rules only when a post could go out: no usable account, nothing to plan. A backtest replays
    -- pauses and scales only.
    PERFORM _ao_evaluate_rules(
        CASE WHEN ao_replaying() OR (SELECT platforms FROM usable_social_platforms()) IS NULL
             THEN ARRAY['pause', 'scale'] END,
        p_trigger_only);
    PERFORM _ao_choose_decisions();
    PERFORM _ao_guard_decisions();
    PERFORM _ao_apply_limits();
    -- A campaign paused in this cycle is not posted.
    UPDATE _ao_guarded g SET blocked_code = 'paused_in_cycle'
     WHERE g.action_type = 'post' AND g.blocked_code IS NULL
       AND EXISTS (SELECT 1 FROM _ao_guarded q WHERE q.campaign_id = g.campaign_id AND q.action_type = 'pause'
                                                 AND q.blocked_code IS NULL);
    -- Reasons, states and expected impact only for what will be done (a held-back decision shows its
    -- blocked_reason); each action gets its id now, so the summary needs no read-back.
    PERFORM _ao_drop_work_table('_ao_rule_words');
    EXECUTE format('CREATE TEMP TABLE _ao_rule_words ON COMMIT DROP AS
                    SELECT id, describe_rule_conditions(conditions) AS words FROM %I
                     WHERE id IN (SELECT DISTINCT g.rule_id FROM _ao_guarded g)', ao_state_table('rules'));
    ANALYZE _ao_rule_words;
    CREATE TEMP TABLE _ao_plan ON COMMIT DROP AS
    WITH rule_words AS (SELECT * FROM _ao_rule_words)  -- once per rule, not once per decision
    SELECT g.campaign_id, g.rule_id, g.rule_name, g.rule_type, g.action_type, g.priority, g.confidence,
           g.confidence_floor, g.factor, g.new_budget, g.platforms, g.title, g.daily_budget, g.max_budget,
           g.roi, g.ctr, g.hours_running, g.spend_lifetime, g.conversions_lifetime, g.blocked_code,
           _ao_blocked_reason(g) AS blocked_reason,
           gen_random_uuid() AS action_id,
           CASE WHEN g.blocked_code IS NULL THEN _ao_action_reason(g, r.words) END AS reason,
           CASE WHEN g.blocked_code IS NULL THEN
               jsonb_build_object('status', 'active', 'daily_budget', g.daily_budget, 'max_budget', g.max_budget,
                                  'roi', round(g.roi, 4), 'ctr', round(g.ctr, 6), 'spend', g.spend_lifetime,
                                  'conversions', g.conversions_lifetime, 'hours_running', round(g.hours_running, 1))
           END AS previous_state,
           CASE WHEN g.blocked_code IS NULL THEN _ao_new_state(g) END AS new_state,
           CASE WHEN g.blocked_code IS NULL THEN _ao_expected_impact(g) END AS expected_impact
      FROM _ao_guarded g
      JOIN rule_words r ON r.id = g.rule_id;
    ANALYZE _ao_plan (campaign_id, action_type, blocked_code);
END;
$$;
COMMENT ON FUNCTION _ao_build_plan(boolean) IS
    'Plans a cycle into _ao_plan: evaluates the rules (or only the trigger rules, for a scoped evaluation of new metrics) (a failing rule skipped and recorded), chooses the highest-priority matching rule per campaign (pause/scale exclusive, posts apart), applies the guardrails (each refusal a blocked_code and its words), and writes the reason, states and expected impact of each decision.';
