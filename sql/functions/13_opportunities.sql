-- 13_opportunities.sql: what a person should look at. Seven detectors (docs/decisions.md, "Optimization
-- opportunities") read the cycle's window sums of the campaigns still active (_ao_detect, narrowed
-- once) with thresholds from the settings; each finding carries a severity, a description quoting its
-- numbers, a suggested action, a statistical confidence and its evidence. One open or in-progress
-- opportunity per campaign and type (a re-detection refreshes it); a dismissed one stays quiet for
-- opportunity_quiet_days.

-- A view over the cycle's window sums: each detector computes only the rates it reads, and nothing is
-- copied.
CREATE OR REPLACE FUNCTION _ao_detector_figures() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_detect');
    CREATE TEMP VIEW _ao_detect AS
    SELECT s.campaign_id, s.currency, s.title, s.daily_budget, s.hours_running,
           s.impressions_lifetime, s.clicks_lifetime, s.conversions_lifetime,
           s.impressions_last_7d, s.reach_last_7d, s.clicks_last_7d, s.conversions_last_7d, s.spend_last_7d,
           s.revenue_last_7d, s.impressions_prev_7d, s.clicks_prev_7d, s.conversions_prev_7d,
           s.spend_prev_7d, s.revenue_prev_7d,
           s.conversions_lifetime / NULLIF(s.clicks_lifetime, 0) AS cr,
           s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0) AS ctr,
           s.clicks_last_7d / NULLIF(s.impressions_last_7d, 0) AS ctr_7d,
           s.clicks_prev_7d / NULLIF(s.impressions_prev_7d, 0) AS ctr_p7d,
           s.revenue_last_7d / NULLIF(s.spend_last_7d, 0) AS roi_7d,
           s.revenue_prev_7d / NULLIF(s.spend_prev_7d, 0) AS roi_p7d,
           s.impressions_last_7d / NULLIF(s.reach_last_7d, 0) AS freq_7d
      FROM _ao_stats s
     WHERE NOT s.paused_in_cycle;
END;
$$;
COMMENT ON FUNCTION _ao_detector_figures() IS
    'Defines what the detectors read: the cycle''s window sums of the campaigns not paused in it, with their lifetime and week-on-week rates (conversion rate, CTR, ROI, frequency).';

