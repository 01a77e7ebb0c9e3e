-- 22_backtest_result.sql: what a replay's decisions were worth, from the data that followed them:
-- money saved by pauses, the estimated profit added by scales, regrets, and the daily timeline.

-- The money of the replayed decisions, from the data that followed each one (docs/import-and-backtest.md, "Backtest"):
-- a pause saves the campaign's spend − revenue after it (negative: it cost money), and is a regret when
-- the campaign's ROI over the next 7 days was ≥ 1; a scale by k adds an estimated (k − 1) × (revenue −
-- spend) after it, k measured against the budget the data was spent at, until the replay pauses the
-- campaign (an estimate: it assumes the ROI holds at the higher spend). The data says nothing of spend
-- past max_scale_factor × that budget, so the estimate counts budgets up to there only; a campaign
-- scaled without a max_budget is counted apart, since the engine would go on scaling it.
CREATE OR REPLACE FUNCTION _ao_backtest_result(p_from timestamptz, p_to timestamptz, p_step text, p_steps integer,
                                               p_limited jsonb DEFAULT '[]')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
    -- money is never added across currencies: with campaigns in more than one, the totals are per currency
    v_mixed boolean := (SELECT count(DISTINCT acct.currency) > 1
                          FROM _ao_replay_campaigns c JOIN ad_accounts acct ON acct.id = c.account_id);
