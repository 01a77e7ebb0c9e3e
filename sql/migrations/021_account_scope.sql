-- 021_account_scope.sql: the account as the unit of operation.
--   * account_settings: per-account overrides of the guardrails and the blast-radius limits (NULL: the
--     global row's value); each column keeps the range autonomous_settings gives it, copied from its
--     checks, so one definition of a setting's range holds for both rows;
--   * scoped access: a token whose app_metadata.accounts lists ad account ids reads and acts on those
--     accounts only (campaigns, metrics, actions, opportunities, changes, rules that apply only to them);
--     the rest stays for admins and service callers.

CREATE TABLE account_settings (
    account_id uuid PRIMARY KEY REFERENCES ad_accounts (id),
    min_spend numeric,
    max_scale_factor numeric,
    min_scale_confidence numeric,
    rollback_quiet_hours integer,
    post_spacing_hours integer,
    breaker_revenue_ratio numeric,
    breaker_spend_ratio numeric,
    max_pause_spend_share numeric,
    max_daily_budget_increase_pct numeric,
    max_total_daily_budget numeric,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text,
    CONSTRAINT account_settings_bounds_check
        CHECK (min_spend < 1000000000000 AND rollback_quiet_hours <= 1000000 AND post_spacing_hours <= 1000000)
);
COMMENT ON TABLE account_settings IS
    'An ad account''s overrides of the guardrails and blast-radius limits; a NULL column takes the global row''s value (autonomous_settings).';
COMMENT ON CONSTRAINT account_settings_bounds_check ON account_settings IS
    '{"field": "settings", "message": "min_spend must be below 1,000,000,000,000, rollback_quiet_hours and post_spacing_hours at most 1,000,000"}';

-- Every single-column check of the global row, on the same column here, with its words.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT k.conname, pg_get_constraintdef(k.oid) AS definition, obj_description(k.oid, 'pg_constraint') AS words
          FROM pg_constraint k
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE k.conrelid = 'autonomous_settings'::regclass AND k.contype = 'c' AND cardinality(k.conkey) = 1
           AND a.attname IN (SELECT attname FROM pg_attribute
                              WHERE attrelid = 'account_settings'::regclass AND attnum > 0 AND NOT attisdropped)
         ORDER BY k.conname
    LOOP
        EXECUTE format('ALTER TABLE account_settings ADD CONSTRAINT %I %s',
                       replace(c.conname, 'autonomous_settings_', 'account_settings_'), c.definition);
        IF c.words IS NOT NULL THEN
            EXECUTE format('COMMENT ON CONSTRAINT %I ON account_settings IS %L',
                           replace(c.conname, 'autonomous_settings_', 'account_settings_'), c.words);
        END IF;
    END LOOP;
END;
$$;

CREATE TRIGGER account_settings_touch BEFORE UPDATE ON account_settings
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- The scope helpers start as refusals; sql/functions/00_access.sql defines them.
CREATE OR REPLACE FUNCTION app_auth.account_scope() RETURNS uuid[]
LANGUAGE sql STABLE AS $$ SELECT NULL::uuid[] $$;

ALTER TABLE account_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_settings_privileged ON account_settings FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON account_settings TO ao_app;

-- A scoped token: its accounts' rows. Permissive policies add up (OR) with the privileged ones; the
-- scope is read once per statement, and for an admin (no scope) the second arm is never evaluated.
CREATE POLICY ad_accounts_scoped ON ad_accounts FOR SELECT TO ao_app
    USING (id = ANY ((SELECT app_auth.account_scope())::uuid[]));
CREATE POLICY campaigns_scoped ON campaigns FOR ALL TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]))
    WITH CHECK (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
CREATE POLICY campaign_metrics_scoped ON campaign_metrics FOR SELECT TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])));
CREATE POLICY metric_revisions_scoped ON metric_revisions FOR SELECT TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])));
CREATE POLICY autonomous_actions_scoped ON autonomous_actions FOR ALL TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])))
    WITH CHECK ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])));
CREATE POLICY optimization_opportunities_scoped ON optimization_opportunities FOR ALL TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])))
    WITH CHECK ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])));
CREATE POLICY ad_account_syncs_scoped ON ad_account_syncs FOR SELECT TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
CREATE POLICY account_maturity_scoped ON account_maturity FOR SELECT TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
CREATE POLICY account_settings_scoped ON account_settings FOR SELECT TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
-- a person's rollback or approval writes the change its platform gets
CREATE POLICY platform_changes_scoped ON platform_changes FOR ALL TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]))
    WITH CHECK (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
-- rules that apply to the token's accounts only (a rule for every account is the agency's)
CREATE POLICY autonomous_rules_scoped ON autonomous_rules FOR ALL TO ao_app
    USING (account_ids <@ (SELECT app_auth.account_scope()))
    WITH CHECK (account_ids <@ (SELECT app_auth.account_scope()));
-- the global settings are read by the decisions a scoped person takes (never written)
CREATE POLICY autonomous_settings_scoped ON autonomous_settings FOR SELECT TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL);

-- The dashboard's figures per currency and for one account on request: the function files define the
-- new signatures.
DROP FUNCTION IF EXISTS autonomous_daily(integer);
DROP FUNCTION IF EXISTS autonomous_stats();
