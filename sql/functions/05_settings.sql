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
     WHERE k <> ALL (autonomous_setting_names()) LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(left(v_key, 100), 'not a setting');
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
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION update_autonomous_settings(jsonb) IS
    'Changes the named settings only (unknown names refused) and records who; refuses a max_scale_factor below a scale rule''s factor, since the guardrail must hold for every rule, and a maturity curve that breaks its rules, naming the position.';

-- ROWS 1: there is one settings row, and the planner must not cost the joins for a thousand.
CREATE OR REPLACE FUNCTION ao_settings() RETURNS SETOF autonomous_settings
LANGUAGE plpgsql STABLE ROWS 1 AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT * FROM %I LIMIT 1', ao_state_table('settings'));
END;
$$;
COMMENT ON FUNCTION ao_settings() IS
    'The guardrail settings a plan applies: autonomous_settings, or in a backtest the replay''s copy with its overrides.';
