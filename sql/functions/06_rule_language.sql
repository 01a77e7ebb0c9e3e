-- 06_rule_language.sql: what a rule may say, and what it means in SQL. A rule's conditions are a JSON
-- tree ({"all": [...]} or {"any": [...]} of conditions {metric, op, value, window} and groups, 3 deep),
-- validated here for every rule written (a trigger: psql callers too) and compiled from whitelisted
-- identifiers and typed literals into one set-based query over the cycle's window sums, both the
-- WHERE clause (does it match?) and the confidence (how sure is the match?).

CREATE OR REPLACE FUNCTION rule_metrics() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['roi', 'spend', 'revenue', 'impressions', 'reach', 'clicks', 'conversions', 'ctr', 'cpc',
                 'cpa', 'conversion_rate', 'frequency', 'hours_running', 'days_running', 'daily_budget',
                 'budget_utilization']
$$;
COMMENT ON FUNCTION rule_metrics() IS 'The metrics a rule condition may name (the whitelist; docs/decisions.md, "Rule conditions").';

CREATE OR REPLACE FUNCTION rule_windows() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['lifetime', 'last_24h', 'last_48h', 'last_7d', 'last_14d', 'last_30d']
$$;
COMMENT ON FUNCTION rule_windows() IS 'The windows a rule condition may name.';

CREATE OR REPLACE FUNCTION rule_operators() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['lt', 'lte', 'gt', 'gte', 'eq', 'neq', 'between']
$$;
COMMENT ON FUNCTION rule_operators() IS 'The comparison operators a rule condition may use.';

