-- 016_house_in_order.sql: one name per concept and one source for the values that cross into SQL,
-- bounds that no computation can trip on, and backtests a person can cancel.

-- The event types an endpoint may subscribe to: the one list (the API's model and the Slack texts
-- are held to it by a test). It lives here, with the checks that use it; a migration that adds an
-- event type replaces it.
CREATE OR REPLACE FUNCTION ao_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['action.executed', 'action.rolled_back', 'cycle.failed', 'cycle.held', 'cycle.limited',
                 'rule.error', 'opportunity.opened', 'post.failed', 'post.unknown', 'social_account.expired']
$$;
COMMENT ON FUNCTION ao_event_types() IS
    'The event types a webhook endpoint may subscribe to (webhook.test, sent on request to one endpoint, is not among them).';

ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_event_types_check,
    ADD CONSTRAINT webhook_endpoints_event_types_check
        CHECK (cardinality(event_types) <= 20 AND event_types <@ ao_event_types());
COMMENT ON CONSTRAINT webhook_endpoints_event_types_check ON webhook_endpoints IS
    '{"field": "event_types", "message": "must list at most 20 known event types (those of ao_event_types(), e.g. action.executed)"}';

ALTER TABLE webhook_events
    DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type = ANY (ao_event_types()) OR type = 'webhook.test');

-- A number setting is 0 or at least 10^-9: a smaller positive value means nothing to a rate or a ratio
-- and underflows the double-precision statistics the detectors compute with.
CREATE OR REPLACE FUNCTION ao_is_meaningful(p numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p IS NULL OR p = 0 OR abs(p) >= 1e-9 $$;
COMMENT ON FUNCTION ao_is_meaningful(numeric) IS
    'True for 0 and for a number at least 10^-9 in size: the smallest step a number setting takes.';

-- One check per number setting, so that a refusal names it; the bound a setting's step is measured
-- from is 1 for the factor and the ratio that start there, 0 for the others.
DO $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM (VALUES
        ('min_spend', 0), ('max_scale_factor', 1), ('min_scale_confidence', 0), ('low_conversion_max_rate', 0),
        ('high_traffic_click_quantile', 0), ('high_traffic_rate_ratio', 0), ('decline_ratio', 0),
        ('under_delivery_ratio', 0), ('audience_high_ctr', 0), ('audience_low_conversion_rate', 0),
        ('audience_low_ctr', 0), ('fatigue_min_frequency', 0), ('fatigue_ctr_drop', 0), ('timing_min_ratio', 1),
        ('breaker_revenue_ratio', 0), ('breaker_spend_ratio', 0), ('max_pause_spend_share', 0),
        ('max_daily_budget_increase_pct', 0), ('max_total_daily_budget', 0)) AS t(name, origin)
    LOOP
        EXECUTE format('ALTER TABLE autonomous_settings ADD CONSTRAINT %I CHECK (ao_is_meaningful(%I - %s))',
                       'autonomous_settings_' || s.name || '_step_check', s.name, s.origin);
        EXECUTE format('COMMENT ON CONSTRAINT %I ON autonomous_settings IS %L',
                       'autonomous_settings_' || s.name || '_step_check',
                       jsonb_build_object('field', s.name, 'message',
                           CASE s.origin WHEN 0 THEN 'must be 0 or at least 0.000000001 (e.g. 0.5, not 1e-12)'
                                ELSE 'must be 1 or at least 0.000000001 above it (e.g. 1.5, not 1 + 1e-12)' END)::text);
    END LOOP;
END;
$$;

-- Backtests a person can cancel: a cancelled one is never run again.
ALTER TABLE backtests
    DROP CONSTRAINT backtests_status_check,
    ADD CONSTRAINT backtests_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    ADD COLUMN cancelled_by text,
    ADD CONSTRAINT backtests_cancelled_check CHECK (cancelled_by IS NULL OR status = 'cancelled');

-- Gone or renamed (their current code, under the new names, is in sql/functions/):
--   evaluate_autonomous_rules: unused since the plan reads _ao_matches itself;
--   the social-post dispatch functions: a social post is a post, "delivery" is a webhook's;
--   the two lock-key functions: every advisory lock key is ao_lock_key(name)'s;
--   the held-back words and the reason (now quoting the figures of the rule's own windows);
--   the analytics lists, whose held_reason column was blocked_reason.
DROP FUNCTION IF EXISTS evaluate_autonomous_rules(text[]);
DROP FUNCTION IF EXISTS claim_due_deliveries(integer, interval);
DROP FUNCTION IF EXISTS record_delivery_accepted(uuid, text);
DROP FUNCTION IF EXISTS finish_delivery(uuid, text, text, timestamptz, boolean);
DROP FUNCTION IF EXISTS ao_delivery_document(social_posts);
DROP FUNCTION IF EXISTS _ao_cycle_lock_key();
DROP FUNCTION IF EXISTS _ao_evaluation_lock_key();
DROP FUNCTION IF EXISTS _ao_blocked_reason(anyelement);
DROP FUNCTION IF EXISTS _ao_action_reason(anyelement, text);
DROP FUNCTION IF EXISTS identify_underperforming_campaigns();
DROP FUNCTION IF EXISTS identify_scaling_candidates();
