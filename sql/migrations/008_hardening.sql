-- 008_hardening.sql: every input bounded, idempotency keys bound to their request, and an audit trail
-- that holds in every session_replication_role.
--
-- The bounds are the API's (README, "Bounds"): money finite, >= 0 and < 10^12; counts whole numbers in
-- [0, 2^53); text without NUL or other C0 control characters (tab and newline allowed). They are
-- checks of the tables, so psql callers are refused like API callers. The three helper functions
-- below belong to those checks (a check cannot outlive its function), so they live here, with the
-- tables, and not in sql/functions/.

-- ---------------------------------------------------------------------------------------------
-- Bounds
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ao_is_clean_text(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p IS NULL OR p !~ '[\x01-\x08\x0B-\x1F]' $$;
COMMENT ON FUNCTION ao_is_clean_text(text) IS
    'True when a text holds no C0 control character other than tab and newline (PostgreSQL text never holds NUL).';

CREATE OR REPLACE FUNCTION ao_is_money(p numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p IS NULL OR (p >= 0 AND p < 1e12) $$;
COMMENT ON FUNCTION ao_is_money(numeric) IS
    'True for an amount of money within bounds: >= 0 and < 10^12 (NaN and infinities are out).';

CREATE OR REPLACE FUNCTION ao_is_count(p numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p IS NULL OR (p >= 0 AND p <= 9007199254740991 AND p = trunc(p)) $$;
COMMENT ON FUNCTION ao_is_count(numeric) IS
    'True for a count within bounds: a whole number in [0, 2^53), the integers a JSON client represents exactly.';

ALTER TABLE campaigns
    DROP CONSTRAINT campaigns_daily_budget_check,
    ADD CONSTRAINT campaigns_external_id_text_check CHECK (ao_is_clean_text(external_id)),
    ADD CONSTRAINT campaigns_title_text_check CHECK (ao_is_clean_text(title)),
    ADD CONSTRAINT campaigns_description_check
        CHECK (length(description) <= 10000 AND ao_is_clean_text(description)),
    ADD CONSTRAINT campaigns_cta_label_check
        CHECK (length(cta_label) <= 100 AND ao_is_clean_text(cta_label)),
    ADD CONSTRAINT campaigns_image_url_check
        CHECK (length(image_url) <= 2048 AND image_url ~ '^https?://[^\x01-\x20\x7F]+$'),
    ADD CONSTRAINT campaigns_landing_url_check
        CHECK (length(landing_url) <= 2048 AND landing_url ~ '^https?://[^\x01-\x20\x7F]+$'),
    ADD CONSTRAINT campaigns_daily_budget_check CHECK (ao_is_money(daily_budget)),
    ADD CONSTRAINT campaigns_max_budget_bounds_check CHECK (ao_is_money(max_budget));

ALTER TABLE campaign_metrics
    DROP CONSTRAINT campaign_metrics_counts_check,
    DROP CONSTRAINT campaign_metrics_money_check,
    ADD CONSTRAINT campaign_metrics_counts_check CHECK (
        ao_is_count(impressions) AND ao_is_count(reach) AND ao_is_count(clicks) AND ao_is_count(conversions)),
    ADD CONSTRAINT campaign_metrics_money_check CHECK (ao_is_money(spend) AND ao_is_money(revenue));

ALTER TABLE autonomous_rules
    ADD CONSTRAINT autonomous_rules_name_text_check CHECK (ao_is_clean_text(name)),
    ADD CONSTRAINT autonomous_rules_description_check
        CHECK (length(description) <= 2000 AND ao_is_clean_text(description));

ALTER TABLE social_accounts
    ADD CONSTRAINT social_accounts_account_id_check CHECK (account_id ~ '^[A-Za-z0-9_.:-]{1,200}$'),
    ADD CONSTRAINT social_accounts_display_name_check
        CHECK (length(display_name) <= 200 AND ao_is_clean_text(display_name));

ALTER TABLE autonomous_actions
    ADD CONSTRAINT autonomous_actions_rollback_reason_check
        CHECK (length(rollback_reason) <= 1000 AND ao_is_clean_text(rollback_reason)),
    -- Rollback fields come only with status rolled_back, and an executed action has its execution time.
    ADD CONSTRAINT autonomous_actions_rollback_fields_check CHECK (CASE WHEN status = 'rolled_back'
        THEN rolled_back_at IS NOT NULL
        ELSE rolled_back_at IS NULL AND rolled_back_by IS NULL AND rollback_reason IS NULL END),
    ADD CONSTRAINT autonomous_actions_executed_at_check
        CHECK (status NOT IN ('executed', 'rolled_back') OR executed_at IS NOT NULL);

-- The settings' ranges, the same as the API's.
ALTER TABLE autonomous_settings
    ADD CONSTRAINT autonomous_settings_bounds_check CHECK (
        min_spend < 1e12
        AND post_spacing_hours <= 1000000 AND post_lead_minutes <= 1000000
        AND impact_window_hours <= 1000000 AND rollback_quiet_hours <= 1000000
        AND opportunity_quiet_days <= 1000000 AND low_conversion_min_clicks <= 1000000
        AND decline_min_clicks <= 1000000 AND audience_min_impressions <= 1000000
        AND timing_min_clicks <= 1000000
        AND fatigue_min_frequency <= 1000000 AND timing_min_ratio <= 1000000);

-- ---------------------------------------------------------------------------------------------
-- Idempotency keys bound to their request, kept 24 hours
-- ---------------------------------------------------------------------------------------------

ALTER TABLE autonomous_cycles
    DROP CONSTRAINT autonomous_cycles_idempotency_key_key,
    ADD COLUMN idempotency_fingerprint text,
    ADD CONSTRAINT autonomous_cycles_idempotency_key_check
        CHECK (length(idempotency_key) <= 200 AND idempotency_key ~ '^[\x21-\x7E]+$');
CREATE INDEX autonomous_cycles_idempotency_idx ON autonomous_cycles (idempotency_key, started_at DESC)
    WHERE idempotency_key IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- The audit trail holds in every session_replication_role
-- ---------------------------------------------------------------------------------------------

-- ENABLE ALWAYS: the guards, the counters and the rule validation fire with session_replication_role
-- = replica too, which otherwise silences ordinary triggers (even for a superuser).
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_no_delete;
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_no_truncate;
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_forward_only;
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_count_insert;
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_count_update;
ALTER TABLE optimization_opportunities ENABLE ALWAYS TRIGGER optimization_opportunities_count_insert;
ALTER TABLE optimization_opportunities ENABLE ALWAYS TRIGGER optimization_opportunities_count_update;
ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_validate;
