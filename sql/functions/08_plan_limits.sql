-- 08_plan_limits.sql: step 3b of the plan (08_plan.sql): the blast-radius limits, over all the decisions
-- at once (docs/limits.md), after the per-campaign guardrails, each ad account on its own (one client's
-- broken pixel holds that client, one client's winners do not spend another's growth), under the
-- account's settings (ao_account_settings: its overrides, else the global row):
--   * the data-outage breaker: the account's revenue or conversions of the last 24 h below
--     breaker_revenue_ratio of the daily average of the 7 days before, while spend held at least
--     breaker_spend_ratio of its own: a broken feed, not bad campaigns; no pause or scale in that account
--     (data_outage), unless a person released the hold (ao.breaker_released); it needs a portfolio (at
--     least 3 of the account's campaigns earned in the 7 days before) to tell a broken feed from a
--     failing campaign;
--   * the mass-pause limit: pauses worst first (lowest ROI, then largest loss) up to
--     max_pause_spend_share of the account's active spend of the last 24 h (the worst one always),
--     the rest pause_limit;
--   * the budget growth limits: the sum of the account's active daily budgets may rise by
--     max_daily_budget_increase_pct per rolling 24 h through scales and never above
--     max_total_daily_budget; scales granted by expected added profit per dollar (ROI − 1), then
--     confidence, the last one partially, the rest budget_limit.
-- The figures go to _ao_limits, one row per account, in its currency (money is never added across
-- accounts). They are the accounts' whatever the scope (a scoped evaluation's stats hold only the
-- campaigns it evaluates), read from the metrics of the last 8 days.
CREATE OR REPLACE FUNCTION _ao_apply_limits() RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
DECLARE
    v_now timestamptz := ao_now();
    v_released boolean := coalesce(current_setting('ao.breaker_released', true), '') = 'on';
    v_only uuid;    -- the one account all campaigns are in, if they are
    v_last uuid;
    v_sums text;    -- how the metrics of the last 8 days are summed per account
