-- 08_plan_limits.sql: step 3b of the plan (08_plan.sql): the blast-radius limits, over all the decisions
-- at once (docs/limits.md), after the per-campaign guardrails:
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
        UPDATE _ao_guarded SET held_code = 'data_outage'
         WHERE held_code IS NULL AND action_type IN ('pause', 'scale');
    END IF;

    -- the mass-pause limit: the campaigns' spend of the last 24 h, worst first, up to the share; the
    -- worst one is always paused (an account can always stop its worst loser: the limit is against
    -- mass action, and a small account's one campaign is most of its spend)
    WITH pauses AS (
        SELECT g.campaign_id, g.roi, g.spend_lifetime, g.revenue_lifetime
          FROM _ao_guarded g
         WHERE g.action_type = 'pause' AND g.held_code IS NULL
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
    UPDATE _ao_guarded g SET held_code = 'pause_limit'
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
         WHERE g.action_type = 'scale' AND g.held_code IS NULL
    ), decided AS (
        SELECT r.campaign_id, r.new_budget,
               CASE WHEN r.before + (r.new_budget - r.daily_budget) <= v_allowed THEN r.new_budget
                    WHEN floor((v_allowed - r.before) * 100) / 100 >= 0.01
                         THEN r.daily_budget + floor((v_allowed - r.before) * 100) / 100
               END AS granted
          FROM ranked r
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
    SELECT v_tripped AS held,
           round(p.revenue_24h / NULLIF((p.revenue_8d - p.revenue_24h) / 7, 0), 4) AS revenue_ratio,
           round(p.conversions_24h / NULLIF((p.conversions_8d - p.conversions_24h) / 7, 0), 4) AS conversions_ratio,
           round(p.spend_24h_all / NULLIF((p.spend_8d - p.spend_24h_all) / 7, 0), 4) AS spend_ratio,
           -- the figures behind the ratios: the last 24 h against the daily average of the 7 days before
           round(p.revenue_24h, 2) AS revenue_24h, round((p.revenue_8d - p.revenue_24h) / 7, 2) AS revenue_7d_daily_average,
           p.conversions_24h, round((p.conversions_8d - p.conversions_24h) / 7.0, 2) AS conversions_7d_daily_average,
           round(p.spend_24h_all, 2) AS spend_24h, round((p.spend_8d - p.spend_24h_all) / 7, 2) AS spend_7d_daily_average,
           coalesce(current_setting('ao.breaker_released', true), '') = 'on' AS released,
           round(p.spend_24h, 2) AS portfolio_spend_24h,
           round(cfg.max_pause_spend_share * p.spend_24h, 2) AS pause_spend_cap,
           n.pauses_held, round(p.budget_now, 2) AS daily_budget_total, round(v_rise, 2) AS budget_added_24h,
           round(v_allowed, 2) AS budget_increase_allowed, n.scales_held, n.scales_partial
      FROM (SELECT count(*) FILTER (WHERE held_code = 'pause_limit') AS pauses_held,
                   count(*) FILTER (WHERE held_code = 'budget_limit') AS scales_held,
                   count(*) FILTER (WHERE limited_from IS NOT NULL) AS scales_partial
              FROM _ao_guarded) n;
    ANALYZE _ao_limits;
END;
$$;
COMMENT ON FUNCTION _ao_apply_limits() IS
    'The blast-radius limits over all of a plan''s decisions: the data-outage breaker (a broken revenue or conversion feed holds every pause and scale: data_outage), the mass-pause limit (worst first up to max_pause_spend_share of the portfolio''s 24 h spend: pause_limit), the budget growth limits (max_daily_budget_increase_pct per rolling 24 h, max_total_daily_budget; by expected added profit per dollar, the last partially: budget_limit); figures in _ao_limits.';