BEGIN
    WITH acts AS (
        SELECT a.id, a.campaign_id, acct.currency, acct.timezone, c.title, a.rule_id, r.name AS rule_name, a.action_type, a.created_at AS at,
               a.reason, a.confidence, (a.previous_state ->> 'daily_budget')::numeric AS old_budget,
               (a.new_state ->> 'daily_budget')::numeric AS new_budget, c.base_budget,
               c.base_budget * s.max_scale_factor AS budget_cap, c.max_budget IS NULL AS uncapped
          FROM _ao_replay_actions a
          JOIN _ao_replay_campaigns c ON c.id = a.campaign_id
          JOIN ad_accounts acct ON acct.id = c.account_id
          JOIN _ao_replay_rules r ON r.id = a.rule_id
          JOIN ao_account_settings() s ON s.account_id = c.account_id
    ), until AS (  -- the money after an action counts up to `to`; a scale's up to the replay's pause
        SELECT x.*, CASE WHEN x.action_type = 'scale' THEN coalesce(p.at, p_to) ELSE p_to END AS until_at
          FROM acts x
          LEFT JOIN acts p ON p.campaign_id = x.campaign_id AND p.action_type = 'pause'
    ), after AS (
        SELECT u.id, m.period_end, m.spend, m.revenue, m.period_end <= u.at + interval '7 days' AS next_7d
          FROM until u
          JOIN campaign_metrics m ON m.campaign_id = u.campaign_id AND m.period_start >= u.at AND m.period_end <= u.until_at
    ), money AS (
        SELECT u.*,
               coalesce(sum(f.spend), 0) AS spend_after, coalesce(sum(f.revenue), 0) AS revenue_after,
               sum(f.spend) FILTER (WHERE f.next_7d) AS spend_7d, sum(f.revenue) FILTER (WHERE f.next_7d) AS revenue_7d
          FROM until u LEFT JOIN after f ON f.id = u.id
         GROUP BY u.id, u.campaign_id, u.currency, u.timezone, u.title, u.rule_id, u.rule_name, u.action_type, u.at, u.reason, u.confidence,
                  u.old_budget, u.new_budget, u.base_budget, u.budget_cap, u.uncapped, u.until_at
    ), valued AS (
        SELECT m.*,
               CASE WHEN m.action_type = 'pause' THEN round(m.spend_after - m.revenue_after, 2) END AS saved,
               CASE WHEN m.action_type = 'scale' AND m.base_budget > 0
                    THEN round((least(m.new_budget, m.budget_cap) - least(m.old_budget, m.budget_cap)) / m.base_budget
                               * (m.revenue_after - m.spend_after), 2) END
                   AS added_profit_estimate,
               CASE WHEN m.spend_7d > 0 THEN round(m.revenue_7d / m.spend_7d, 4) END AS roi_next_7d,
               m.action_type = 'pause' AND m.spend_7d > 0 AND m.revenue_7d / m.spend_7d >= 1 AS regret
          FROM money m
    ), daily AS (  -- each action's money by the day (its account's) its periods ended on, for the timeline
        SELECT u.currency, ((f.period_end - interval '1 microsecond') AT TIME ZONE u.timezone)::date AS day,
               sum(CASE WHEN u.action_type = 'pause' THEN f.spend - f.revenue END) AS saved,
               sum(CASE WHEN u.action_type = 'scale' AND u.base_budget > 0
                        THEN (least(u.new_budget, u.budget_cap) - least(u.old_budget, u.budget_cap)) / u.base_budget
                             * (f.revenue - f.spend) END) AS added
          FROM after f JOIN until u ON u.id = f.id
         GROUP BY 1, 2
    ), timeline AS (  -- a cumulative line per currency
        SELECT k.currency, d::date AS day,
               round(coalesce(sum(daily.saved) OVER w, 0), 2) AS saved,
               round(coalesce(sum(daily.added) OVER w, 0), 2) AS added_profit_estimate
          FROM (SELECT acct.currency, min((p_from AT TIME ZONE acct.timezone)::date) AS first_day,
                       max(((p_to - interval '1 microsecond') AT TIME ZONE acct.timezone)::date) AS last_day
                  FROM _ao_replay_campaigns c
                  JOIN ad_accounts acct ON acct.id = c.account_id
                 GROUP BY acct.currency) k
         CROSS JOIN LATERAL generate_series(k.first_day, k.last_day, interval '1 day') d
          LEFT JOIN daily ON daily.day = d::date AND daily.currency = k.currency
        WINDOW w AS (PARTITION BY k.currency ORDER BY d)
    )
    SELECT jsonb_build_object(
        'from', p_from, 'to', p_to, 'step', p_step, 'steps', p_steps,
        'campaigns', (SELECT count(*) FROM _ao_replay_campaigns),
        'totals', (SELECT jsonb_build_object(
                       'pauses', count(*) FILTER (WHERE action_type = 'pause'),
                       'scales', count(*) FILTER (WHERE action_type = 'scale'),
                       'saved', CASE WHEN NOT v_mixed THEN coalesce(sum(saved), 0) END,
                       'added_profit_estimate', CASE WHEN NOT v_mixed THEN coalesce(sum(added_profit_estimate), 0) END,
                       'regrets', count(*) FILTER (WHERE regret),
                       'by_currency', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                 'currency', x.currency, 'pauses', x.pauses, 'scales', x.scales,
                                                 'saved', x.saved, 'added_profit_estimate', x.added,
                                                 'regrets', x.regrets) ORDER BY x.currency), '[]')
                                         FROM (SELECT v.currency, count(*) FILTER (WHERE v.action_type = 'pause') AS pauses,
                                                      count(*) FILTER (WHERE v.action_type = 'scale') AS scales,
                                                      coalesce(sum(v.saved), 0) AS saved,
                                                      coalesce(sum(v.added_profit_estimate), 0) AS added,
                                                      count(*) FILTER (WHERE v.regret) AS regrets
                                                 FROM valued v GROUP BY v.currency) x),
                       'scaled_without_max_budget', count(DISTINCT campaign_id) FILTER (WHERE action_type = 'scale' AND uncapped))
                     FROM valued),
        'rules', (SELECT coalesce(jsonb_agg(x ORDER BY x.priority DESC, x.name), '[]')
                    FROM (SELECT r.id AS rule_id, r.name, r.rule_type, r.priority,
                                 count(v.id) FILTER (WHERE v.action_type = 'pause') AS pauses,
                                 count(v.id) FILTER (WHERE v.action_type = 'scale') AS scales,
                                 CASE WHEN NOT v_mixed THEN coalesce(sum(v.saved), 0) END AS saved,
                                 CASE WHEN NOT v_mixed THEN coalesce(sum(v.added_profit_estimate), 0) END AS added_profit_estimate,
                                 count(v.id) FILTER (WHERE v.regret) AS regrets
                            FROM _ao_replay_rules r LEFT JOIN valued v ON v.rule_id = r.id
                           WHERE r.rule_type IN ('pause', 'scale')
                           GROUP BY r.id, r.name, r.rule_type, r.priority) x),
        'decisions_total', (SELECT count(*) FROM valued),
        -- the steps at which a limit held something: the breaker (held), the mass-pause or budget limits
        'held_steps', (SELECT coalesce(jsonb_agg(s ORDER BY s ->> 'at'), '[]')
                         FROM (SELECT s FROM jsonb_array_elements(p_limited) s LIMIT 500) x),
        'held_steps_total', jsonb_array_length(p_limited),
        'decisions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'campaign_id', v.campaign_id, 'campaign_title', v.title, 'currency', v.currency, 'at', v.at,
                                 'action_type', v.action_type, 'rule_id', v.rule_id, 'rule_name', v.rule_name,
                                 'reason', v.reason, 'confidence', v.confidence,
                                 'previous_budget', v.old_budget, 'new_budget', v.new_budget,
                                 'spend_after', v.spend_after, 'revenue_after', v.revenue_after,
                                 'saved', v.saved, 'added_profit_estimate', v.added_profit_estimate,
                                 'roi_next_7d', v.roi_next_7d, 'regret', v.regret) ORDER BY v.at, v.title, v.action_type), '[]')
                        FROM (SELECT * FROM valued ORDER BY at, title, action_type LIMIT 5000) v),
        'timeline', (SELECT coalesce(jsonb_agg(jsonb_build_object('date', t.day, 'currency', t.currency, 'saved', t.saved,
                                                                  'added_profit_estimate', t.added_profit_estimate)
                                               ORDER BY t.currency, t.day), '[]') FROM timeline t),
        'estimate_note', 'added_profit_estimate assumes the ROI a campaign showed holds at the higher spend: '
                         '(k − 1) × (revenue − spend) after the scale, k = the new budget over the budget the data was '
                         'spent at, counted up to max_scale_factor × that budget (the data says nothing beyond)')
      INTO v_result;
    RETURN v_result;
END;
$$;
COMMENT ON FUNCTION _ao_backtest_result(timestamptz, timestamptz, text, integer, jsonb) IS
    'The result of a replay: per rule and in total the pauses, scales, money saved by pauses (spend − revenue after each), estimated added profit of scales, regrets (pauses followed by 7 days at ROI ≥ 1), the totals per currency (by_currency; with more than one currency the money of the totals and the rules is null, never added across), the decisions (first 5,000, each with its currency), the steps at which a limit held something (first 500), and a daily timeline of the cumulative figures per currency.';
