-- 09_analytics.sql: the dashboard's Overview, read-only: who loses money and what the pause rules would
-- do about it, and who the scale rules would scale; the same plan a cycle would make now. Without JIT,
-- as a cycle: a compilation cannot be interrupted, and the API gives these calls a time limit.

CREATE OR REPLACE FUNCTION identify_underperforming_campaigns()
RETURNS TABLE (campaign_id uuid, title text, roi numeric, spend numeric, ctr numeric, hours_running numeric,
               recommendation text, severity text, confidence numeric, rule_name text, held_reason text)
LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
    PERFORM _ao_plan_afresh();
    RETURN QUERY
    SELECT s.campaign_id, s.title,
           round(s.revenue_lifetime / NULLIF(s.spend_lifetime, 0), 4),
           s.spend_lifetime, round(s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0), 6),
           round(s.hours_running, 1),
           CASE WHEN p.campaign_id IS NULL THEN 'Watch: losing money, no pause rule matches yet'
                WHEN p.held_reason IS NULL THEN format('Pause (%s)', p.rule_name)
                ELSE format('Pause held back: %s', p.held_reason) END,
           CASE WHEN p.campaign_id IS NULL THEN 'medium'
                WHEN p.priority >= 100 THEN 'critical'
                ELSE 'high' END,
           coalesce(p.confidence, 0), p.rule_name, p.held_reason
    FROM _ao_stats s
    LEFT JOIN _ao_plan p ON p.campaign_id = s.campaign_id AND p.action_type = 'pause'
    WHERE p.campaign_id IS NOT NULL
       OR (s.spend_lifetime > 0 AND s.revenue_lifetime < s.spend_lifetime)
    ORDER BY (p.campaign_id IS NULL), p.priority DESC NULLS LAST,
             s.revenue_lifetime / NULLIF(s.spend_lifetime, 0) ASC NULLS FIRST, s.spend_lifetime DESC;
END;
$$;
COMMENT ON FUNCTION identify_underperforming_campaigns() IS
    'Read-only: active campaigns a pause rule matches (critical for priority >= 100) or that lose money (ROI < 1) without a match yet, with the recommendation and confidence the cycle would use.';

CREATE OR REPLACE FUNCTION identify_scaling_candidates()
RETURNS TABLE (campaign_id uuid, title text, roi numeric, current_budget numeric, proposed_budget numeric,
               factor numeric, confidence numeric, capped boolean, rule_name text, held_reason text)
LANGUAGE plpgsql
SET jit = off AS $$
BEGIN
    PERFORM _ao_plan_afresh();
    RETURN QUERY
    SELECT p.campaign_id, p.title, round(p.roi, 4), p.daily_budget,
           CASE WHEN p.max_budget IS NOT NULL AND p.daily_budget >= p.max_budget THEN p.daily_budget ELSE p.new_budget END,
           p.factor, p.confidence,
           p.max_budget IS NOT NULL AND p.daily_budget >= p.max_budget,
           p.rule_name, p.held_reason
    FROM _ao_plan p
    WHERE p.action_type = 'scale'
    ORDER BY p.held_reason IS NOT NULL, p.roi DESC NULLS LAST;
END;
$$;
COMMENT ON FUNCTION identify_scaling_candidates() IS
    'Read-only: active campaigns a scale rule matches, with current → proposed budget, factor, confidence, and capped when already at max_budget.';
