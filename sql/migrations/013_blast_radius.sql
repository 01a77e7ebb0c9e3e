-- 013_blast_radius.sql: the limits an autonomous engine keeps on its worst day. A data-outage breaker
-- (a broken revenue or conversion feed holds the cycle), a cap on the spend one cycle may pause, and
-- caps on how fast and how far scales may raise the account's daily budget; a held cycle can be
-- released by a person.

ALTER TABLE autonomous_settings
    ADD COLUMN breaker_revenue_ratio numeric NOT NULL DEFAULT 0.2
        CONSTRAINT autonomous_settings_breaker_revenue_ratio_check CHECK (breaker_revenue_ratio > 0 AND breaker_revenue_ratio <= 1),
    ADD COLUMN breaker_spend_ratio numeric NOT NULL DEFAULT 0.5
        CONSTRAINT autonomous_settings_breaker_spend_ratio_check CHECK (breaker_spend_ratio > 0 AND breaker_spend_ratio <= 1),
    ADD COLUMN max_pause_spend_share numeric NOT NULL DEFAULT 0.3
        CONSTRAINT autonomous_settings_max_pause_spend_share_check CHECK (max_pause_spend_share > 0 AND max_pause_spend_share <= 1),
    ADD COLUMN max_daily_budget_increase_pct numeric NOT NULL DEFAULT 50
        CONSTRAINT autonomous_settings_max_daily_budget_increase_pct_check
        CHECK (max_daily_budget_increase_pct > 0 AND max_daily_budget_increase_pct <= 1000),
    ADD COLUMN max_total_daily_budget numeric
        CONSTRAINT autonomous_settings_max_total_daily_budget_check CHECK (ao_is_money(max_total_daily_budget));
COMMENT ON CONSTRAINT autonomous_settings_breaker_revenue_ratio_check ON autonomous_settings IS
    '{"field": "breaker_revenue_ratio", "message": "must be a ratio above 0 and at most 1"}';
COMMENT ON CONSTRAINT autonomous_settings_breaker_spend_ratio_check ON autonomous_settings IS
    '{"field": "breaker_spend_ratio", "message": "must be a ratio above 0 and at most 1"}';
COMMENT ON CONSTRAINT autonomous_settings_max_pause_spend_share_check ON autonomous_settings IS
    '{"field": "max_pause_spend_share", "message": "must be a share above 0 and at most 1"}';
COMMENT ON CONSTRAINT autonomous_settings_max_daily_budget_increase_pct_check ON autonomous_settings IS
    '{"field": "max_daily_budget_increase_pct", "message": "must be a percentage above 0 and at most 1000"}';
COMMENT ON CONSTRAINT autonomous_settings_max_total_daily_budget_check ON autonomous_settings IS
    '{"field": "max_total_daily_budget", "message": "must be null (no cap) or an amount >= 0 and < 1000000000000"}';

ALTER TABLE autonomous_cycles
    DROP CONSTRAINT autonomous_cycles_status_check,
    ADD CONSTRAINT autonomous_cycles_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'held')),
    DROP CONSTRAINT autonomous_cycles_trigger_check,
    ADD CONSTRAINT autonomous_cycles_trigger_check CHECK (trigger IN ('api', 'cron', 'sql', 'cli', 'metrics', 'release')),
    ADD COLUMN released_at timestamptz,
    ADD COLUMN released_by text,
    ADD COLUMN released_by_cycle_id uuid REFERENCES autonomous_cycles (id) ON DELETE RESTRICT,
    ADD CONSTRAINT autonomous_cycles_release_check CHECK (released_at IS NULL OR status = 'held');

ALTER TABLE webhook_endpoints
    DROP CONSTRAINT webhook_endpoints_event_types_check,
    ADD CONSTRAINT webhook_endpoints_event_types_check
        CHECK (cardinality(event_types) <= 20 AND event_types <@ ARRAY[
            'action.executed', 'action.rolled_back', 'cycle.failed', 'cycle.held', 'cycle.limited', 'rule.error',
            'opportunity.opened', 'post.failed', 'post.unknown', 'social_account.expired']::text[]);
COMMENT ON CONSTRAINT webhook_endpoints_event_types_check ON webhook_endpoints IS
    '{"field": "event_types", "message": "must list known event types: action.executed, action.rolled_back, cycle.failed, cycle.held, cycle.limited, rule.error, opportunity.opened, post.failed, post.unknown, social_account.expired"}';

ALTER TABLE webhook_events
    DROP CONSTRAINT webhook_events_type_check,
    ADD CONSTRAINT webhook_events_type_check CHECK (type IN (
        'action.executed', 'action.rolled_back', 'cycle.failed', 'cycle.held', 'cycle.limited', 'rule.error',
        'opportunity.opened', 'post.failed', 'post.unknown', 'social_account.expired', 'webhook.test'));

-- A replayed step now reports what the limits held, and the result lists those steps.
DROP FUNCTION IF EXISTS _ao_replay_step(uuid, timestamptz);
DROP FUNCTION IF EXISTS _ao_backtest_result(timestamptz, timestamptz, text, integer);
