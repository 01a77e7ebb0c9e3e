-- 05_settings.sql: changing the guardrails and detector thresholds. The settings are defined once, as
-- the columns of autonomous_settings (names, defaults and ranges as checks); this function reads their
-- names from the catalogue, so a new setting needs no change here.

CREATE OR REPLACE FUNCTION autonomous_setting_names() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(attname::text ORDER BY attnum)
      FROM pg_attribute
     WHERE attrelid = 'autonomous_settings'::regclass AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('id', 'updated_at', 'updated_by')
$$;
COMMENT ON FUNCTION autonomous_setting_names() IS
    'The names of the settings (the columns of autonomous_settings but id, updated_at and updated_by), in table order.';

CREATE OR REPLACE FUNCTION update_autonomous_settings(p_changes jsonb) RETURNS autonomous_settings
LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
    v_row autonomous_settings;
    v_problem text[];
BEGIN
    SELECT k INTO v_key FROM jsonb_object_keys(p_changes) k
     WHERE k <> ALL (autonomous_setting_names()) AND k <> 'account_overrides' LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(left(v_key, 100), 'not a setting');
    END IF;
    IF p_changes ? 'account_overrides' THEN
        PERFORM _ao_update_account_settings(p_changes -> 'account_overrides');
        p_changes := p_changes - 'account_overrides';
    END IF;
    -- a curve refused is named at its position (the table's check would name only the column)
    IF jsonb_typeof(p_changes -> 'maturity_default_curve') = 'array'
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_changes -> 'maturity_default_curve') e
                        WHERE jsonb_typeof(e) <> 'number') THEN
        SELECT ao_maturity_curve_problem(ARRAY(SELECT e::text::numeric FROM jsonb_array_elements(
                   p_changes -> 'maturity_default_curve') e)) INTO v_problem;
        IF v_problem IS NOT NULL THEN
            PERFORM ao_raise_422('maturity_default_curve' || CASE WHEN v_problem[1] <> '' THEN '[' || v_problem[1] || ']' ELSE '' END,
                                 v_problem[2]);
        END IF;
    END IF;
    -- Column names come from the catalogue (the keys were checked against it), values from the
    -- record jsonb_populate_record types; an empty change still records who looked.
    EXECUTE format('UPDATE autonomous_settings s SET %s updated_by = app_auth.actor()
                      FROM jsonb_populate_record(NULL::autonomous_settings, $1) r RETURNING s.*',
                   (SELECT coalesce(string_agg(format('%1$I = r.%1$I, ', k), ''), '')
                      FROM jsonb_object_keys(p_changes) k))
       INTO v_row USING p_changes;
    IF (p_changes ? 'max_scale_factor') AND EXISTS (
           SELECT 1 FROM autonomous_rules
            WHERE rule_type = 'scale' AND (action ->> 'factor')::numeric > v_row.max_scale_factor) THEN
        PERFORM ao_raise_422('max_scale_factor', 'a scale rule has a larger factor; lower its factor first');
    END IF;
    IF (p_changes ? 'hourly_retention_days') AND EXISTS (
           SELECT 1 FROM backtests
            WHERE step = 'hour' AND status IN ('queued', 'running')
              AND ao_hourly_retention_needed(from_at) > v_row.hourly_retention_days) THEN
        PERFORM ao_raise_422('hourly_retention_days', format(
            'a queued hourly backtest needs the hours of the last %s days; wait for it or cancel it first',
            (SELECT max(ao_hourly_retention_needed(from_at)) FROM backtests
              WHERE step = 'hour' AND status IN ('queued', 'running'))));
    END IF;
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION update_autonomous_settings(jsonb) IS
    'Changes the named settings only (unknown names refused) and records who, and the accounts'' overrides given under account_overrides; refuses a max_scale_factor below a scale rule''s factor, since the guardrail must hold for every rule, an hourly_retention_days that would roll up the hours a queued hourly backtest needs, and a maturity curve that breaks its rules, naming the position.';

-- ROWS 1: there is one settings row, and the planner must not cost the joins for a thousand.
CREATE OR REPLACE FUNCTION ao_settings() RETURNS SETOF autonomous_settings
LANGUAGE plpgsql STABLE ROWS 1 AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT * FROM %I LIMIT 1', ao_state_table('settings'));
END;
$$;
COMMENT ON FUNCTION ao_settings() IS
    'The guardrail settings a plan applies: autonomous_settings, or in a backtest the replay''s copy with its overrides.';

-- An account's overrides: the guardrails and the blast-radius limits, the settings that act on its own
-- campaigns and money. The rest (detectors, posting, impact, maturity defaults) is the service's.
CREATE OR REPLACE FUNCTION autonomous_account_setting_names() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(attname::text ORDER BY attnum)
      FROM pg_attribute
     WHERE attrelid = 'account_settings'::regclass AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('account_id', 'updated_at', 'updated_by')
$$;
COMMENT ON FUNCTION autonomous_account_setting_names() IS
    'The settings an ad account can override (the columns of account_settings but account_id, updated_at and updated_by), in table order.';