BEGIN
    -- With one account (a service run for one client), its sums need no join of each metric row to its
    -- campaign: one aggregate over the rows, the active campaigns' 24 h spend apart (the join of a
    -- day's rows only). With several, each row is joined to its campaign's account.
    -- (the lowest and the highest account the same: two ends of an index, a form a database split by
    -- account runs too)
    -- A cycle of one account (run_account_cycle) reads that account's only.
    v_only := ao_cycle_account();
    IF v_only IS NULL THEN
        EXECUTE format('SELECT (SELECT account_id FROM %1$I ORDER BY account_id LIMIT 1),
                               (SELECT account_id FROM %1$I ORDER BY account_id DESC LIMIT 1)',
                       ao_state_table('campaign states'))
           INTO v_only, v_last;
        IF v_only IS DISTINCT FROM v_last THEN
            v_only := NULL;
        END IF;
    END IF;
    v_sums := CASE WHEN v_only IS NULL THEN
        format($s$SELECT c.account_id, %%s,
                         sum(m.spend) FILTER (WHERE m.period_end > $1 - interval '24 hours' AND c.status = 'active') AS spend_24h
                    FROM campaign_metrics m JOIN %1$I c ON c.id = m.campaign_id AND c.account_id = m.account_id
                   WHERE m.period_end > $1 - interval '8 days' AND m.period_end <= $1
                   GROUP BY c.account_id$s$, ao_state_table('campaign states'))
    ELSE
        format($s$SELECT $2::uuid AS account_id, %%s,
                         (SELECT sum(a.spend) FROM campaign_metrics a JOIN %1$I c ON c.id = a.campaign_id AND c.account_id = a.account_id AND c.status = 'active'
                           WHERE a.account_id = $2 AND a.period_end > $1 - interval '24 hours' AND a.period_end <= $1) AS spend_24h
                    FROM campaign_metrics m
                   WHERE m.account_id = $2 AND m.period_end > $1 - interval '8 days' AND m.period_end <= $1$s$, ao_state_table('campaign states'))
    END;
    v_sums := format(v_sums, $s$sum(m.spend) FILTER (WHERE m.period_end > $1 - interval '24 hours') AS spend_24h_all,
                   sum(m.revenue) FILTER (WHERE m.period_end > $1 - interval '24 hours') AS revenue_24h,
                   sum(m.conversions) FILTER (WHERE m.period_end > $1 - interval '24 hours') AS conversions_24h,
                   sum(m.spend) AS spend_8d, sum(m.revenue) AS revenue_8d, sum(m.conversions) AS conversions_8d$s$);
    -- Each account's figures, read apart from the cycle's one pass over the metrics (an index range
    -- over the last 8 days, summed per account as above): the breaker's, over every campaign's rows
    -- (the feed, whatever the status); the 24 h spend of the active campaigns, which the pause share is
    -- a share of; the active daily budgets the growth limits start from; what the scales of the last
    -- 24 h already added; and whether at least 3 of the account's campaigns earned in the 7 days
    -- before (found by index, 3 at most per account). The statuses, budgets and actions as written: in
    -- a backtest, the replay's. A work table, not SELECT INTO, so that the reads can use parallel
    -- workers.
    PERFORM _ao_drop_work_table('_ao_portfolio');
    EXECUTE format($q$
        CREATE TEMP TABLE _ao_portfolio ON COMMIT DROP AS
        WITH sums AS (%3$s), budgets AS (
            SELECT c.account_id, coalesce(sum(c.daily_budget) FILTER (WHERE c.status = 'active'), 0) AS budget_now
              FROM %1$I c WHERE $2::uuid IS NULL OR c.account_id = $2 GROUP BY c.account_id
        ), rise AS (
            SELECT a.account_id,
                   sum((a.new_state ->> 'daily_budget')::numeric - (a.previous_state ->> 'daily_budget')::numeric) AS rise
              FROM %2$I a
             WHERE a.action_type = 'scale' AND a.status = 'executed' AND a.created_at > $1 - interval '24 hours'
               AND a.created_at <= $1 AND ($2::uuid IS NULL OR a.account_id = $2)
             GROUP BY a.account_id
        )
        SELECT b.account_id,
               coalesce(s.spend_24h_all, 0) AS spend_24h_all, coalesce(s.revenue_24h, 0) AS revenue_24h,
               coalesce(s.conversions_24h, 0) AS conversions_24h, coalesce(s.spend_8d, 0) AS spend_8d,
               coalesce(s.revenue_8d, 0) AS revenue_8d, coalesce(s.conversions_8d, 0) AS conversions_8d,
               (SELECT count(*) FROM (SELECT 1 FROM %1$I e
                                       WHERE e.account_id = b.account_id
                                         AND EXISTS (SELECT 1 FROM campaign_metrics x
                                                      WHERE x.campaign_id = e.id AND x.account_id = e.account_id
                                                        AND x.period_end > $1 - interval '8 days'
                                                        AND x.period_end <= $1 - interval '24 hours'
                                                        AND (x.revenue > 0 OR x.conversions > 0))
                                       LIMIT 3) y) AS earning,
               coalesce(s.spend_24h, 0) AS spend_24h, b.budget_now, coalesce(r.rise, 0) AS budget_added_24h
          FROM budgets b
          LEFT JOIN sums s ON s.account_id = b.account_id
          LEFT JOIN rise r ON r.account_id = b.account_id$q$,
        ao_state_table('campaign states'), ao_state_table('actions'), v_sums)
      USING v_now, v_only;
    ANALYZE _ao_portfolio;

    -- the breaker: each figure of the last 24 h against the daily average of the 7 days before; the
    -- growth still allowed: the percentage of the budgets as they were before the last 24 h's scales,
    -- less what those added, and never past the total
    PERFORM _ao_drop_work_table('_ao_account_limits');
    CREATE TEMP TABLE _ao_account_limits ON COMMIT DROP AS
    SELECT p.*, s.currency, s.max_pause_spend_share,
           NOT v_released
           AND p.earning >= 3
           AND (p.spend_8d - p.spend_24h_all) > 0
           AND p.spend_24h_all >= s.breaker_spend_ratio * (p.spend_8d - p.spend_24h_all) / 7
           AND (((p.revenue_8d - p.revenue_24h) > 0
                 AND p.revenue_24h < s.breaker_revenue_ratio * (p.revenue_8d - p.revenue_24h) / 7)
             OR ((p.conversions_8d - p.conversions_24h) > 0
                 AND p.conversions_24h < s.breaker_revenue_ratio * (p.conversions_8d - p.conversions_24h) / 7))
           AS held,
           greatest(least((p.budget_now - p.budget_added_24h) * s.max_daily_budget_increase_pct / 100 - p.budget_added_24h,
                          coalesce(s.max_total_daily_budget - p.budget_now, 'Infinity'::numeric)), 0) AS allowed
      FROM _ao_portfolio p JOIN ao_account_settings() s ON s.account_id = p.account_id;
    ANALYZE _ao_account_limits;

    UPDATE _ao_guarded SET held_code = 'data_outage'
     WHERE held_code IS NULL AND action_type IN ('pause', 'scale')
       AND account_id IN (SELECT account_id FROM _ao_account_limits WHERE held);

    -- the mass-pause limit: the campaigns' spend of the last 24 h, worst first, up to the account's
    -- share; the worst one is always paused (an account can always stop its worst loser: the limit is
    -- against mass action, and a small account's one campaign is most of its spend)
    WITH pauses AS (
        SELECT g.campaign_id, g.account_id, g.roi, g.spend_lifetime, g.revenue_lifetime
          FROM _ao_guarded g
         WHERE g.action_type = 'pause' AND g.held_code IS NULL
    ), spend AS (  -- the 24 h spend of the campaigns to pause, not of the whole account
        SELECT m.campaign_id, sum(m.spend) AS spend
          FROM campaign_metrics m
         WHERE m.campaign_id IN (SELECT campaign_id FROM pauses)
           AND m.period_end > v_now - interval '24 hours' AND m.period_end <= v_now
         GROUP BY m.campaign_id
    ), ranked AS (
        SELECT g.campaign_id, g.account_id,
               row_number() OVER w AS rank, sum(coalesce(s.spend, 0)) OVER w AS running
          FROM pauses g LEFT JOIN spend s ON s.campaign_id = g.campaign_id
        WINDOW w AS (PARTITION BY g.account_id
                     ORDER BY g.roi NULLS FIRST, g.spend_lifetime - coalesce(g.revenue_lifetime, 0) DESC, g.campaign_id)
    )
    UPDATE _ao_guarded g SET held_code = 'pause_limit'
      FROM ranked r JOIN _ao_account_limits l ON l.account_id = r.account_id
     WHERE g.campaign_id = r.campaign_id AND g.action_type = 'pause' AND r.rank > 1
       AND r.running > l.max_pause_spend_share * l.spend_24h;

    -- the budget growth limits, in each account's order of expected added profit per dollar
    WITH ranked AS (
        SELECT g.campaign_id, g.account_id, g.daily_budget, g.new_budget,
               coalesce(sum(g.new_budget - g.daily_budget) OVER (
                   PARTITION BY g.account_id
                   ORDER BY coalesce(g.roi, 0) - 1 DESC, g.confidence DESC, g.campaign_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM _ao_guarded g
         WHERE g.action_type = 'scale' AND g.held_code IS NULL
    ), decided AS (
        SELECT r.campaign_id, r.new_budget,
               CASE WHEN r.before + (r.new_budget - r.daily_budget) <= l.allowed THEN r.new_budget
                    WHEN floor((l.allowed - r.before) * 100) / 100 >= 0.01
                         THEN r.daily_budget + floor((l.allowed - r.before) * 100) / 100
               END AS granted
          FROM ranked r JOIN _ao_account_limits l ON l.account_id = r.account_id
    )
    UPDATE _ao_guarded g
       SET held_code = CASE WHEN d.granted IS NULL THEN 'budget_limit' END,
           limited_from = CASE WHEN d.granted IS NOT NULL THEN g.new_budget END,
           new_budget = coalesce(d.granted, g.new_budget)
      FROM decided d
     WHERE g.campaign_id = d.campaign_id AND g.action_type = 'scale'
       AND (d.granted IS NULL OR d.granted < d.new_budget);

    PERFORM _ao_drop_work_table('_ao_limits');
    CREATE TEMP TABLE _ao_limits ON COMMIT DROP AS
    SELECT l.account_id, a.name AS account_name, l.currency, l.held,
           round(l.revenue_24h / NULLIF((l.revenue_8d - l.revenue_24h) / 7, 0), 4) AS revenue_ratio,
           round(l.conversions_24h / NULLIF((l.conversions_8d - l.conversions_24h) / 7, 0), 4) AS conversions_ratio,
           round(l.spend_24h_all / NULLIF((l.spend_8d - l.spend_24h_all) / 7, 0), 4) AS spend_ratio,
           -- the figures behind the ratios: the last 24 h against the daily average of the 7 days before
           round(l.revenue_24h, 2) AS revenue_24h, round((l.revenue_8d - l.revenue_24h) / 7, 2) AS revenue_7d_daily_average,
           l.conversions_24h, round((l.conversions_8d - l.conversions_24h) / 7.0, 2) AS conversions_7d_daily_average,
           round(l.spend_24h_all, 2) AS spend_24h, round((l.spend_8d - l.spend_24h_all) / 7, 2) AS spend_7d_daily_average,
           v_released AS released,
           round(l.spend_24h, 2) AS portfolio_spend_24h,
           round(l.max_pause_spend_share * l.spend_24h, 2) AS pause_spend_cap,
           coalesce(n.pauses_held, 0) AS pauses_held, round(l.budget_now, 2) AS daily_budget_total,
           round(l.budget_added_24h, 2) AS budget_added_24h,
           round(l.allowed, 2) AS budget_increase_allowed, coalesce(n.scales_held, 0) AS scales_held,
           coalesce(n.scales_partial, 0) AS scales_partial
      FROM _ao_account_limits l
      JOIN ad_accounts a ON a.id = l.account_id
      LEFT JOIN (SELECT account_id,
                        count(*) FILTER (WHERE held_code = 'pause_limit') AS pauses_held,
                        count(*) FILTER (WHERE held_code = 'budget_limit') AS scales_held,
                        count(*) FILTER (WHERE limited_from IS NOT NULL) AS scales_partial
                   FROM _ao_guarded GROUP BY account_id) n ON n.account_id = l.account_id;
    ANALYZE _ao_limits;
END;
$$;
COMMENT ON FUNCTION _ao_apply_limits() IS
    'The blast-radius limits over all of a plan''s decisions, each ad account on its own under its settings: the data-outage breaker (a broken revenue or conversion feed holds the account''s pauses and scales: data_outage), the mass-pause limit (worst first up to max_pause_spend_share of the account''s 24 h spend: pause_limit), the budget growth limits (max_daily_budget_increase_pct per rolling 24 h, max_total_daily_budget; by expected added profit per dollar, the last partially: budget_limit); figures per account in _ao_limits.';

-- With one account, its figures stand at the top as well: the shape a one-account service always had.
CREATE OR REPLACE FUNCTION ao_limits_document(p_limited_only boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
               'held', coalesce(bool_or(l.held), false),
               'released', coalesce(bool_or(l.released), coalesce(current_setting('ao.breaker_released', true), '') = 'on'),
               'pauses_held', coalesce(sum(l.pauses_held), 0), 'scales_held', coalesce(sum(l.scales_held), 0),
               'scales_partial', coalesce(sum(l.scales_partial), 0),
               'held_accounts', coalesce(jsonb_agg(l.account_id ORDER BY l.account_name, l.account_id) FILTER (WHERE l.held), '[]'),
               'accounts', coalesce(jsonb_agg(to_jsonb(l) ORDER BY l.account_name, l.account_id)
                                        FILTER (WHERE NOT p_limited_only OR l.held
                                                      OR l.pauses_held + l.scales_held + l.scales_partial > 0), '[]'))
           || CASE WHEN count(*) = 1 THEN (SELECT to_jsonb(o) - 'account_name' FROM _ao_limits o) ELSE '{}' END
      FROM _ao_limits l);
END;
$$;
COMMENT ON FUNCTION ao_limits_document(boolean) IS
    'The limits of a plan as a summary shows them: held (any account''s breaker tripped), released, the decisions held in all (counts), held_accounts, and each account''s figures in its currency (accounts; only those a limit held something in, with p_limited_only); with one account, its figures at the top as well.';