-- Callers validate the metric and the window first.
CREATE OR REPLACE FUNCTION rule_metric_sql(p_metric text, p_window text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_metric
        WHEN 'roi'             THEN format('(s.revenue_%1$s / NULLIF(s.spend_%1$s, 0))', p_window)
        WHEN 'ctr'             THEN format('(s.clicks_%1$s / NULLIF(s.impressions_%1$s, 0))', p_window)
        WHEN 'cpc'             THEN format('(s.spend_%1$s / NULLIF(s.clicks_%1$s, 0))', p_window)
        WHEN 'cpa'             THEN format('(s.spend_%1$s / NULLIF(s.conversions_%1$s, 0))', p_window)
        WHEN 'conversion_rate' THEN format('(s.conversions_%1$s / NULLIF(s.clicks_%1$s, 0))', p_window)
        WHEN 'frequency'       THEN format('(s.impressions_%1$s / NULLIF(s.reach_%1$s, 0))', p_window)
        WHEN 'hours_running'   THEN 's.hours_running'
        WHEN 'days_running'    THEN '(s.hours_running / 24.0)'
        WHEN 'daily_budget'    THEN 's.daily_budget'
        WHEN 'budget_utilization' THEN format('(s.spend_%s / NULLIF(s.daily_budget * %s, 0))', p_window,
            CASE p_window WHEN 'last_24h' THEN '1' WHEN 'last_48h' THEN '2' WHEN 'last_7d' THEN '7'
                          WHEN 'last_14d' THEN '14' WHEN 'last_30d' THEN '30'
                          ELSE 'greatest(s.hours_running / 24.0, 1)' END)
        ELSE format('s.%s_%s', p_metric, p_window)   -- spend, revenue, impressions, reach, clicks, conversions
    END
$$;
COMMENT ON FUNCTION rule_metric_sql(text, text) IS
    'Maps a whitelisted (metric, window) to its SQL expression over the cycle''s window sums (_ao_stats); ratios are NULL when the divisor is 0, so a rule never matches on missing data.';

-- A compiled rule read as reported: its conversions and revenue figures are the reported columns the
-- window sums keep beside the matured ones (the names come from rule_metric_sql's whitelist).
CREATE OR REPLACE FUNCTION ao_as_reported(p_sql text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(p_sql, '\ms\.(conversions|revenue)_(lifetime|last_24h|last_48h|last_7d|prev_7d|last_14d|last_30d)(?!_reported)\M',
                          's.\1_\2_reported', 'g')
$$;
COMMENT ON FUNCTION ao_as_reported(text) IS
    'A compiled rule''s SQL over the conversions and revenue as reported so far (a rule with reading as_reported), instead of the young days read as they will show.';

-- The windows a rule's conversions and revenue conditions read (the first its words of young data quote).
CREATE OR REPLACE FUNCTION ao_maturity_note_sql(p_conditions jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((
        SELECT format($f$format('%s: %%s %%%% of %s expected so far', round(100 * s.%s_%s_reported / NULLIF(s.%s_%s, 0)))$f$,
                      CASE w WHEN 'last_24h' THEN 'last 24 h' WHEN 'last_48h' THEN 'last 48 h' WHEN 'last_7d' THEN 'last 7 days'
                             WHEN 'last_14d' THEN 'last 14 days' WHEN 'last_30d' THEN 'last 30 days'
                             WHEN 'prev_7d' THEN 'the 7 days before' ELSE 'lifetime' END,
                      f, f, w, f, w)
          FROM (SELECT coalesce(leaf ->> 'window', 'lifetime') AS w,
                       CASE leaf ->> 'metric' WHEN 'revenue' THEN 'revenue' ELSE 'conversions' END AS f
                  FROM jsonb_path_query(p_conditions, 'strict $.**?(@.metric != null)') leaf
                 WHERE leaf ->> 'metric' IN ('roi', 'revenue', 'conversions', 'cpa', 'conversion_rate')) l
         ORDER BY array_position(ARRAY['last_24h', 'last_48h', 'last_7d', 'last_14d', 'last_30d', 'prev_7d', 'lifetime'], w)
         LIMIT 1), '''''')
$$;
COMMENT ON FUNCTION ao_maturity_note_sql(jsonb) IS
    'The SQL expression of a rule''s words on young data: in the shortest window its conversions or revenue conditions read, the share of what is expected that has been reported so far.';

CREATE OR REPLACE FUNCTION _ao_compile_group(p_node jsonb, p_path text, p_depth integer, p_mode text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text := CASE WHEN p_node ? 'all' THEN 'all' ELSE 'any' END;
    v_parts text[];
BEGIN
    IF (SELECT count(*) FROM jsonb_object_keys(p_node)) <> 1 THEN
        PERFORM ao_raise_422(p_path, 'a group has exactly one key, "all" or "any"');
    END IF;
    IF p_depth > 3 THEN
        PERFORM ao_raise_422(p_path, 'groups nest at most 3 deep');
    END IF;
    IF jsonb_typeof(p_node -> v_key) IS DISTINCT FROM 'array' OR jsonb_array_length(p_node -> v_key) = 0 THEN
        PERFORM ao_raise_422(p_path || '.' || v_key, 'must be a non-empty array of conditions or groups');
    END IF;
    IF jsonb_array_length(p_node -> v_key) > 20 THEN
        PERFORM ao_raise_422(p_path || '.' || v_key, 'holds at most 20 conditions or groups');
    END IF;
    SELECT array_agg(_ao_compile_node(e, format('%s.%s[%s]', p_path, v_key, i - 1), p_depth + 1, p_mode) ORDER BY i)
      INTO v_parts
      FROM jsonb_array_elements(p_node -> v_key) WITH ORDINALITY AS t(e, i);
    IF p_mode = 'match' THEN
        RETURN '(' || array_to_string(v_parts, CASE v_key WHEN 'all' THEN ' AND ' ELSE ' OR ' END) || ')';
    END IF;
    -- Confidence of a group: all holds as surely as its least sure part, any as its surest.
    RETURN CASE v_key WHEN 'all' THEN 'LEAST(' ELSE 'GREATEST(' END || array_to_string(v_parts, ', ') || ')';
END;
$$;
COMMENT ON FUNCTION _ao_compile_group(jsonb, text, integer, text) IS
    'Validates a group of a rule''s conditions (one key, all or any; 1 to 20 members; at most 3 deep) and compiles it: AND/OR of its members (match) or their minimum/maximum (confidence).';

CREATE OR REPLACE FUNCTION _ao_compile_comparison(p_node jsonb, p_path text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text;
    v_metric text := p_node ->> 'metric';
    v_op text := p_node ->> 'op';
    v_window text := coalesce(p_node ->> 'window', 'lifetime');
    v_value jsonb := p_node -> 'value';
    v_expr text;
BEGIN
    SELECT k INTO v_key FROM jsonb_object_keys(p_node) k
     WHERE k NOT IN ('metric', 'op', 'value', 'window') LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(p_path || '.' || left(v_key, 100), 'unknown key; a condition has metric, op, value and window');
    END IF;
    IF v_metric IS NULL OR NOT v_metric = ANY (rule_metrics()) THEN
        PERFORM ao_raise_422(p_path || '.metric', 'must be one of ' || array_to_string(rule_metrics(), ', '));
    END IF;
    IF v_op IS NULL OR NOT v_op = ANY (rule_operators()) THEN
        PERFORM ao_raise_422(p_path || '.op', 'must be one of ' || array_to_string(rule_operators(), ', '));
    END IF;
    IF (p_node ? 'window' AND jsonb_typeof(p_node -> 'window') <> 'string') OR NOT v_window = ANY (rule_windows()) THEN
        PERFORM ao_raise_422(p_path || '.window', 'must be one of ' || array_to_string(rule_windows(), ', '));
    END IF;
    IF v_metric IN ('hours_running', 'days_running', 'daily_budget') AND v_window <> 'lifetime' THEN
        PERFORM ao_raise_422(p_path || '.window', format('%s has no window: omit it or use lifetime', v_metric));
    END IF;
    IF v_op = 'between' THEN
        IF jsonb_typeof(v_value) IS DISTINCT FROM 'array' OR jsonb_array_length(v_value) <> 2
           OR jsonb_typeof(v_value -> 0) <> 'number' OR jsonb_typeof(v_value -> 1) <> 'number'
           OR abs((v_value ->> 0)::numeric) >= 1e12 OR abs((v_value ->> 1)::numeric) >= 1e12
           OR (v_value ->> 0)::numeric > (v_value ->> 1)::numeric THEN
            PERFORM ao_raise_422(p_path || '.value', 'between takes [low, high]: two finite numbers with |v| < 1000000000000, low <= high');
        END IF;
    ELSIF jsonb_typeof(v_value) IS DISTINCT FROM 'number' OR abs((v_value #>> '{}')::numeric) >= 1e12 THEN
        PERFORM ao_raise_422(p_path || '.value', 'must be a finite number with |value| < 1000000000000');
    END IF;

    v_expr := rule_metric_sql(v_metric, v_window);
    IF v_op = 'between' THEN
        RETURN format('%s BETWEEN %L::numeric AND %L::numeric', v_expr, v_value ->> 0, v_value ->> 1);
    END IF;
    RETURN format('%s %s %L::numeric', v_expr,
                  CASE v_op WHEN 'lt' THEN '<' WHEN 'lte' THEN '<=' WHEN 'gt' THEN '>' WHEN 'gte' THEN '>='
                            WHEN 'eq' THEN '=' ELSE '<>' END,
                  v_value #>> '{}');
END;
$$;
COMMENT ON FUNCTION _ao_compile_comparison(jsonb, text) IS
    'Validates one condition of a rule (whitelisted metric, op and window; a finite value with |v| < 10^12, a [low, high] pair for between) and returns its SQL comparison; raises AO422 naming the bad part.';

-- The threshold enters the float8 formulas rounded to 12 decimals (1e-400 is a JSON number but no
-- double precision one).
CREATE OR REPLACE FUNCTION _ao_condition_confidence(p_node jsonb, p_comparison text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_metric text := p_node ->> 'metric';
    v_op text := p_node ->> 'op';
    v_window text := coalesce(p_node ->> 'window', 'lifetime');
    v_dir integer := CASE WHEN v_op IN ('gt', 'gte') THEN 1 WHEN v_op IN ('lt', 'lte') THEN -1 ELSE 0 END;
    v_v numeric := CASE WHEN v_op <> 'between' THEN round((p_node #>> '{value}')::numeric, 12) END;
    v_expr text := rule_metric_sql(v_metric, v_window);
    v_n text;
BEGIN
    IF v_dir <> 0 AND v_metric IN ('roi', 'cpa', 'cpc') THEN
        -- Var(ln ratio) ≈ 1 / (n + 1), n the conversions as reported: a young day's nowcast (reported ÷
        -- F) rests on the conversions seen so far, not on those it expects; float8, as numeric ln() and
        -- sqrt() cost far more
        v_n := format('s.%s_%s', CASE v_metric WHEN 'cpc' THEN 'clicks' ELSE 'conversions' END, v_window)
               || CASE WHEN v_metric = 'cpc' THEN '' ELSE '_reported' END;
        RETURN format('coalesce(ao_norm_cdf(%s * (ln(greatest(%s, 0.01)::float8) - ln(greatest(%L::float8, 0.01))) * sqrt((%s + 1)::float8)), 0)',
                      v_dir, v_expr, v_v, v_n);
    ELSIF v_dir <> 0 AND v_metric IN ('ctr', 'conversion_rate') AND v_v > 0 AND v_v < 1 THEN
        -- z = (p̂ − p0) / √(p0(1−p0)/n)
        v_n := format('s.%s_%s', CASE v_metric WHEN 'ctr' THEN 'impressions' ELSE 'clicks' END, v_window);
        RETURN format('coalesce(ao_norm_cdf(%s * (%s::float8 - %L::float8) / sqrt(%L::float8 * (1 - %L::float8) / NULLIF(%s, 0)::float8)), 0)',
                      v_dir, v_expr, v_v, v_v, v_v, v_n);
    END IF;
    RETURN format('CASE WHEN %s THEN 1 ELSE 0 END', p_comparison);
END;
$$;
COMMENT ON FUNCTION _ao_condition_confidence(jsonb, text) IS
    'The SQL expression of the probability that a (validated) condition truly holds for a campaign: log-normal with Poisson counts for ROI, CPA and CPC (the conversions as reported: fewer behind a young day than its nowcast shows), the Wilson score test for CTR and conversion rate, 1 or 0 for facts.';

-- The whole tree is a group, never a bare condition.
CREATE OR REPLACE FUNCTION _ao_compile_node(p_node jsonb, p_path text, p_depth integer, p_mode text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_comparison text;
BEGIN
    IF jsonb_typeof(p_node) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422(p_path, 'must be an object: {"all": [...]}, {"any": [...]} or a condition');
    END IF;
    -- What a person writes: a rule of more conditions than this is refused before any is compiled (a
    -- tree of thousands would cost minutes to plan and run).
    IF p_depth = 1 AND (SELECT count(*) FROM jsonb_path_query(p_node, 'strict $.**?(@.metric != null)')) > 50 THEN
        PERFORM ao_raise_422(p_path, format('a rule has at most 50 conditions; this one has %s: split it into rules',
                                            (SELECT count(*) FROM jsonb_path_query(p_node, 'strict $.**?(@.metric != null)'))));
    END IF;
    IF p_node ? 'all' OR p_node ? 'any' THEN
        RETURN _ao_compile_group(p_node, p_path, p_depth, p_mode);
    END IF;
    IF p_depth = 1 THEN
        PERFORM ao_raise_422(p_path, 'must be a group: {"all": [...]} or {"any": [...]}');
    END IF;
    IF NOT p_node ? 'metric' THEN
        PERFORM ao_raise_422(p_path, 'must be {"all": [...]}, {"any": [...]} or a condition {"metric", "op", "value", "window"}');
    END IF;
    v_comparison := _ao_compile_comparison(p_node, p_path);
    IF p_mode = 'match' THEN
        RETURN '(' || v_comparison || ')';
    END IF;
    RETURN _ao_condition_confidence(p_node, v_comparison);
END;
$$;
COMMENT ON FUNCTION _ao_compile_node(jsonb, text, integer, text) IS
    'Validates one node of a rule''s conditions and compiles it to SQL: a boolean (match) or the probability that it holds (confidence). Raises AO422 naming the bad part (conditions.all[1].metric).';

CREATE OR REPLACE FUNCTION compile_rule_conditions(p_conditions jsonb) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT _ao_compile_node(p_conditions, 'conditions', 1, 'match') $$;
COMMENT ON FUNCTION compile_rule_conditions(jsonb) IS
    'The WHERE clause that selects, in one set-based query over the cycle''s window sums, the campaigns a rule matches.';

CREATE OR REPLACE FUNCTION compile_rule_confidence(p_conditions jsonb) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT _ao_compile_node(p_conditions, 'conditions', 1, 'confidence') $$;
COMMENT ON FUNCTION compile_rule_confidence(jsonb) IS
    'The expression giving, per campaign, the probability that a rule''s conditions truly hold: min over "all", max over "any" of the conditions'' confidences.';

-- Labels, window phrases and formats come from whitelists; the expression reads the window sums (s.).
CREATE OR REPLACE FUNCTION compile_rule_figures(p_conditions jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce('concat_ws('', '', ' || string_agg(
               format('%L || coalesce(%s, ''n/a'')',
                      CASE l.metric WHEN 'roi' THEN 'ROI' WHEN 'ctr' THEN 'CTR' WHEN 'cpc' THEN 'CPC' WHEN 'cpa' THEN 'CPA'
                                    ELSE replace(l.metric, '_', ' ') END
                      || CASE l.w WHEN 'lifetime' THEN ''
                                  WHEN 'last_24h' THEN ' over the last 24 h' WHEN 'last_48h' THEN ' over the last 48 h'
                                  ELSE ' over the last ' || substring(l.w FROM '\d+') || ' days' END || ' ',
                      format(CASE WHEN l.metric = 'roi' THEN 'round((%s)::numeric, 2) || ''×'''
                                  WHEN l.metric IN ('ctr', 'conversion_rate', 'budget_utilization') THEN 'ao_pct((%s)::numeric)'
                                  WHEN l.metric IN ('spend', 'revenue', 'cpc', 'cpa', 'daily_budget')
                                       THEN 'CASE WHEN (%1$s) IS NOT NULL THEN ao_money((%1$s)::numeric, s.currency) END'
                                  WHEN l.metric IN ('hours_running', 'days_running') THEN 'round((%s)::numeric, 1)::text'
                                  WHEN l.metric = 'frequency' THEN 'round((%s)::numeric, 2)::text'
                                  ELSE 'to_char((%s)::numeric, ''FM999,999,999,999,999,990'')' END,
                             rule_metric_sql(l.metric, l.w))),
               ', ' ORDER BY l.first) || ')', '''''')
      FROM (SELECT leaf ->> 'metric' AS metric, coalesce(leaf ->> 'window', 'lifetime') AS w, min(i) AS first
              FROM jsonb_path_query(p_conditions, 'strict $.**?(@.metric != null)') WITH ORDINALITY AS t(leaf, i)
             WHERE leaf ->> 'metric' = ANY (rule_metrics()) AND coalesce(leaf ->> 'window', 'lifetime') = ANY (rule_windows())
             GROUP BY 1, 2) l
$$;
COMMENT ON FUNCTION compile_rule_figures(jsonb) IS
    'The expression giving, per campaign, the figures a rule''s own conditions read, each in its window ("ROI over the last 7 days 0.62×, spend $1,240.00"): what a reason quotes.';

CREATE OR REPLACE FUNCTION describe_rule_conditions(p_node jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_node ? 'all' OR p_node ? 'any' THEN
            (SELECT CASE WHEN count(*) > 1 AND p_node ? 'any' THEN '(' ELSE '' END
                    || string_agg(describe_rule_conditions(e), CASE WHEN p_node ? 'all' THEN ' and ' ELSE ' or ' END ORDER BY i)
                    || CASE WHEN count(*) > 1 AND p_node ? 'any' THEN ')' ELSE '' END
               FROM jsonb_array_elements(coalesce(p_node -> 'all', p_node -> 'any')) WITH ORDINALITY AS t(e, i))
        ELSE replace(p_node ->> 'metric', '_', ' ')
             || CASE WHEN coalesce(p_node ->> 'window', 'lifetime') = 'lifetime' THEN ''
                     ELSE ' (' || replace(replace(p_node ->> 'window', 'last_', 'last '), '_', ' ') || ')' END
             || CASE p_node ->> 'op' WHEN 'lt' THEN ' < ' WHEN 'lte' THEN ' ≤ ' WHEN 'gt' THEN ' > '
                                    WHEN 'gte' THEN ' ≥ ' WHEN 'eq' THEN ' = ' WHEN 'neq' THEN ' ≠ '
                                    ELSE ' between ' END
             || CASE WHEN p_node ->> 'op' = 'between'
                     THEN (p_node -> 'value' ->> 0) || ' and ' || (p_node -> 'value' ->> 1)
                     ELSE p_node ->> 'value' END
    END
$$;
COMMENT ON FUNCTION describe_rule_conditions(jsonb) IS
    'A rule''s conditions in words ("roi < 1.0 and roi (last 48h) < 1.0 and spend ≥ 50"), for reasons and the dashboard.';

CREATE OR REPLACE FUNCTION validate_rule_action(p_rule_type text, p_action jsonb) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_max numeric := coalesce((SELECT max_scale_factor FROM autonomous_settings), 2.0);
    v_key text;
BEGIN
    IF jsonb_typeof(p_action) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422('action', 'must be {"type": "pause"}, {"type": "scale", "factor": F} or {"type": "post"}');
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(p_action) k WHERE k NOT IN ('type', 'factor') LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422('action.' || left(v_key, 100), 'unknown key; an action has type and, to scale, factor');
    END IF;
    IF p_action ->> 'type' IS DISTINCT FROM p_rule_type THEN
        PERFORM ao_raise_422('action.type', format('a %s rule''s action type is %s', p_rule_type, p_rule_type));
    END IF;
    IF p_rule_type = 'scale' THEN
        IF jsonb_typeof(p_action -> 'factor') IS DISTINCT FROM 'number'
           OR (p_action ->> 'factor')::numeric <= 1 OR (p_action ->> 'factor')::numeric > v_max THEN
            PERFORM ao_raise_422('action.factor', format('must be a number with 1 < factor <= %s (settings.max_scale_factor)', v_max));
        END IF;
    ELSIF p_action ? 'factor' THEN
        PERFORM ao_raise_422('action.factor', 'only scale actions take a factor');
    END IF;
END;
$$;
COMMENT ON FUNCTION validate_rule_action(text, jsonb) IS
    'Refuses an action whose type is not its rule''s type (pause, scale, post), or a scale factor outside (1, settings.max_scale_factor].';

CREATE OR REPLACE FUNCTION autonomous_rules_validate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.rule_type IS DISTINCT FROM OLD.rule_type THEN
            PERFORM ao_raise_422('rule_type', 'cannot change; create a new rule and deactivate this one');
        END IF;
        IF NEW.is_builtin IS DISTINCT FROM OLD.is_builtin THEN
            PERFORM ao_raise_422('is_builtin', 'cannot change');
        END IF;
    END IF;
    -- "scale_budget" was the scale action's former name; it is still understood.
    IF jsonb_typeof(NEW.action) = 'object' AND NEW.action ->> 'type' = 'scale_budget' THEN
        NEW.action := jsonb_set(NEW.action, '{type}', '"scale"');
    END IF;
    PERFORM compile_rule_conditions(NEW.conditions);
    PERFORM validate_rule_action(NEW.rule_type, NEW.action);
    -- a token scoped to ad accounts writes rules for those accounts only (a rule for every account is
    -- the agency's)
    IF NEW.account_ids IS NULL AND app_auth.account_scope() IS NOT NULL THEN
        PERFORM ao_raise_422('account_ids', 'a token scoped to ad accounts writes rules for its accounts only: list them');
    END IF;
    -- the accounts it lists exist (the first that does not is named)
    PERFORM ao_raise_422(format('account_ids[%s]', u.i - 1), 'no ad account has this id')
       FROM (SELECT a, i FROM unnest(NEW.account_ids) WITH ORDINALITY AS x(a, i)
              WHERE NOT EXISTS (SELECT 1 FROM ad_accounts acct WHERE acct.id = x.a)
              ORDER BY i LIMIT 1) u;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION autonomous_rules_validate() IS
    'Every rule written, by the API or by psql, has valid conditions and action (the former action name scale_budget is taken as scale) and lists only ad accounts that exist (for a token scoped to accounts: only its own, and at least one); rule_type and is_builtin never change.';

-- The row is checked where it is inserted, as any rule is.
CREATE OR REPLACE FUNCTION _ao_rule_from_body(p_body jsonb, p_name text, p_created_by text)
RETURNS autonomous_rules
LANGUAGE sql VOLATILE AS $$
    SELECT jsonb_populate_record(NULL::autonomous_rules,
               jsonb_build_object('priority', 50, 'min_confidence', 0, 'cooldown_hours', 24,
                                  'evaluation_type', 'schedule', 'reading', 'matured')
               -- the body's fields, a null one left at its default
               || coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(p_body) e
                             WHERE jsonb_typeof(e.value) <> 'null'), '{}')
               || jsonb_build_object('id', gen_random_uuid(), 'name', p_name, 'is_active', true, 'is_builtin', false,
                                     'created_by', p_created_by, 'updated_by', NULL, 'created_at', now(),
                                     'updated_at', now()))
$$;
COMMENT ON FUNCTION _ao_rule_from_body(jsonb, text, text) IS
    'A rule body as an active rule row (priority 50, min_confidence 0, cooldown 24 h, schedule evaluation unless the body says otherwise), named and attributed by the caller: what a rule preview and a backtest evaluate without creating a rule.';