-- p_overrides: {account id: {setting: value, or null to take the global row's again}}.
CREATE OR REPLACE FUNCTION _ao_update_account_settings(p_overrides jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_account text;
    v_changes jsonb;
    v_key text;
    v_id uuid;
    v_constraint text;
    v_row account_settings;
BEGIN
    IF jsonb_typeof(p_overrides) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422('account_overrides', 'must be an object: ad account id → {setting: value or null}');
    END IF;
    FOR v_account, v_changes IN SELECT key, value FROM jsonb_each(p_overrides) ORDER BY key LOOP
        v_id := CASE WHEN v_account ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     THEN v_account::uuid END;
        IF v_id IS NULL OR NOT EXISTS (SELECT 1 FROM ad_accounts WHERE id = v_id) THEN
            PERFORM ao_raise_422(format('account_overrides.%s', left(v_account, 100)), 'not an ad account (see GET /ad-accounts)');
        END IF;
        IF jsonb_typeof(v_changes) IS DISTINCT FROM 'object' THEN
            PERFORM ao_raise_422(format('account_overrides.%s', v_account), 'must be an object: {setting: value or null}');
        END IF;
        SELECT k INTO v_key FROM jsonb_object_keys(v_changes) k
         WHERE k <> ALL (autonomous_account_setting_names()) LIMIT 1;
        IF v_key IS NOT NULL THEN
            PERFORM ao_raise_422(format('account_overrides.%s.%s', v_account, left(v_key, 100)),
                                 'not a setting an account can override; those are '
                                 || array_to_string(autonomous_account_setting_names(), ', '));
        END IF;
        BEGIN
            INSERT INTO account_settings (account_id) VALUES (v_id) ON CONFLICT (account_id) DO NOTHING;
            -- column names from the catalogue (the keys were checked against it), values typed by the record
            EXECUTE format('UPDATE account_settings o SET %s updated_by = app_auth.actor()
                              FROM jsonb_populate_record(NULL::account_settings, $1) r
                             WHERE o.account_id = $2 RETURNING o.*',
                           (SELECT coalesce(string_agg(format('%1$I = r.%1$I, ', k), ''), '')
                              FROM jsonb_object_keys(v_changes) k))
               INTO v_row USING v_changes, v_id;
        EXCEPTION
            WHEN check_violation OR not_null_violation THEN
                GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                PERFORM _ao_raise_in(format('account_overrides.%s', v_account),
                    coalesce((SELECT obj_description(c.oid, 'pg_constraint') FROM pg_constraint c
                               WHERE c.conrelid = 'account_settings'::regclass AND c.conname = v_constraint),
                             jsonb_build_object('field', substring(v_constraint FROM '^account_settings_(.*)_check$'))::text),
                    'out of its range (see GET /settings)');
            WHEN invalid_text_representation OR numeric_value_out_of_range OR datatype_mismatch THEN
                PERFORM ao_raise_422(format('account_overrides.%s', v_account),
                                     'each override must be a number in its setting''s range, or null: ' || SQLERRM);
        END;
        IF v_row.max_scale_factor IS NOT NULL AND EXISTS (
               SELECT 1 FROM autonomous_rules
                WHERE rule_type = 'scale' AND (account_ids IS NULL OR v_id = ANY (account_ids))
                  AND (action ->> 'factor')::numeric > v_row.max_scale_factor) THEN
            PERFORM ao_raise_422(format('account_overrides.%s.max_scale_factor', v_account),
                                 'a scale rule for this account has a larger factor; lower its factor first');
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION _ao_update_account_settings(jsonb) IS
    'Writes accounts'' overrides ({account id: {setting: value or null}}; null takes the global row''s value again): AO422 naming account_overrides.<id>[.<setting>] for an unknown account, a setting an account cannot override, a value out of the range the global row has, or a max_scale_factor below a factor of a scale rule that applies to the account.';

-- ROWS 50: the accounts of an agency, not a thousand.
CREATE OR REPLACE FUNCTION ao_account_settings()
RETURNS TABLE (account_id uuid, currency text, min_spend numeric, max_scale_factor numeric,
               min_scale_confidence numeric, rollback_quiet_hours integer, post_spacing_hours integer,
               breaker_revenue_ratio numeric, breaker_spend_ratio numeric, max_pause_spend_share numeric,
               max_daily_budget_increase_pct numeric, max_total_daily_budget numeric)
LANGUAGE sql STABLE ROWS 50 AS $$
    SELECT a.id, a.currency, coalesce(o.min_spend, g.min_spend), coalesce(o.max_scale_factor, g.max_scale_factor),
           coalesce(o.min_scale_confidence, g.min_scale_confidence),
           coalesce(o.rollback_quiet_hours, g.rollback_quiet_hours),
           coalesce(o.post_spacing_hours, g.post_spacing_hours),
           coalesce(o.breaker_revenue_ratio, g.breaker_revenue_ratio),
           coalesce(o.breaker_spend_ratio, g.breaker_spend_ratio),
           coalesce(o.max_pause_spend_share, g.max_pause_spend_share),
           coalesce(o.max_daily_budget_increase_pct, g.max_daily_budget_increase_pct),
           coalesce(o.max_total_daily_budget, g.max_total_daily_budget)
      FROM ad_accounts a
     CROSS JOIN ao_settings() g
      LEFT JOIN account_settings o ON o.account_id = a.id
$$;
COMMENT ON FUNCTION ao_account_settings() IS
    'Decides which guardrails and limits hold for each ad account: its override where it has one, else the global row (in a backtest, the replay''s global row with its what-if overrides, under the same account overrides as live).';

CREATE OR REPLACE FUNCTION ao_account_overrides() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(o.account_id,
                                     jsonb_strip_nulls(to_jsonb(o) - 'account_id' - 'updated_at' - 'updated_by')
                                     ORDER BY o.account_id), '{}')
      FROM account_settings o
     WHERE jsonb_strip_nulls(to_jsonb(o) - 'account_id' - 'updated_at' - 'updated_by') <> '{}'
$$;
COMMENT ON FUNCTION ao_account_overrides() IS
    'The accounts'' overrides as GET /settings shows them: {account id: {setting: value}}, only the settings an account overrides.';
