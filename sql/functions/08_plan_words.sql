-- 08_plan_words.sql: what the plan (08_plan.sql) writes about each decision: why it is held back, the
-- campaign's state after it and the money it is expected to make or save. (Its reason quotes the
-- figures of the rule's own conditions: compile_rule_figures, 06_rule_language.sql.)

CREATE OR REPLACE FUNCTION _ao_held_reason(g anyelement) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE g.held_code
        WHEN 'below_confidence' THEN
            format('confidence %s below the floor %s', round(g.confidence, 2), round(g.confidence_floor, 2))
        WHEN 'below_min_spend' THEN
            format('spend %s below the minimum %s', ao_money(g.spend_lifetime, g.currency), ao_money(g.min_spend, g.currency))
        WHEN 'capped' THEN format('capped: daily budget already at max_budget %s', ao_money(g.max_budget, g.currency))
        WHEN 'no_budget_to_scale' THEN 'no budget to scale'
        WHEN 'awaiting_decision' THEN 'a change of this campaign is waiting for a person''s approval or for its platform'
        WHEN 'shared_budget' THEN 'its Google Ads budget is shared with other campaigns: never changed for one of them'
        WHEN 'immature_data' THEN
            format('its recent days are young: %s; %s would pause it on what has arrived, not on what the days will show',
                   nullif(g.maturity_note, ''), g.rule_name)
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
COMMENT ON FUNCTION _ao_held_reason(anyelement) IS
    'The words a held-back decision shows (held_back, the analytics lists, previews) for its held_code.';

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

CREATE OR REPLACE FUNCTION _ao_expected_impact(g anyelement) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE g.action_type
        WHEN 'pause' THEN jsonb_build_object(
            'daily_spend', round(g.daily_spend, 2), 'roi', round(coalesce(g.roi, 0), 4),
            'daily_loss_avoided', round(g.daily_spend * (1 - coalesce(g.roi, 0)), 2),
            'sentence', format('Avoids about %s of losses a day (spends %s a day at ROI %s×).',
                               ao_money(g.daily_spend * (1 - coalesce(g.roi, 0)), g.currency), ao_money(g.daily_spend, g.currency),
                               round(coalesce(g.roi, 0), 2)))
        WHEN 'scale' THEN jsonb_build_object(
            'added_daily_budget', g.new_budget - g.daily_budget, 'roi', round(coalesce(g.roi, 0), 4),
            'added_daily_revenue', round((g.new_budget - g.daily_budget) * coalesce(g.roi, 0), 2),
            'sentence', format('Adds about %s of revenue a day (%s more budget at ROI %s×).',
                               ao_money((g.new_budget - g.daily_budget) * coalesce(g.roi, 0), g.currency),
                               ao_money(g.new_budget - g.daily_budget, g.currency), round(coalesce(g.roi, 0), 2)))
        ELSE jsonb_build_object(
            'ctr', round(coalesce(g.ctr, 0), 6), 'platforms', to_jsonb(g.platforms),
            'sentence', format('Shares a campaign with a %s%% CTR on %s.', round(coalesce(g.ctr, 0) * 100, 2),
                               coalesce(array_to_string(g.platforms, ', '), 'no platform')))
    END
$$;
COMMENT ON FUNCTION _ao_expected_impact(anyelement) IS
    'The expected impact an action records: for a pause the daily loss avoided = daily spend × (1 − ROI); for a scale the added daily revenue = (new − old budget) × ROI; for a post the CTR and platforms; each with a sentence.';