CREATE OR REPLACE FUNCTION _ao_detect_low_conversion(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT f.campaign_id, 'low_conversion' AS opportunity_type,
           CASE WHEN f.cr < cfg.low_conversion_max_rate * 0.25 THEN 'high'
                WHEN f.cr < cfg.low_conversion_max_rate * 0.5 THEN 'medium' ELSE 'low' END AS severity,
           format('%s of %s clicks converted (%s conversions), under the %s threshold.', ao_pct(f.cr),
                  f.clicks_lifetime, f.conversions_lifetime, ao_pct(cfg.low_conversion_max_rate)) AS description,
           format('Audit the path after the click for "%s": landing-page speed, message match with the ad, form length; A/B test one change at a time until the conversion rate clears %s.',
                  f.title, ao_pct(cfg.low_conversion_max_rate)) AS suggested_action,
           ao_rate_below(f.conversions_lifetime, f.clicks_lifetime, cfg.low_conversion_max_rate) AS confidence_score,
           jsonb_build_object('window', 'lifetime', 'clicks', f.clicks_lifetime, 'conversions', f.conversions_lifetime,
                              'conversion_rate', round(f.cr, 6), 'threshold', cfg.low_conversion_max_rate,
                              'min_clicks', cfg.low_conversion_min_clicks) AS evidence
      FROM _ao_detect f
     WHERE f.clicks_lifetime >= cfg.low_conversion_min_clicks AND f.cr < cfg.low_conversion_max_rate;
END;
$$;
COMMENT ON FUNCTION _ao_detect_low_conversion(autonomous_settings) IS
    'low_conversion: lifetime clicks >= low_conversion_min_clicks converting under low_conversion_max_rate; confidence the Wilson score test of the rate below it.';

CREATE OR REPLACE FUNCTION _ao_detect_high_traffic_low_conversion(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH portfolio AS (
        SELECT percentile_cont(cfg.high_traffic_click_quantile) WITHIN GROUP (ORDER BY clicks_lifetime) AS click_cut,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY cr) FILTER (WHERE clicks_lifetime > 0) AS median_cr,
               count(*) FILTER (WHERE clicks_lifetime > 0) AS with_clicks
          FROM _ao_detect
    )
    SELECT f.campaign_id, 'high_traffic_low_conversion',
           CASE WHEN f.conversions_lifetime = 0 THEN 'critical' ELSE 'high' END,
           format('%s clicks (top %s%% of %s campaigns, cut-off %s) convert at %s, under half the portfolio median of %s.',
                  f.clicks_lifetime, round((1 - cfg.high_traffic_click_quantile) * 100), p.with_clicks,
                  round(p.click_cut::numeric), ao_pct(f.cr), ao_pct(p.median_cr::numeric)),
           format('Shift budget from "%s" to campaigns converting at the median or better, or rework its targeting and landing page: its traffic is large but converts at %s of the median rate.',
                  f.title, ao_pct(f.cr / NULLIF(p.median_cr::numeric, 0))),
           ao_rate_below(f.conversions_lifetime, f.clicks_lifetime, (p.median_cr * cfg.high_traffic_rate_ratio)::numeric),
           jsonb_build_object('window', 'lifetime', 'clicks', f.clicks_lifetime, 'conversions', f.conversions_lifetime,
                              'conversion_rate', round(f.cr, 6), 'click_cut_off', round(p.click_cut::numeric, 2),
                              'quantile', cfg.high_traffic_click_quantile, 'portfolio_median_conversion_rate',
                              round(p.median_cr::numeric, 6), 'rate_ratio', cfg.high_traffic_rate_ratio,
                              'campaigns_compared', p.with_clicks)
      FROM _ao_detect f, portfolio p
     WHERE p.with_clicks >= 10 AND f.clicks_lifetime > 0 AND f.clicks_lifetime >= p.click_cut
       AND f.cr < p.median_cr * cfg.high_traffic_rate_ratio;
END;
$$;
COMMENT ON FUNCTION _ao_detect_high_traffic_low_conversion(autonomous_settings) IS
    'high_traffic_low_conversion: clicks in the high_traffic_click_quantile of active campaigns (10 at least) converting under high_traffic_rate_ratio × the median rate; confidence the Wilson score test.';

CREATE OR REPLACE FUNCTION _ao_detect_declining_performance(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT f.campaign_id, 'declining_performance',
           CASE WHEN least(CASE WHEN roi_fell THEN f.roi_7d / f.roi_p7d END,
                           CASE WHEN ctr_fell THEN f.ctr_7d / f.ctr_p7d END) <= 0.5 THEN 'high' ELSE 'medium' END,
           concat_ws(' ',
               CASE WHEN roi_fell THEN format('ROI fell from %s× to %s× week on week (%s%%).', round(f.roi_p7d, 2),
                                             round(f.roi_7d, 2), round((f.roi_7d / f.roi_p7d - 1) * 100)) END,
               CASE WHEN ctr_fell THEN format('CTR fell from %s to %s (%s%%).', ao_pct(f.ctr_p7d), ao_pct(f.ctr_7d),
                                             round((f.ctr_7d / f.ctr_p7d - 1) * 100)) END),
           format('Compare what changed for "%s" between the two weeks (creative, audience, bids, competition); refresh the creative or roll back the change, and watch the next 7 days.',
                  f.title),
           greatest(CASE WHEN roi_fell THEN ao_ratio_drop(f.roi_p7d, f.conversions_prev_7d, f.roi_7d, f.conversions_last_7d) ELSE 0 END,
                    CASE WHEN ctr_fell THEN ao_two_proportion_drop(f.clicks_prev_7d, f.impressions_prev_7d,
                                                                  f.clicks_last_7d, f.impressions_last_7d) ELSE 0 END),
           jsonb_build_object('windows', jsonb_build_object(
               'last_7d', jsonb_build_object('spend', f.spend_last_7d, 'revenue', f.revenue_last_7d, 'clicks', f.clicks_last_7d,
                                             'impressions', f.impressions_last_7d, 'conversions', f.conversions_last_7d,
                                             'roi', round(f.roi_7d, 4), 'ctr', round(f.ctr_7d, 6)),
               'previous_7d', jsonb_build_object('spend', f.spend_prev_7d, 'revenue', f.revenue_prev_7d, 'clicks', f.clicks_prev_7d,
                                                 'impressions', f.impressions_prev_7d, 'conversions', f.conversions_prev_7d,
                                                 'roi', round(f.roi_p7d, 4), 'ctr', round(f.ctr_p7d, 6))),
               'decline_ratio', cfg.decline_ratio, 'min_clicks', cfg.decline_min_clicks,
               'roi_fell', roi_fell, 'ctr_fell', ctr_fell)
      -- Which fell, tested without dividing (rate this week <= ratio × rate last week, both sides times
      -- the two denominators, which must be > 0); the rates themselves are computed once, for the
      -- campaigns found only (OFFSET 0 keeps them from being recomputed at each use).
      FROM (SELECT f.*, d.roi_fell, d.ctr_fell
              FROM _ao_detect f,
                   LATERAL (SELECT coalesce(f.spend_prev_7d > 0 AND f.spend_last_7d > 0 AND f.revenue_prev_7d > 0
                                            AND f.revenue_last_7d * f.spend_prev_7d
                                                <= cfg.decline_ratio * f.revenue_prev_7d * f.spend_last_7d, false) AS roi_fell,
                                   coalesce(f.impressions_prev_7d > 0 AND f.impressions_last_7d > 0 AND f.clicks_prev_7d > 0
                                            AND f.clicks_last_7d * f.impressions_prev_7d
                                                <= cfg.decline_ratio * f.clicks_prev_7d * f.impressions_last_7d, false) AS ctr_fell) d
             WHERE f.clicks_last_7d >= cfg.decline_min_clicks AND f.clicks_prev_7d >= cfg.decline_min_clicks
               AND (d.roi_fell OR d.ctr_fell)
            OFFSET 0) f;
END;
$$;
COMMENT ON FUNCTION _ao_detect_declining_performance(autonomous_settings) IS
    'declining_performance: this weeks ROI or CTR at most decline_ratio of last weeks, over decline_min_clicks in both weeks; confidence the log-normal test of the ROI drop or the two-proportion test of the CTR drop.';

CREATE OR REPLACE FUNCTION _ao_detect_budget_inefficiency(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    -- 4a. budget_inefficiency: a winner held at its max_budget
    SELECT p.campaign_id, 'budget_inefficiency', 'medium',
           format('ROI %s× over %s conversions, but the daily budget is capped at its max_budget of %s.',
                  round(p.roi, 2), p.conversions_lifetime, ao_money(p.max_budget, p.currency)),
           format('Raise max_budget of "%s" (the %s rule would take it to %s a day) or move the spare budget of weaker campaigns here.',
                  p.title, p.rule_name, ao_money(round(p.daily_budget * p.factor, 2), p.currency)),
           p.confidence,
           jsonb_build_object('kind', 'capped_winner', 'window', 'lifetime', 'roi', round(p.roi, 4),
                              'conversions', p.conversions_lifetime, 'daily_budget', p.daily_budget,
                              'max_budget', p.max_budget, 'rule', p.rule_name, 'factor', p.factor)
      FROM _ao_guarded p  -- the decisions as guarded, without the plan's reasons and documents
      JOIN _ao_detect f ON f.campaign_id = p.campaign_id
     WHERE p.action_type = 'scale' AND p.held_code = 'capped'
       AND f.spend_last_7d >= cfg.under_delivery_ratio * f.daily_budget * least(f.hours_running / 24.0, 7)
    UNION ALL
    -- 4b. budget_inefficiency: under-delivery, the last 7 days spent under half the budget
    SELECT f.campaign_id, 'budget_inefficiency',
           CASE WHEN f.spend_last_7d < 0.25 * f.daily_budget * least(f.hours_running / 24.0, 7) THEN 'medium' ELSE 'low' END,
           format('Spent %s in the last %s days against a budget of %s (%s of it).', ao_money(f.spend_last_7d, f.currency),
                  round(least(f.hours_running / 24.0, 7), 1), ao_money(f.daily_budget * least(f.hours_running / 24.0, 7), f.currency),
                  ao_pct(f.spend_last_7d / (f.daily_budget * least(f.hours_running / 24.0, 7)))),
           format('"%s" cannot spend its budget: widen the audience or placements, raise bids, or lower the daily budget to what it delivers (about %s) and use the rest elsewhere.',
                  f.title, ao_money(f.spend_last_7d / least(f.hours_running / 24.0, 7), f.currency)),
           round(least(f.hours_running / 24.0, 7) / 7, 4),
           jsonb_build_object('kind', 'under_delivery', 'window', 'last_7d', 'spend', f.spend_last_7d,
                              'budget', round(f.daily_budget * least(f.hours_running / 24.0, 7), 2),
                              'days_observed', round(least(f.hours_running / 24.0, 7), 2),
                              'utilization', round(f.spend_last_7d / (f.daily_budget * least(f.hours_running / 24.0, 7)), 4),
                              'threshold', cfg.under_delivery_ratio)
      FROM _ao_detect f
     WHERE f.hours_running >= 24 AND f.daily_budget > 0
       AND f.spend_last_7d < cfg.under_delivery_ratio * f.daily_budget * least(f.hours_running / 24.0, 7);
END;
$$;
COMMENT ON FUNCTION _ao_detect_budget_inefficiency(autonomous_settings) IS
    'budget_inefficiency: a winner a scale rule would raise but max_budget caps (while it spends), or under-delivery (7-day spend under under_delivery_ratio of the budget); confidence the scale rules, or the share of the week observed.';

CREATE OR REPLACE FUNCTION _ao_detect_audience_mismatch(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    -- settings with audience_low_ctr above audience_high_ctr let both variants find a campaign: one
    -- finding per campaign, the more confident
    SELECT DISTINCT ON (x.campaign_id) x.* FROM (
    -- 5a. audience_mismatch: people click but do not convert
    SELECT f.campaign_id, 'audience_mismatch' AS opportunity_type,
           CASE WHEN f.conversions_lifetime = 0 THEN 'high' ELSE 'medium' END AS severity,
           format('CTR %s is high but only %s of %s clicks convert (under %s): the ad attracts people the offer does not fit.',
                  ao_pct(f.ctr), ao_pct(f.cr), f.clicks_lifetime, ao_pct(cfg.audience_low_conversion_rate)) AS description,
           format('Align the ad of "%s" with the offer, or narrow the audience to buyers: exclude the segments that click without converting.',
                  f.title) AS suggested_action,
           least(ao_rate_above(f.clicks_lifetime, f.impressions_lifetime, cfg.audience_high_ctr),
                 ao_rate_below(f.conversions_lifetime, f.clicks_lifetime, cfg.audience_low_conversion_rate)) AS confidence_score,
           jsonb_build_object('kind', 'clicks_without_conversions', 'window', 'lifetime', 'impressions', f.impressions_lifetime,
                              'clicks', f.clicks_lifetime, 'conversions', f.conversions_lifetime, 'ctr', round(f.ctr, 6),
                              'conversion_rate', round(f.cr, 6), 'ctr_threshold', cfg.audience_high_ctr,
                              'conversion_rate_threshold', cfg.audience_low_conversion_rate) AS evidence
      FROM _ao_detect f
     WHERE f.clicks_lifetime >= cfg.low_conversion_min_clicks
       AND f.ctr >= cfg.audience_high_ctr AND f.cr < cfg.audience_low_conversion_rate
    UNION ALL
    -- 5b. audience_mismatch: seen a lot, hardly clicked
    SELECT f.campaign_id, 'audience_mismatch', 'medium',
           format('CTR %s over %s impressions, under %s: the audience is not interested in the ad.',
                  ao_pct(f.ctr), f.impressions_lifetime, ao_pct(cfg.audience_low_ctr)),
           format('Retarget "%s": test other interests or lookalikes of converters, and a new creative; pause the segments with the lowest CTR.',
                  f.title),
           ao_rate_below(f.clicks_lifetime, f.impressions_lifetime, cfg.audience_low_ctr),
           jsonb_build_object('kind', 'ignored_ad', 'window', 'lifetime', 'impressions', f.impressions_lifetime,
                              'clicks', f.clicks_lifetime, 'ctr', round(f.ctr, 6), 'ctr_threshold', cfg.audience_low_ctr,
                              'min_impressions', cfg.audience_min_impressions)
      FROM _ao_detect f
     WHERE f.impressions_lifetime >= cfg.audience_min_impressions AND f.ctr < cfg.audience_low_ctr
    ) x
    ORDER BY x.campaign_id, x.confidence_score DESC NULLS LAST;
END;
$$;
COMMENT ON FUNCTION _ao_detect_audience_mismatch(autonomous_settings) IS
    'audience_mismatch: a high CTR with a conversion rate under audience_low_conversion_rate, or a CTR under audience_low_ctr over audience_min_impressions; confidence from the Wilson score tests.';

CREATE OR REPLACE FUNCTION _ao_detect_creative_fatigue(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT f.campaign_id, 'creative_fatigue',
           CASE WHEN f.freq_7d >= 2 * cfg.fatigue_min_frequency THEN 'high' ELSE 'medium' END,
           format('Each person saw the ad %s times in the last 7 days, and CTR fell from %s to %s (%s%%) week on week.',
                  round(f.freq_7d, 1), ao_pct(f.ctr_p7d), ao_pct(f.ctr_7d), round((f.ctr_7d / f.ctr_p7d - 1) * 100)),
           format('Refresh the creative of "%s" (new image, headline or format), or widen the audience and cap frequency near %s a week.',
                  f.title, round(cfg.fatigue_min_frequency)),
           ao_two_proportion_drop(f.clicks_prev_7d, f.impressions_prev_7d, f.clicks_last_7d, f.impressions_last_7d),
           jsonb_build_object('windows', jsonb_build_object(
               'last_7d', jsonb_build_object('impressions', f.impressions_last_7d, 'reach', f.reach_last_7d,
                                             'clicks', f.clicks_last_7d, 'frequency', round(f.freq_7d, 3), 'ctr', round(f.ctr_7d, 6)),
               'previous_7d', jsonb_build_object('impressions', f.impressions_prev_7d, 'clicks', f.clicks_prev_7d,
                                                 'ctr', round(f.ctr_p7d, 6))),
               'min_frequency', cfg.fatigue_min_frequency, 'min_ctr_drop', cfg.fatigue_ctr_drop)
      FROM _ao_detect f
     WHERE f.freq_7d >= cfg.fatigue_min_frequency AND f.ctr_p7d > 0
       AND f.ctr_7d <= (1 - cfg.fatigue_ctr_drop) * f.ctr_p7d
       AND f.clicks_prev_7d >= cfg.decline_min_clicks;
END;
$$;
COMMENT ON FUNCTION _ao_detect_creative_fatigue(autonomous_settings) IS
    'creative_fatigue: 7-day frequency >= fatigue_min_frequency and CTR down by fatigue_ctr_drop week on week; confidence the two-proportion test of the drop.';

CREATE OR REPLACE FUNCTION _ao_detect_timing(cfg autonomous_settings) RETURNS SETOF ao_opportunity_finding
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    -- Every rate divides by NULLIF(clicks, 0): the planner may test a rate on any daypart, a quiet one
    -- with no clicks too, before the joins that would have left it out.
    -- The dayparts are the hours of the campaign's account, in its time zone.
    WITH hourly AS (
        SELECT m.campaign_id, a.timezone AS tz, floor(extract(hour FROM m.period_start AT TIME ZONE a.timezone) / 6)::int AS part,
               sum(m.clicks)::numeric AS clicks, sum(m.conversions)::numeric AS conversions
          FROM campaign_metrics m
          JOIN _ao_detect f ON f.campaign_id = m.campaign_id
          JOIN ad_accounts a ON a.id = m.account_id
         WHERE m.period_end - m.period_start <= interval '1 hour' AND m.period_start > now() - interval '14 days'
         GROUP BY 1, 2, 3
    ),
    dayparts AS (
        SELECT h.campaign_id, h.tz,
               (array_agg(h.part ORDER BY h.conversions / NULLIF(h.clicks, 0) DESC, h.part))[1] AS best,
               (array_agg(h.part ORDER BY h.conversions / NULLIF(h.clicks, 0) ASC, h.part))[1] AS worst,
               jsonb_object_agg(to_char(h.part * 6, 'FM00') || ':00-' || to_char(h.part * 6 + 6, 'FM00') || ':00 ' || h.tz,
                                jsonb_build_object('clicks', h.clicks, 'conversions', h.conversions,
                                                   'conversion_rate', round(h.conversions / NULLIF(h.clicks, 0), 6))) AS parts
          FROM hourly h
         WHERE h.clicks >= cfg.timing_min_clicks
         GROUP BY h.campaign_id, h.tz
        HAVING count(*) >= 2
    ),
    timing AS (
        SELECT d.campaign_id, d.tz, d.parts, b.part AS best_part, b.clicks AS best_clicks, b.conversions AS best_conv,
               w.part AS worst_part, w.clicks AS worst_clicks, w.conversions AS worst_conv,
               b.conversions / NULLIF(b.clicks, 0) AS best_rate,
               w.conversions / NULLIF(w.clicks, 0) AS worst_rate
          FROM dayparts d
          JOIN hourly b ON b.campaign_id = d.campaign_id AND b.part = d.best
          JOIN hourly w ON w.campaign_id = d.campaign_id AND w.part = d.worst
    )
    SELECT t.campaign_id, 'timing_optimization',
           CASE WHEN t.worst_rate = 0 OR t.best_rate >= 2 * cfg.timing_min_ratio * t.worst_rate THEN 'medium' ELSE 'low' END,
           format('Clicks between %s:00 and %s:00 %s convert at %s, %s those between %s:00 and %s:00 %s (%s), over the last 14 days of hourly data.',
                  to_char(t.best_part * 6, 'FM00'), to_char(t.best_part * 6 + 6, 'FM00'), t.tz, ao_pct(t.best_rate),
                  CASE WHEN t.worst_rate = 0 THEN 'while none convert in'
                       ELSE round(t.best_rate / t.worst_rate, 1) || '×' END,
                  to_char(t.worst_part * 6, 'FM00'), to_char(t.worst_part * 6 + 6, 'FM00'), t.tz, ao_pct(t.worst_rate)),
           format('Schedule "%s" to bid up in %s:00-%s:00 %s and down (or off) in %s:00-%s:00 %s.',
                  f.title, to_char(t.best_part * 6, 'FM00'), to_char(t.best_part * 6 + 6, 'FM00'), t.tz,
                  to_char(t.worst_part * 6, 'FM00'), to_char(t.worst_part * 6 + 6, 'FM00'), t.tz),
           ao_two_proportion_drop(t.best_conv, t.best_clicks, t.worst_conv, t.worst_clicks),
           jsonb_build_object('window', 'last_14d', 'granularity', 'hourly', 'dayparts', t.parts,
                              'min_ratio', cfg.timing_min_ratio, 'min_clicks', cfg.timing_min_clicks)
      FROM timing t
      JOIN _ao_detect f ON f.campaign_id = t.campaign_id
     WHERE t.best_rate > 0 AND t.best_rate >= cfg.timing_min_ratio * t.worst_rate;
END;
$$;
COMMENT ON FUNCTION _ao_detect_timing(autonomous_settings) IS
    'timing_optimization: over the last 14 days of hourly rows, the best 6-hour daypart of the account''s time zone (timing_min_clicks each) converts timing_min_ratio × the worst; confidence the two-proportion test. Silent on daily data.';

-- p_findings: the query of the detectors' findings (whitelisted: this file's own), $1 in it the settings.
CREATE OR REPLACE FUNCTION _ao_keep_findings(p_findings text, cfg autonomous_settings) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_found');
    EXECUTE format($s$
    CREATE TEMP TABLE _ao_found ON COMMIT DROP AS
    SELECT one.*, live.id AS live_id
      FROM (%s) one  -- each detector finds a campaign once
      LEFT JOIN optimization_opportunities live
             ON live.campaign_id = one.campaign_id AND live.opportunity_type = one.opportunity_type
            AND live.status IN ('open', 'in_progress')
      -- an anti-join, not a correlated NOT EXISTS: a form a database split by account (Citus) plans too
      LEFT JOIN (SELECT DISTINCT d.campaign_id, d.opportunity_type FROM optimization_opportunities d
                  WHERE d.status = 'dismissed'
                    AND d.updated_at > now() - make_interval(days => ($1).opportunity_quiet_days)) quiet
             ON quiet.campaign_id = one.campaign_id AND quiet.opportunity_type = one.opportunity_type
     WHERE quiet.campaign_id IS NULL$s$, p_findings)
    USING cfg;
    ANALYZE _ao_found (live_id);
END;
$$;
COMMENT ON FUNCTION _ao_keep_findings(text, autonomous_settings) IS
    'Keeps what the detectors found in _ao_found, each with the live opportunity it refreshes, leaving out what a person dismissed within opportunity_quiet_days.';

-- The findings go through a work table first, so the writes below never read the table they write (a
-- statement that did would scan its own growing insert once per row). The seven detectors run as one
-- statement; should one fail on some figure, each runs alone in its own subtransaction, and the one
-- that fails is skipped for this cycle and listed (_ao_detector_errors, the summary's
-- detector_errors) while the others' findings are kept.
CREATE OR REPLACE FUNCTION detect_optimization_opportunities() RETURNS integer
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
DECLARE
    cfg autonomous_settings;
    v_detector text;
    v_refreshed integer;
    v_raised integer;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NULL THEN
        PERFORM _ao_prepare_stats();
    END IF;
    IF to_regclass('pg_temp._ao_plan') IS NULL THEN
        PERFORM _ao_build_plan();
    END IF;
    PERFORM _ao_detector_figures();
    SELECT * INTO cfg FROM autonomous_settings LIMIT 1;

    BEGIN
        PERFORM _ao_keep_findings($f$
            SELECT * FROM _ao_detect_low_conversion($1)
            UNION ALL SELECT * FROM _ao_detect_high_traffic_low_conversion($1)
            UNION ALL SELECT * FROM _ao_detect_declining_performance($1)
            UNION ALL SELECT * FROM _ao_detect_budget_inefficiency($1)
            UNION ALL SELECT * FROM _ao_detect_audience_mismatch($1)
            UNION ALL SELECT * FROM _ao_detect_creative_fatigue($1)
            UNION ALL SELECT * FROM _ao_detect_timing($1)$f$, cfg);
    EXCEPTION WHEN OTHERS THEN
        PERFORM _ao_drop_work_table('_ao_findings');
        CREATE TEMP TABLE _ao_findings OF ao_opportunity_finding ON COMMIT DROP;
        -- the detectors' names: a whitelist, never input
        FOREACH v_detector IN ARRAY ARRAY['low_conversion', 'high_traffic_low_conversion', 'declining_performance',
                                          'budget_inefficiency', 'audience_mismatch', 'creative_fatigue', 'timing'] LOOP
            BEGIN
                EXECUTE format('INSERT INTO _ao_findings SELECT * FROM %I($1)', '_ao_detect_' || v_detector) USING cfg;
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO _ao_detector_errors VALUES (v_detector, SQLERRM);
                RAISE WARNING 'detector % skipped in this cycle: %', v_detector, SQLERRM;
            END;
        END LOOP;
        ANALYZE _ao_findings;
        PERFORM _ao_keep_findings('SELECT * FROM _ao_findings', cfg);
    END;

    UPDATE optimization_opportunities o
       SET severity = f.severity, description = f.description, suggested_action = f.suggested_action,
           confidence_score = least(greatest(coalesce(f.confidence_score, 0), 0), 1), evidence = f.evidence
      FROM _ao_found f
     WHERE o.id = f.live_id;
    GET DIAGNOSTICS v_refreshed = ROW_COUNT;
    INSERT INTO optimization_opportunities
        (campaign_id, account_id, opportunity_type, severity, description, suggested_action, confidence_score, evidence)
    SELECT f.campaign_id, c.account_id, f.opportunity_type, f.severity, f.description, f.suggested_action,
           least(greatest(coalesce(f.confidence_score, 0), 0), 1), f.evidence
      FROM _ao_found f JOIN campaigns c ON c.id = f.campaign_id
     WHERE f.live_id IS NULL;
    GET DIAGNOSTICS v_raised = ROW_COUNT;
    RETURN v_refreshed + v_raised;
END;
$$;
COMMENT ON FUNCTION detect_optimization_opportunities() IS
    'Runs the seven detectors over the active campaigns (thresholds from settings) and keeps their findings: one open or in-progress opportunity per campaign and type (refreshed when re-detected, detected_at kept), none for opportunity_quiet_days after a dismissal; a detector that fails is skipped and listed in _ao_detector_errors. Returns how many it raised or refreshed.';
