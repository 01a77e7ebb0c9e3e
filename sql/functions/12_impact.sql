-- 12_impact.sql: what an action actually did. After impact_window_hours, each executed pause or scale
-- gets its measured impact: spend, revenue and ROI per day in the window after it against the window
-- before.

CREATE OR REPLACE FUNCTION measure_action_impact() RETURNS integer
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
DECLARE
    v_count integer;
BEGIN
    -- The figures go through a work table of their own: the update below then joins on what it holds,
    -- whatever the statistics of autonomous_actions say after this cycle's own inserts.
    PERFORM _ao_drop_work_table('_ao_impact');
    -- The documents are written here, the update only copies them: a database split by account
    -- (Citus) builds no document from a row's columns inside an UPDATE.
    CREATE TEMP TABLE _ao_impact ON COMMIT DROP AS
    WITH cfg AS (SELECT impact_window_hours AS h, make_interval(hours => impact_window_hours) AS w
                   FROM autonomous_settings LIMIT 1),
    due AS (  -- through the partial index autonomous_actions_impact_due_idx
        SELECT a.id, a.account_id, a.campaign_id, a.executed_at FROM autonomous_actions a
         WHERE a.actual_impact IS NULL AND a.action_type IN ('pause', 'scale') AND a.status IN ('executed', 'rolled_back')
           AND a.executed_at <= now() - (SELECT w FROM cfg)
           AND (ao_cycle_account() IS NULL OR a.account_id = ao_cycle_account())
    ),
    f AS (
        SELECT d.id, d.account_id,
               sum(m.spend) FILTER (WHERE m.period_start < d.executed_at) AS spend_before,
               sum(m.revenue) FILTER (WHERE m.period_start < d.executed_at) AS revenue_before,
               sum(m.spend) FILTER (WHERE m.period_start >= d.executed_at) AS spend_after,
               sum(m.revenue) FILTER (WHERE m.period_start >= d.executed_at) AS revenue_after
          FROM due d CROSS JOIN cfg
          LEFT JOIN campaign_metrics m ON m.campaign_id = d.campaign_id AND m.account_id = d.account_id
               AND m.period_start >= d.executed_at - cfg.w AND m.period_start < d.executed_at + cfg.w
         GROUP BY d.id, d.account_id
    )
    SELECT f.id, f.account_id,
           jsonb_build_object(
               'window_hours', cfg.h, 'measured_at', now(),
               'before', jsonb_build_object('spend_per_day', round(coalesce(f.spend_before, 0) * 24 / cfg.h, 2),
                                            'revenue_per_day', round(coalesce(f.revenue_before, 0) * 24 / cfg.h, 2),
                                            'roi', round(f.revenue_before / NULLIF(f.spend_before, 0), 4)),
               'after', jsonb_build_object('spend_per_day', round(coalesce(f.spend_after, 0) * 24 / cfg.h, 2),
                                           'revenue_per_day', round(coalesce(f.revenue_after, 0) * 24 / cfg.h, 2),
                                           'roi', round(f.revenue_after / NULLIF(f.spend_after, 0), 4)),
               'profit_per_day_change', round((coalesce(f.revenue_after, 0) - coalesce(f.spend_after, 0)
                                               - coalesce(f.revenue_before, 0) + coalesce(f.spend_before, 0)) * 24 / cfg.h, 2),
               'sentence', format('Profit per day went from %s to %s in the %s h after the action.',
                                  to_char((coalesce(f.revenue_before, 0) - coalesce(f.spend_before, 0)) * 24 / cfg.h, 'FM$999,999,999,990.00'),
                                  to_char((coalesce(f.revenue_after, 0) - coalesce(f.spend_after, 0)) * 24 / cfg.h, 'FM$999,999,999,990.00'),
                                  cfg.h)) AS impact
      FROM f CROSS JOIN cfg;
    ANALYZE _ao_impact;
    UPDATE autonomous_actions a
       SET actual_impact = f.impact
      FROM _ao_impact f
     WHERE a.id = f.id AND a.account_id = f.account_id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;
COMMENT ON FUNCTION measure_action_impact() IS
    'Fills actual_impact of pause/scale actions older than impact_window_hours: spend, revenue and ROI per day in the window after against the window before, and the change in profit per day.';
