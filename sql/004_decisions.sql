-- 004_decisions.sql: the decision engine (SPEC §4.1–4.3).
--
-- A cycle computes every active campaign's figures per window once (campaign_window_stats, into a
-- temporary table), evaluates each active rule as ONE set-based query compiled from its JSON
-- conditions (whitelisted identifiers, typed literals), plans the actions (priority exclusivity and
-- guardrails), applies them, measures the impact of old actions, and writes one audit row per action.
-- Errors meant for callers use SQLSTATE class AO: AO422 bad input, AO404 not found, AO409 conflict.

-- Standard normal CDF (Abramowitz & Stegun 7.1.26 on erf; absolute error < 1.5e-7).
-- PostgreSQL 15 has no erf(), and the confidence formulas need Φ.
CREATE OR REPLACE FUNCTION ao_norm_cdf(z double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN z > 8 THEN 1.0
        WHEN z < -8 THEN 0.0
        ELSE 0.5 * (1 + sign(z) * (1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                     + t * (-1.453152027 + t * 1.061405429)))) * exp(-x * x)))
    END
    FROM (SELECT abs(z) / sqrt(2.0) AS x) a,
         LATERAL (SELECT 1.0 / (1.0 + 0.3275911 * a.x) AS t) b
$$;
COMMENT ON FUNCTION ao_norm_cdf(double precision) IS
    'Φ(z), the standard normal CDF, used by every confidence formula (README, "Confidence").';

-- Percent-encodes a string for a URL query value (RFC 3986 unreserved characters kept).
CREATE OR REPLACE FUNCTION ao_urlencode(p text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(
        CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' THEN ch
             ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END,
        '' ORDER BY i), '')
    FROM regexp_split_to_table(p, '') WITH ORDINALITY AS t(ch, i)
$$;
COMMENT ON FUNCTION ao_urlencode(text) IS 'Percent-encodes a query value, for UTM tags built in SQL.';

-- Every active campaign's figures for each rule window: lifetime from the totals kept in step by
-- ingestion, the others from metric periods that overlap the window (period_end > now() - window).
CREATE OR REPLACE FUNCTION campaign_window_stats()
RETURNS TABLE (
    campaign_id uuid, title text, external_id text, daily_budget numeric, max_budget numeric,
    hours_running numeric,
    impressions_lifetime numeric, reach_lifetime numeric, clicks_lifetime numeric,
    conversions_lifetime numeric, spend_lifetime numeric, revenue_lifetime numeric,
    impressions_last_24h numeric, reach_last_24h numeric, clicks_last_24h numeric, conversions_last_24h numeric, spend_last_24h numeric, revenue_last_24h numeric,
    impressions_last_48h numeric, reach_last_48h numeric, clicks_last_48h numeric, conversions_last_48h numeric, spend_last_48h numeric, revenue_last_48h numeric,
    impressions_last_7d numeric, reach_last_7d numeric, clicks_last_7d numeric, conversions_last_7d numeric, spend_last_7d numeric, revenue_last_7d numeric,
    impressions_last_14d numeric, reach_last_14d numeric, clicks_last_14d numeric, conversions_last_14d numeric, spend_last_14d numeric, revenue_last_14d numeric,
    impressions_last_30d numeric, reach_last_30d numeric, clicks_last_30d numeric, conversions_last_30d numeric, spend_last_30d numeric, revenue_last_30d numeric
)
LANGUAGE sql STABLE AS $$
    WITH a AS (
        SELECT m.campaign_id,
            coalesce(sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS impressions_last_24h,
            coalesce(sum(m.reach) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS reach_last_24h,
            coalesce(sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS clicks_last_24h,
            coalesce(sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS conversions_last_24h,
            coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS spend_last_24h,
            coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '24 hours'), 0) AS revenue_last_24h,
            coalesce(sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS impressions_last_48h,
            coalesce(sum(m.reach) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS reach_last_48h,
            coalesce(sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS clicks_last_48h,
            coalesce(sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS conversions_last_48h,
            coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS spend_last_48h,
            coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS revenue_last_48h,
            coalesce(sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS impressions_last_7d,
            coalesce(sum(m.reach) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS reach_last_7d,
            coalesce(sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS clicks_last_7d,
            coalesce(sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS conversions_last_7d,
            coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS spend_last_7d,
            coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '7 days'), 0) AS revenue_last_7d,
            coalesce(sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS impressions_last_14d,
            coalesce(sum(m.reach) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS reach_last_14d,
            coalesce(sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS clicks_last_14d,
            coalesce(sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS conversions_last_14d,
            coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS spend_last_14d,
            coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '14 days'), 0) AS revenue_last_14d,
            coalesce(sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS impressions_last_30d,
            coalesce(sum(m.reach) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS reach_last_30d,
            coalesce(sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS clicks_last_30d,
            coalesce(sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS conversions_last_30d,
            coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS spend_last_30d,
            coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '30 days'), 0) AS revenue_last_30d
        FROM campaign_metrics m
        JOIN campaigns c ON c.id = m.campaign_id AND c.status = 'active'
        WHERE m.period_end > now() - interval '30 days'
        GROUP BY m.campaign_id
    )
    SELECT c.id, c.title, c.external_id, c.daily_budget, c.max_budget,
           round(greatest(extract(epoch FROM now() - coalesce(c.started_at, now())) / 3600.0, 0), 4),
           c.impressions, c.reach, c.clicks, c.conversions, c.spend, c.revenue,
       coalesce(a.impressions_last_24h, 0), coalesce(a.reach_last_24h, 0), coalesce(a.clicks_last_24h, 0), coalesce(a.conversions_last_24h, 0), coalesce(a.spend_last_24h, 0), coalesce(a.revenue_last_24h, 0),
       coalesce(a.impressions_last_48h, 0), coalesce(a.reach_last_48h, 0), coalesce(a.clicks_last_48h, 0), coalesce(a.conversions_last_48h, 0), coalesce(a.spend_last_48h, 0), coalesce(a.revenue_last_48h, 0),
       coalesce(a.impressions_last_7d, 0), coalesce(a.reach_last_7d, 0), coalesce(a.clicks_last_7d, 0), coalesce(a.conversions_last_7d, 0), coalesce(a.spend_last_7d, 0), coalesce(a.revenue_last_7d, 0),
       coalesce(a.impressions_last_14d, 0), coalesce(a.reach_last_14d, 0), coalesce(a.clicks_last_14d, 0), coalesce(a.conversions_last_14d, 0), coalesce(a.spend_last_14d, 0), coalesce(a.revenue_last_14d, 0),
       coalesce(a.impressions_last_30d, 0), coalesce(a.reach_last_30d, 0), coalesce(a.clicks_last_30d, 0), coalesce(a.conversions_last_30d, 0), coalesce(a.spend_last_30d, 0), coalesce(a.revenue_last_30d, 0)
    FROM campaigns c
    LEFT JOIN a ON a.campaign_id = c.id
    WHERE c.status = 'active'
$$;
COMMENT ON FUNCTION campaign_window_stats() IS
    'Per active campaign: lifetime totals and sums over last_24h/48h/7d/14d/30d (metric periods overlapping the window), plus budget and hours running. The one read of the metrics a cycle makes.';

-- ---------------------------------------------------------------------------------------------
-- Rule DSL (SPEC §4.1): validation and compilation to SQL over one row `s` of campaign_window_stats.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ao_raise_422(p_field text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: %', p_field, p_message USING ERRCODE = 'AO422',
        DETAIL = jsonb_build_object('field', p_field, 'message', p_message)::text;
END;
$$;
COMMENT ON FUNCTION ao_raise_422(text, text) IS
    'Raises a bad-input error (SQLSTATE AO422) naming the field, which the API turns into a 422 problem.';

CREATE OR REPLACE FUNCTION rule_metrics() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['roi', 'spend', 'revenue', 'impressions', 'reach', 'clicks', 'conversions', 'ctr', 'cpc',
                 'cpa', 'conversion_rate', 'frequency', 'hours_running', 'days_running', 'daily_budget',
                 'budget_utilization']
$$;
COMMENT ON FUNCTION rule_metrics() IS 'The metrics a rule condition may name (the whitelist of SPEC §4.1).';

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

-- The SQL expression of a whitelisted metric in a whitelisted window (callers validate both first).
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
    'Maps a whitelisted (metric, window) to its SQL expression over campaign_window_stats; ratios are NULL when the divisor is 0, so a rule never matches on missing data.';

-- Validates one node of a conditions tree and compiles it to SQL: p_mode 'match' gives a boolean
-- expression, 'confidence' the probability that the condition holds (README, "Confidence").
CREATE OR REPLACE FUNCTION _ao_compile_node(p_node jsonb, p_path text, p_depth integer, p_mode text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_key text;
    v_parts text[] := '{}';
    v_child jsonb;
    v_i integer := 0;
    v_metric text;
    v_op text;
    v_window text;
    v_value jsonb;
    v_expr text;
    v_cmp text;
    v_v numeric;
    v_dir integer;
    v_n text;
BEGIN
    IF jsonb_typeof(p_node) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422(p_path, 'must be an object: {"all": [...]}, {"any": [...]} or a condition');
    END IF;

    IF p_node ? 'all' OR p_node ? 'any' THEN
        IF (SELECT count(*) FROM jsonb_object_keys(p_node)) <> 1 THEN
            PERFORM ao_raise_422(p_path, 'a group has exactly one key, "all" or "any"');
        END IF;
        IF p_depth > 3 THEN
            PERFORM ao_raise_422(p_path, 'groups nest at most 3 deep');
        END IF;
        v_key := CASE WHEN p_node ? 'all' THEN 'all' ELSE 'any' END;
        IF jsonb_typeof(p_node -> v_key) IS DISTINCT FROM 'array' OR jsonb_array_length(p_node -> v_key) = 0 THEN
            PERFORM ao_raise_422(p_path || '.' || v_key, 'must be a non-empty array of conditions or groups');
        END IF;
        FOR v_child IN SELECT e FROM jsonb_array_elements(p_node -> v_key) e LOOP
            v_parts := v_parts || _ao_compile_node(v_child, format('%s.%s[%s]', p_path, v_key, v_i), p_depth + 1, p_mode);
            v_i := v_i + 1;
        END LOOP;
        IF p_mode = 'match' THEN
            RETURN '(' || array_to_string(v_parts, CASE v_key WHEN 'all' THEN ' AND ' ELSE ' OR ' END) || ')';
        END IF;
        RETURN CASE v_key WHEN 'all' THEN 'LEAST(' ELSE 'GREATEST(' END || array_to_string(v_parts, ', ') || ')';
    END IF;

    -- A leaf: {"metric": M, "op": OP, "value": V, "window": W}
    IF NOT p_node ? 'metric' THEN
        PERFORM ao_raise_422(p_path, 'must be {"all": [...]}, {"any": [...]} or a condition {"metric", "op", "value", "window"}');
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(p_node) k
     WHERE k NOT IN ('metric', 'op', 'value', 'window') LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(p_path || '.' || v_key, 'unknown key; a condition has metric, op, value and window');
    END IF;
    v_metric := p_node ->> 'metric';
    IF v_metric IS NULL OR NOT v_metric = ANY (rule_metrics()) THEN
        PERFORM ao_raise_422(p_path || '.metric', 'must be one of ' || array_to_string(rule_metrics(), ', '));
    END IF;
    v_op := p_node ->> 'op';
    IF v_op IS NULL OR NOT v_op = ANY (rule_operators()) THEN
        PERFORM ao_raise_422(p_path || '.op', 'must be one of ' || array_to_string(rule_operators(), ', '));
    END IF;
    v_window := coalesce(p_node ->> 'window', 'lifetime');
    IF NOT v_window = ANY (rule_windows()) THEN
        PERFORM ao_raise_422(p_path || '.window', 'must be one of ' || array_to_string(rule_windows(), ', '));
    END IF;
    IF v_metric IN ('hours_running', 'days_running', 'daily_budget') AND v_window <> 'lifetime' THEN
        PERFORM ao_raise_422(p_path || '.window', format('%s has no window: omit it or use lifetime', v_metric));
    END IF;
    v_value := p_node -> 'value';
    IF v_op = 'between' THEN
        IF jsonb_typeof(v_value) IS DISTINCT FROM 'array' OR jsonb_array_length(v_value) <> 2
           OR jsonb_typeof(v_value -> 0) <> 'number' OR jsonb_typeof(v_value -> 1) <> 'number'
           OR (v_value ->> 0)::numeric > (v_value ->> 1)::numeric THEN
            PERFORM ao_raise_422(p_path || '.value', 'between takes [low, high]: two finite numbers, low <= high');
        END IF;
    ELSIF jsonb_typeof(v_value) IS DISTINCT FROM 'number' THEN
        PERFORM ao_raise_422(p_path || '.value', 'must be a finite number');
    END IF;

    v_expr := rule_metric_sql(v_metric, v_window);
    v_cmp := CASE v_op
        WHEN 'between' THEN format('%s BETWEEN %L::numeric AND %L::numeric', v_expr, v_value ->> 0, v_value ->> 1)
        ELSE format('%s %s %L::numeric', v_expr,
                    CASE v_op WHEN 'lt' THEN '<' WHEN 'lte' THEN '<=' WHEN 'gt' THEN '>' WHEN 'gte' THEN '>='
                              WHEN 'eq' THEN '=' ELSE '<>' END,
                    v_value #>> '{}')
    END;
    IF p_mode = 'match' THEN
        RETURN '(' || v_cmp || ')';
    END IF;

    -- Confidence: directional comparisons of sampled ratios carry uncertainty; everything else is a fact.
    v_dir := CASE WHEN v_op IN ('gt', 'gte') THEN 1 WHEN v_op IN ('lt', 'lte') THEN -1 ELSE 0 END;
    IF v_dir <> 0 AND v_metric IN ('roi', 'cpa', 'cpc') THEN
        -- log-normal approximation with Poisson counts: Var(ln ratio) ≈ 1 / (n + 1)
        v_v := (v_value #>> '{}')::numeric;
        v_n := format('s.%s_%s', CASE v_metric WHEN 'cpc' THEN 'clicks' ELSE 'conversions' END, v_window);
        -- in float8: numeric ln() and sqrt() cost far more, and 15 digits are plenty for a probability
        RETURN format('coalesce(ao_norm_cdf(%s * (ln(greatest(%s, 0.01)::float8) - ln(greatest(%L::float8, 0.01))) * sqrt((%s + 1)::float8)), 0)',
                      v_dir, v_expr, v_v, v_n);
    ELSIF v_dir <> 0 AND v_metric IN ('ctr', 'conversion_rate') AND (v_value #>> '{}')::numeric > 0
          AND (v_value #>> '{}')::numeric < 1 THEN
        -- Wilson score test of the observed rate against the threshold p0: z = (p̂ − p0) / √(p0(1−p0)/n)
        v_v := (v_value #>> '{}')::numeric;
        v_n := format('s.%s_%s', CASE v_metric WHEN 'ctr' THEN 'impressions' ELSE 'clicks' END, v_window);
        RETURN format('coalesce(ao_norm_cdf(%s * (%s::float8 - %L::float8) / sqrt(%L::float8 * (1 - %L::float8) / NULLIF(%s, 0)::float8)), 0)',
                      v_dir, v_expr, v_v, v_v, v_v, v_n);
    END IF;
    RETURN format('CASE WHEN %s THEN 1 ELSE 0 END', v_cmp);
END;
$$;
COMMENT ON FUNCTION _ao_compile_node(jsonb, text, integer, text) IS
    'Validates one node of a rule''s conditions (whitelisted metric, op, window; finite values; depth <= 3) and compiles it to SQL: a boolean (match) or the probability that it holds (confidence). Raises AO422 naming the bad part.';

CREATE OR REPLACE FUNCTION compile_rule_conditions(p_conditions jsonb) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT _ao_compile_node(p_conditions, 'conditions', 1, 'match') $$;
COMMENT ON FUNCTION compile_rule_conditions(jsonb) IS
    'The WHERE clause that selects, in one set-based query over campaign_window_stats, the campaigns a rule matches.';

CREATE OR REPLACE FUNCTION compile_rule_confidence(p_conditions jsonb) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT _ao_compile_node(p_conditions, 'conditions', 1, 'confidence') $$;
COMMENT ON FUNCTION compile_rule_confidence(jsonb) IS
    'The expression giving, per campaign, the probability that a rule''s conditions truly hold: min over "all", max over "any" of the leaves'' confidences.';

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
    v_type text := p_action ->> 'type';
    v_key text;
BEGIN
    IF jsonb_typeof(p_action) IS DISTINCT FROM 'object' THEN
        PERFORM ao_raise_422('action', 'must be {"type": "pause"}, {"type": "scale_budget", "factor": F} or {"type": "post"}');
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(p_action) k WHERE k NOT IN ('type', 'factor') LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422('action.' || v_key, 'unknown key; an action has type and, to scale, factor');
    END IF;
    IF v_type IS DISTINCT FROM (CASE p_rule_type WHEN 'pause' THEN 'pause' WHEN 'scale' THEN 'scale_budget' WHEN 'post' THEN 'post' END) THEN
        PERFORM ao_raise_422('action.type', format('a %s rule''s action type is %s', p_rule_type,
            CASE p_rule_type WHEN 'pause' THEN 'pause' WHEN 'scale' THEN 'scale_budget' ELSE 'post' END));
    END IF;
    IF v_type = 'scale_budget' THEN
        IF jsonb_typeof(p_action -> 'factor') IS DISTINCT FROM 'number'
           OR (p_action ->> 'factor')::numeric <= 1 OR (p_action ->> 'factor')::numeric > v_max THEN
            PERFORM ao_raise_422('action.factor', format('must be a number with 1 < factor <= %s (settings.max_scale_factor)', v_max));
        END IF;
    ELSIF p_action ? 'factor' THEN
        PERFORM ao_raise_422('action.factor', 'only scale_budget actions take a factor');
    END IF;
END;
$$;
COMMENT ON FUNCTION validate_rule_action(text, jsonb) IS
    'Refuses an action that does not fit its rule type, or a scale factor outside (1, settings.max_scale_factor].';

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
    PERFORM compile_rule_conditions(NEW.conditions);
    PERFORM validate_rule_action(NEW.rule_type, NEW.action);
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION autonomous_rules_validate() IS
    'Every rule written, by the API or by psql, has valid conditions and action; rule_type and is_builtin never change.';

CREATE TRIGGER autonomous_rules_validate BEFORE INSERT OR UPDATE ON autonomous_rules
    FOR EACH ROW EXECUTE FUNCTION autonomous_rules_validate();

-- ---------------------------------------------------------------------------------------------
-- Evaluation and planning (read-only: shared by the cycle, the dry run and the dashboard's analytics)
-- ---------------------------------------------------------------------------------------------

-- The window sums a cycle computes: the rules' (and the counts behind their confidence), plus the
-- last-7-day and previous-7-day sums that the opportunity detectors (006) and expected impacts use.
CREATE OR REPLACE FUNCTION _ao_needed_sums() RETURNS TABLE (figure text, window_name text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT f, w
    FROM (SELECT leaf ->> 'metric' AS metric, coalesce(leaf ->> 'window', 'lifetime') AS w
            FROM autonomous_rules, jsonb_path_query(conditions, 'strict $.**?(@.metric != null)') leaf
           WHERE is_active) l
    CROSS JOIN LATERAL unnest(CASE l.metric
        WHEN 'roi' THEN ARRAY['revenue', 'spend', 'conversions']
        WHEN 'ctr' THEN ARRAY['clicks', 'impressions']
        WHEN 'cpc' THEN ARRAY['spend', 'clicks']
        WHEN 'cpa' THEN ARRAY['spend', 'conversions']
        WHEN 'conversion_rate' THEN ARRAY['conversions', 'clicks']
        WHEN 'frequency' THEN ARRAY['impressions', 'reach']
        WHEN 'budget_utilization' THEN ARRAY['spend']
        WHEN 'hours_running' THEN ARRAY[]::text[]
        WHEN 'days_running' THEN ARRAY[]::text[]
        WHEN 'daily_budget' THEN ARRAY[]::text[]
        ELSE ARRAY[l.metric] END) f
    WHERE w <> 'lifetime' AND w = ANY (rule_windows()) AND f IN ('impressions', 'reach', 'clicks', 'conversions', 'spend', 'revenue')
    UNION
    -- detectors: this week and the week before (declining performance, creative fatigue, under-delivery)
    SELECT f, w FROM unnest(ARRAY['impressions', 'reach', 'clicks', 'conversions', 'spend', 'revenue']) f,
                     unnest(ARRAY['last_7d', 'prev_7d']) w
$$;
COMMENT ON FUNCTION _ao_needed_sums() IS
    'Which window sums a cycle computes: those the active rules use (and the counts behind their confidence), and the last-7-day and previous-7-day sums the opportunity detectors and expected impacts use; lifetime comes from the campaign totals.';

CREATE OR REPLACE FUNCTION _ao_prepare_stats() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_cutoffs timestamptz[];   -- the window edges, most recent first
    v_bucket text;
    v_figures text;
    v_sums text;
    v_columns text;
    v_hashagg text;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NOT NULL THEN
        DROP TABLE pg_temp._ao_stats;
    END IF;
    -- Each metric row falls in one bucket between consecutive window edges and is added once per
    -- figure, to its bucket; a window's sum adds up its buckets. The edges are literals (now() is fixed
    -- for the transaction). Figures and windows come from whitelists (_ao_needed_sums), never from a
    -- rule's text.
    SELECT array_agg(DISTINCT edge ORDER BY edge DESC) INTO v_cutoffs
      FROM _ao_needed_sums() n(f, w)
      CROSS JOIN LATERAL unnest(CASE w WHEN 'last_24h' THEN ARRAY[now() - interval '24 hours']
                                       WHEN 'last_48h' THEN ARRAY[now() - interval '48 hours']
                                       WHEN 'last_7d' THEN ARRAY[now() - interval '7 days']
                                       WHEN 'prev_7d' THEN ARRAY[now() - interval '7 days', now() - interval '14 days']
                                       WHEN 'last_14d' THEN ARRAY[now() - interval '14 days']
                                       ELSE ARRAY[now() - interval '30 days'] END) edge;
    SELECT 'CASE ' || string_agg(format('WHEN m.period_end > %L::timestamptz THEN %s', e, k), ' ' ORDER BY k) || ' END'
      INTO v_bucket
      FROM unnest(v_cutoffs) WITH ORDINALITY AS c(e, k);
    SELECT string_agg(DISTINCT format('m.%s', f), ', ') INTO v_figures FROM _ao_needed_sums() n(f, w);
    SELECT string_agg(format('sum(m.%1$s) FILTER (WHERE m.k = %2$s) AS %1$s_b%2$s', f, k), ', ')
      INTO v_sums
      FROM (SELECT DISTINCT f FROM _ao_needed_sums() n(f, w)) x,
           generate_series(1, cardinality(v_cutoffs)) k;
    SELECT string_agg(format('%s AS %s_%s',
               (SELECT string_agg(format('coalesce(a.%s_b%s, 0)', n.f, k), ' + ')
                  FROM generate_series(lo, hi) k), n.f, n.w), ', ')
      INTO v_columns
      FROM _ao_needed_sums() n(f, w)
      CROSS JOIN LATERAL (SELECT CASE n.w WHEN 'prev_7d' THEN array_position(v_cutoffs, now() - interval '7 days') + 1
                                          ELSE 1 END AS lo,
                                 array_position(v_cutoffs, now() - CASE n.w
                                     WHEN 'last_24h' THEN interval '24 hours' WHEN 'last_48h' THEN interval '48 hours'
                                     WHEN 'last_7d' THEN interval '7 days' WHEN 'prev_7d' THEN interval '14 days'
                                     WHEN 'last_14d' THEN interval '14 days' ELSE interval '30 days' END) AS hi) r;
    -- Stream the metrics in key order into a group aggregate: a hash aggregate of 100,000 campaigns'
    -- numeric sums spills to disk at the default work_mem and runs slower. Transaction-local, restored below.
    v_hashagg := current_setting('enable_hashagg');
    PERFORM set_config('enable_hashagg', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE _ao_stats ON COMMIT DROP AS
        WITH a AS (
            SELECT m.campaign_id, %2$s
            FROM (SELECT m.campaign_id, %1$s AS k, %3$s
                    FROM campaign_metrics m
                   WHERE m.period_end > %5$L::timestamptz) m
            GROUP BY m.campaign_id
        )
        SELECT c.id AS campaign_id, c.title, c.external_id, c.daily_budget, c.max_budget,
               round(greatest(extract(epoch FROM now() - coalesce(c.started_at, now())) / 3600.0, 0), 4) AS hours_running,
               c.impressions::numeric AS impressions_lifetime, c.reach::numeric AS reach_lifetime,
               c.clicks::numeric AS clicks_lifetime, c.conversions::numeric AS conversions_lifetime,
               c.spend AS spend_lifetime, c.revenue AS revenue_lifetime, %4$s
        FROM campaigns c
        LEFT JOIN a ON a.campaign_id = c.id
        WHERE c.status = 'active'
    $q$, v_bucket, v_sums, v_figures, v_columns, v_cutoffs[cardinality(v_cutoffs)]);
    PERFORM set_config('enable_hashagg', v_hashagg, true);
END;
$$;
COMMENT ON FUNCTION _ao_prepare_stats() IS
    'Reads the metrics once per cycle into a transaction-local table (lifetime totals plus the window sums the rules and detectors need) that every rule query and detector then scans.';

-- Every (campaign, rule) pair whose conditions hold, with the rule's confidence for that campaign.
-- One set-based query per active rule: the loop runs over rules (a handful), never over campaigns.
CREATE OR REPLACE FUNCTION evaluate_autonomous_rules(p_rule_types text[] DEFAULT NULL)
RETURNS TABLE (campaign_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer,
               action jsonb, min_confidence numeric, cooldown_hours integer, confidence numeric)
LANGUAGE plpgsql AS $$
DECLARE
    r autonomous_rules%ROWTYPE;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NULL THEN
        PERFORM _ao_prepare_stats();
    END IF;
    FOR r IN SELECT * FROM autonomous_rules
              WHERE is_active AND (p_rule_types IS NULL OR autonomous_rules.rule_type = ANY (p_rule_types))
              ORDER BY autonomous_rules.priority DESC, name LOOP
        RETURN QUERY EXECUTE format(
            'SELECT s.campaign_id, $1, $2, $3, $4, $5, $6, $7, round(least(greatest((%s)::numeric, 0), 1), 4)
               FROM _ao_stats s WHERE %s',
            compile_rule_confidence(r.conditions), compile_rule_conditions(r.conditions))
        USING r.id, r.name, r.rule_type, r.priority, r.action, r.min_confidence, r.cooldown_hours;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION evaluate_autonomous_rules(text[]) IS
    'Which active campaigns each active rule (of the given types, or all) matches, and with what confidence: each rule compiled to one set-based query over the cycle''s stats.';

-- The decisions a cycle would take now, with the guardrail that holds each back (blocked_reason).
-- Exclusivity: a campaign gets at most one pause/scale decision, from the highest-priority rule it
-- matches with enough confidence (ties by name); post rules are planned separately.
CREATE OR REPLACE FUNCTION _ao_build_plan() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp._ao_plan') IS NOT NULL THEN
        DROP TABLE pg_temp._ao_plan;
    END IF;
    CREATE TEMP TABLE _ao_plan ON COMMIT DROP AS
    WITH cfg AS (SELECT * FROM autonomous_settings LIMIT 1),
    -- MATERIALIZED: once per rule, not once per decision after the subquery is pulled up.
    rule_words AS MATERIALIZED (SELECT id, describe_rule_conditions(conditions) AS words FROM autonomous_rules WHERE is_active),
    accounts AS (
        SELECT array_agg(DISTINCT sa.platform ORDER BY sa.platform) AS platforms FROM social_accounts sa
         WHERE sa.status = 'active' AND (sa.token_expires_at IS NULL OR sa.token_expires_at > now())
    ),
    matches AS (
        SELECT m.*, CASE m.rule_type WHEN 'scale' THEN greatest(m.min_confidence, cfg.min_scale_confidence)
                                     ELSE m.min_confidence END AS confidence_floor
        FROM evaluate_autonomous_rules(
                 -- Post rules only when a post could go out: no valid account, nothing to plan.
                 CASE WHEN (SELECT platforms FROM accounts) IS NULL THEN ARRAY['pause', 'scale'] END) m
        CROSS JOIN cfg
    ),
    chosen AS (
        SELECT DISTINCT ON (m.campaign_id, m.rule_type = 'post') m.*
        FROM matches m
        ORDER BY m.campaign_id, m.rule_type = 'post', m.confidence >= m.confidence_floor DESC,
                 m.priority DESC, m.rule_name
    ),
    figures AS (
        SELECT c.*, s.title, s.external_id, s.daily_budget, s.max_budget, s.hours_running,
               s.spend_lifetime, s.revenue_lifetime, s.conversions_lifetime, s.clicks_lifetime,
               s.impressions_lifetime,
               s.revenue_lifetime / NULLIF(s.spend_lifetime, 0) AS roi,
               s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0) AS ctr,
               -- recent daily spend: the last 7 days' spend over the days actually run in them
               coalesce(NULLIF(s.spend_last_7d, 0) / greatest(least(s.hours_running / 24.0, 7), 1),
                        s.daily_budget) AS daily_spend,
               CASE c.rule_type WHEN 'pause' THEN 'pause' WHEN 'scale' THEN 'scale' ELSE 'post' END AS action_type,
               least((c.action ->> 'factor')::numeric, cfg.max_scale_factor) AS factor,
               cfg.min_spend, cfg.rollback_quiet_hours, cfg.post_spacing_hours
        FROM chosen c
        JOIN _ao_stats s ON s.campaign_id = c.campaign_id
        CROSS JOIN cfg
    ),
    guarded AS (
        SELECT f.*,
               CASE WHEN f.action_type = 'scale'
                    THEN round(least(f.daily_budget * f.factor, coalesce(f.max_budget, f.daily_budget * f.factor)), 2)
               END AS new_budget,
               last_same.created_at AS last_same_at,
               quiet.rolled_back_at AS quiet_since,
               last_schedule.created_at AS last_schedule_at,
               CASE WHEN f.action_type = 'post' THEN accounts.platforms END AS platforms
        FROM figures f
        CROSS JOIN accounts
        LEFT JOIN LATERAL (
            SELECT a.created_at FROM autonomous_actions a
             WHERE a.campaign_id = f.campaign_id AND a.action_type = f.action_type
               AND a.status IN ('executed', 'rolled_back', 'pending')
             ORDER BY a.created_at DESC LIMIT 1) last_same ON true
        LEFT JOIN LATERAL (
            SELECT a.rolled_back_at FROM autonomous_actions a
             WHERE a.campaign_id = f.campaign_id AND a.action_type = f.action_type AND a.status = 'rolled_back'
               AND a.rolled_back_at > now() - make_interval(hours => f.rollback_quiet_hours)
             ORDER BY a.rolled_back_at DESC LIMIT 1) quiet ON true
        LEFT JOIN LATERAL (
            SELECT cs.created_at FROM campaign_schedules cs
             WHERE f.action_type = 'post' AND cs.campaign_id = f.campaign_id
             ORDER BY cs.created_at DESC LIMIT 1) last_schedule ON true
    ), blocked AS (
        SELECT g.*, r.words,
               CASE
                   WHEN g.confidence < g.confidence_floor THEN
                       format('confidence %s below the floor %s', round(g.confidence, 2), round(g.confidence_floor, 2))
                   WHEN g.action_type = 'pause' AND g.spend_lifetime < g.min_spend THEN
                       format('spend %s below the minimum %s', to_char(g.spend_lifetime, 'FM$999,999,999,990.00'),
                              to_char(g.min_spend, 'FM$999,999,999,990.00'))
                   WHEN g.action_type = 'scale' AND g.max_budget IS NOT NULL AND g.daily_budget >= g.max_budget THEN
                       format('capped: daily budget already at max_budget %s', to_char(g.max_budget, 'FM$999,999,999,990.00'))
                   WHEN g.action_type = 'scale' AND g.new_budget <= g.daily_budget THEN 'no budget to scale'
                   WHEN g.quiet_since IS NOT NULL THEN
                       format('a person rolled back a %s at %s; quiet for %s h after a rollback', g.action_type,
                              to_char(g.quiet_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), g.rollback_quiet_hours)
                   WHEN g.last_same_at IS NOT NULL AND g.last_same_at > now() - make_interval(hours => g.cooldown_hours) THEN
                       format('cooldown: last %s %s ago, rule cooldown %s h', g.action_type,
                              date_trunc('minute', now() - g.last_same_at), g.cooldown_hours)
                   WHEN g.action_type = 'post' AND g.last_schedule_at > now() - make_interval(hours => g.post_spacing_hours) THEN
                       format('a post was scheduled %s ago; posts are %s h apart', date_trunc('minute', now() - g.last_schedule_at),
                              g.post_spacing_hours)
                   WHEN g.action_type = 'post' AND g.platforms IS NULL THEN 'no connected social account with a valid token'
           END AS blocked_reason
        FROM guarded g
        JOIN rule_words r ON r.id = g.rule_id
    )
    -- Reasons, states and expected impact only for what will be done (a held-back decision shows
    -- its blocked_reason); each action gets its id now, so the summary needs no read-back.
    SELECT g.campaign_id, g.rule_id, g.rule_name, g.rule_type, g.action_type, g.priority, g.confidence,
           g.confidence_floor, g.factor, g.new_budget, g.platforms, g.title, g.daily_budget, g.max_budget,
           g.roi, g.ctr, g.hours_running, g.spend_lifetime, g.conversions_lifetime, g.blocked_reason,
           gen_random_uuid() AS action_id,
           CASE WHEN g.blocked_reason IS NOT NULL THEN NULL ELSE CASE g.action_type
               WHEN 'pause' THEN format('ROI %s× on %s spend (%s: %s)', round(coalesce(g.roi, 0), 2),
                                        to_char(g.spend_lifetime, 'FM$999,999,999,990.00'), g.rule_name,
                                        g.words)
               WHEN 'scale' THEN format('ROI %s× over %s conversions (%s: %s)', round(coalesce(g.roi, 0), 2),
                                        g.conversions_lifetime, g.rule_name, g.words)
               ELSE format('CTR %s%% with %s conversions (%s: %s)', round(coalesce(g.ctr, 0) * 100, 2),
                           g.conversions_lifetime, g.rule_name, g.words)
           END END AS reason,
           CASE WHEN g.blocked_reason IS NOT NULL THEN NULL ELSE
               jsonb_build_object('status', 'active', 'daily_budget', g.daily_budget, 'max_budget', g.max_budget,
                                  'roi', round(g.roi, 4), 'ctr', round(g.ctr, 6), 'spend', g.spend_lifetime,
                                  'conversions', g.conversions_lifetime, 'hours_running', round(g.hours_running, 1))
           END AS previous_state,
           CASE WHEN g.blocked_reason IS NOT NULL THEN NULL ELSE CASE g.action_type
               WHEN 'pause' THEN jsonb_build_object('status', 'paused', 'daily_budget', g.daily_budget)
               WHEN 'scale' THEN jsonb_build_object('status', 'active', 'daily_budget', g.new_budget, 'factor', g.factor)
               ELSE jsonb_build_object('status', 'active', 'daily_budget', g.daily_budget, 'platforms', to_jsonb(g.platforms))
           END END AS new_state,
           CASE WHEN g.blocked_reason IS NOT NULL THEN NULL ELSE CASE g.action_type
               WHEN 'pause' THEN jsonb_build_object(
                   'daily_spend', round(g.daily_spend, 2), 'roi', round(coalesce(g.roi, 0), 4),
                   'daily_loss_avoided', round(g.daily_spend * (1 - coalesce(g.roi, 0)), 2),
                   'sentence', format('Avoids about %s of losses a day (spends %s a day at ROI %s×).',
                                      to_char(g.daily_spend * (1 - coalesce(g.roi, 0)), 'FM$999,999,999,990.00'),
                                      to_char(g.daily_spend, 'FM$999,999,999,990.00'), round(coalesce(g.roi, 0), 2)))
               WHEN 'scale' THEN jsonb_build_object(
                   'added_daily_budget', g.new_budget - g.daily_budget, 'roi', round(coalesce(g.roi, 0), 4),
                   'added_daily_revenue', round((g.new_budget - g.daily_budget) * coalesce(g.roi, 0), 2),
                   'sentence', format('Adds about %s of revenue a day (%s more budget at ROI %s×).',
                                      to_char((g.new_budget - g.daily_budget) * coalesce(g.roi, 0), 'FM$999,999,999,990.00'),
                                      to_char(g.new_budget - g.daily_budget, 'FM$999,999,999,990.00'), round(coalesce(g.roi, 0), 2)))
               ELSE jsonb_build_object(
                   'ctr', round(coalesce(g.ctr, 0), 6), 'platforms', to_jsonb(g.platforms),
                   'sentence', format('Shares a campaign with a %s%% CTR on %s.', round(coalesce(g.ctr, 0) * 100, 2),
                                      coalesce(array_to_string(g.platforms, ', '), 'no platform')))
           END END AS expected_impact
    FROM blocked g;

    -- A campaign paused in this cycle is not posted.
    UPDATE _ao_plan p SET blocked_reason = 'paused in this cycle'
     WHERE p.action_type = 'post' AND p.blocked_reason IS NULL
       AND EXISTS (SELECT 1 FROM _ao_plan q WHERE q.campaign_id = p.campaign_id AND q.action_type = 'pause'
                                              AND q.blocked_reason IS NULL);
END;
$$;
COMMENT ON FUNCTION _ao_build_plan() IS
    'Plans a cycle: the highest-priority matching rule per campaign (pause/scale exclusive, posts apart), then the guardrails of SPEC §4.2 (confidence floor, min spend, max factor, max budget, cooldown, rollback quiet period, post spacing, connected accounts), each blocked decision with its reason, and the reason, states and expected impact of each.';

CREATE OR REPLACE FUNCTION identify_underperforming_campaigns()
RETURNS TABLE (campaign_id uuid, title text, roi numeric, spend numeric, ctr numeric, hours_running numeric,
               recommendation text, severity text, confidence numeric, rule_name text, blocked_reason text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_prepare_stats();
    PERFORM _ao_build_plan();
    RETURN QUERY
    SELECT s.campaign_id, s.title,
           round(s.revenue_lifetime / NULLIF(s.spend_lifetime, 0), 4),
           s.spend_lifetime, round(s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0), 6),
           round(s.hours_running, 1),
           CASE WHEN p.campaign_id IS NULL THEN 'Watch: losing money, no pause rule matches yet'
                WHEN p.blocked_reason IS NULL THEN format('Pause (%s)', p.rule_name)
                ELSE format('Pause held back: %s', p.blocked_reason) END,
           CASE WHEN p.campaign_id IS NULL THEN 'medium'
                WHEN p.priority >= 100 THEN 'critical'
                ELSE 'high' END,
           coalesce(p.confidence, 0), p.rule_name, p.blocked_reason
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
               factor numeric, confidence numeric, capped boolean, rule_name text, blocked_reason text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_prepare_stats();
    PERFORM _ao_build_plan();
    RETURN QUERY
    SELECT p.campaign_id, p.title, round(p.roi, 4), p.daily_budget,
           CASE WHEN p.max_budget IS NOT NULL AND p.daily_budget >= p.max_budget THEN p.daily_budget ELSE p.new_budget END,
           p.factor, p.confidence,
           p.max_budget IS NOT NULL AND p.daily_budget >= p.max_budget,
           p.rule_name, p.blocked_reason
    FROM _ao_plan p
    WHERE p.action_type = 'scale'
    ORDER BY p.blocked_reason IS NOT NULL, p.roi DESC NULLS LAST;
END;
$$;
COMMENT ON FUNCTION identify_scaling_candidates() IS
    'Read-only: active campaigns a scale rule matches, with current → proposed budget, factor, confidence, and capped when already at max_budget.';

-- ---------------------------------------------------------------------------------------------
-- Actions
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION _ao_cycle_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 7415003::bigint $$;
COMMENT ON FUNCTION _ao_cycle_lock_key() IS 'The advisory lock that keeps cycles (and direct action calls) from overlapping.';

CREATE OR REPLACE FUNCTION _ao_require_plan(p_cycle_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_cycle_id IS NULL AND NOT pg_try_advisory_xact_lock(_ao_cycle_lock_key()) THEN
        RAISE EXCEPTION 'a cycle is running' USING ERRCODE = 'AO409';
    END IF;
    IF p_cycle_id IS NULL OR to_regclass('pg_temp._ao_plan') IS NULL THEN
        PERFORM _ao_prepare_stats();
        PERFORM _ao_build_plan();
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_require_plan(uuid) IS
    'Outside a cycle, an action function takes the cycle lock and plans afresh, so guardrails hold for direct psql calls too.';

-- Applies the plan's unblocked decisions of one type (all, or for the listed campaigns) and writes one
-- executed audit row each, with the id the plan chose; returns how many. A campaign changed since it
-- was planned (no longer active, or a budget moved) is left alone.
CREATE OR REPLACE FUNCTION _ao_apply_planned(p_action_type text, p_campaign_ids uuid[], p_cycle_id uuid)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
    v_actor text := app_auth.actor();
BEGIN
    PERFORM _ao_require_plan(p_cycle_id);
    WITH chosen AS (
        SELECT * FROM _ao_plan p
         WHERE p.action_type = p_action_type AND p.blocked_reason IS NULL
           AND (p_campaign_ids IS NULL OR p.campaign_id = ANY (p_campaign_ids))
    ), applied AS (
        -- RETURNING carries the plan row along, so the audit insert needs no second join.
        UPDATE campaigns c
           SET status = CASE WHEN p_action_type = 'pause' THEN 'paused' ELSE c.status END,
               daily_budget = CASE WHEN p_action_type = 'scale' THEN chosen.new_budget ELSE c.daily_budget END
          FROM chosen
         WHERE c.id = chosen.campaign_id AND c.status = 'active' AND c.daily_budget = chosen.daily_budget
        RETURNING chosen.*
    ), logged AS (
        INSERT INTO autonomous_actions (id, cycle_id, campaign_id, rule_id, action_type, reason, previous_state,
                                        new_state, confidence, expected_impact, status, executed_at, created_by)
        SELECT applied.action_id, p_cycle_id, applied.campaign_id, applied.rule_id, p_action_type, applied.reason,
               applied.previous_state, applied.new_state, applied.confidence, applied.expected_impact,
               'executed', now(), v_actor
          FROM applied
    )
    SELECT count(*) INTO v_count FROM applied;
    RETURN v_count;
END;
$$;
COMMENT ON FUNCTION _ao_apply_planned(text, uuid[], uuid) IS
    'Carries out the plan''s unblocked pause or scale decisions and writes their executed audit rows; a campaign that changed since it was planned is left alone.';

CREATE OR REPLACE FUNCTION auto_pause_campaign(p_campaign_ids uuid[] DEFAULT NULL, p_cycle_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE sql AS $$ SELECT _ao_apply_planned('pause', p_campaign_ids, p_cycle_id) $$;
COMMENT ON FUNCTION auto_pause_campaign(uuid[], uuid) IS
    'Pauses the campaigns the plan says to pause (all, or those listed), logs one executed pause action each, and returns how many.';

CREATE OR REPLACE FUNCTION auto_scale_campaign(p_campaign_ids uuid[] DEFAULT NULL, p_cycle_id uuid DEFAULT NULL)
RETURNS integer
LANGUAGE sql AS $$ SELECT _ao_apply_planned('scale', p_campaign_ids, p_cycle_id) $$;
COMMENT ON FUNCTION auto_scale_campaign(uuid[], uuid) IS
    'Sets the planned daily budget (budget × factor, capped at max_budget) of the campaigns the plan says to scale, logs one executed scale action each, and returns how many.';

-- Creates one schedule per decision (platforms with an active, unexpired account), with its content
-- snapshot and UTM-tagged links, and logs a post action. p_decisions: [{campaign_id, rule_id,
-- confidence, reason, expected_impact}].
CREATE OR REPLACE FUNCTION _ao_schedule_posts(p_decisions jsonb, p_cycle_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_actions jsonb;
BEGIN
    WITH cfg AS (SELECT * FROM autonomous_settings LIMIT 1),
    platforms AS (
        SELECT array_agg(DISTINCT platform ORDER BY platform) AS list FROM social_accounts
         WHERE status = 'active' AND (token_expires_at IS NULL OR token_expires_at > now())
    ),
    d AS (
        SELECT x.*, gen_random_uuid() AS action_id, gen_random_uuid() AS schedule_id, c.title, c.description,
               c.image_url, c.cta_label, c.landing_url, c.external_id, c.daily_budget, c.status AS campaign_status
          FROM jsonb_to_recordset(p_decisions) AS x(campaign_id uuid, rule_id uuid, confidence numeric,
                                                    reason text, expected_impact jsonb, previous_state jsonb)
          JOIN campaigns c ON c.id = x.campaign_id
         WHERE (SELECT list FROM platforms) IS NOT NULL
    ),
    logged AS (
        INSERT INTO autonomous_actions (id, cycle_id, campaign_id, rule_id, action_type, reason, previous_state,
                                        new_state, confidence, expected_impact, status, executed_at, created_by)
        SELECT d.action_id, p_cycle_id, d.campaign_id, d.rule_id, 'post', d.reason,
               coalesce(d.previous_state, jsonb_build_object('status', d.campaign_status, 'daily_budget', d.daily_budget)),
               jsonb_build_object('status', d.campaign_status, 'daily_budget', d.daily_budget,
                                  'schedule_id', d.schedule_id, 'platforms', to_jsonb((SELECT list FROM platforms))),
               coalesce(d.confidence, 1), coalesce(d.expected_impact, '{}'), 'executed', now(), app_auth.actor()
          FROM d
        RETURNING *
    ),
    scheduled AS (
        INSERT INTO campaign_schedules (id, campaign_id, action_id, scheduled_for, platforms, content)
        SELECT d.schedule_id, d.campaign_id, d.action_id,
               now() + make_interval(mins => (SELECT post_lead_minutes FROM cfg)),
               (SELECT list FROM platforms),
               jsonb_build_object(
                   'title', d.title, 'copy', coalesce(d.description, ''), 'image_url', d.image_url,
                   'cta_label', coalesce(d.cta_label, 'Learn more'), 'landing_url', d.landing_url,
                   'campaign_external_id', d.external_id,
                   'links', (SELECT jsonb_object_agg(p, utm_link(d.landing_url, p, d.external_id))
                               FROM unnest((SELECT list FROM platforms)) p))
          FROM d
        RETURNING id
    )
    -- (Data-modifying CTEs always run: `scheduled` is written even though nothing reads it.)
    SELECT coalesce(jsonb_agg(to_jsonb(logged) - 'actual_impact'
                              || jsonb_build_object('campaign_title', c.title, 'rule_name', r.name)
                              ORDER BY c.title, logged.campaign_id), '[]')
      INTO v_actions
      FROM logged JOIN campaigns c ON c.id = logged.campaign_id
      LEFT JOIN autonomous_rules r ON r.id = logged.rule_id;
    RETURN v_actions;
END;
$$;
COMMENT ON FUNCTION _ao_schedule_posts(jsonb, uuid) IS
    'Schedules posts (now + post_lead_minutes) to every platform with an active, unexpired account, snapshots the content with UTM links, and logs one post action per schedule.';

CREATE OR REPLACE FUNCTION utm_link(p_url text, p_platform text, p_campaign text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_url IS NULL OR p_url = '' THEN NULL ELSE
        split_part(p_url, '#', 1)
        || CASE WHEN split_part(p_url, '#', 1) LIKE '%?%' THEN '&' ELSE '?' END
        || 'utm_source=' || ao_urlencode(p_platform) || '&utm_medium=social&utm_campaign='
        || ao_urlencode(coalesce(p_campaign, '')) || '&utm_content=autonomous_post'
        || CASE WHEN position('#' IN p_url) > 0 THEN '#' || substr(p_url, position('#' IN p_url) + 1) ELSE '' END
    END
$$;
COMMENT ON FUNCTION utm_link(text, text, text) IS
    'The landing URL tagged for one platform (utm_source, utm_medium=social, utm_campaign=external_id, utm_content=autonomous_post), keeping its own query and fragment.';

CREATE OR REPLACE FUNCTION auto_post_campaign_to_social(p_campaign_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cfg autonomous_settings%ROWTYPE;
    v_campaign campaigns%ROWTYPE;
    v_last timestamptz;
    v_actions jsonb;
BEGIN
    SELECT * INTO v_cfg FROM autonomous_settings LIMIT 1;
    SELECT * INTO v_campaign FROM campaigns WHERE id = p_campaign_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no campaign %', p_campaign_id USING ERRCODE = 'AO404';
    END IF;
    IF v_campaign.status <> 'active' THEN
        RAISE EXCEPTION 'campaign is %, only active campaigns are posted', v_campaign.status USING ERRCODE = 'AO409';
    END IF;
    SELECT max(created_at) INTO v_last FROM campaign_schedules WHERE campaign_id = p_campaign_id;
    IF v_last > now() - make_interval(hours => v_cfg.post_spacing_hours) THEN
        RAISE EXCEPTION 'a post was scheduled at %; posts are % h apart', v_last, v_cfg.post_spacing_hours
            USING ERRCODE = 'AO409';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM social_accounts WHERE status = 'active'
                                                 AND (token_expires_at IS NULL OR token_expires_at > now())) THEN
        RAISE EXCEPTION 'no connected social account with a valid token' USING ERRCODE = 'AO409';
    END IF;
    v_actions := _ao_schedule_posts(jsonb_build_array(jsonb_build_object(
        'campaign_id', p_campaign_id, 'confidence', 1,
        'reason', format('Posted on request by %s', app_auth.actor()),
        'expected_impact', jsonb_build_object('sentence', 'Shares the campaign on the connected platforms.'))), NULL);
    RETURN v_actions -> 0;
END;
$$;
COMMENT ON FUNCTION auto_post_campaign_to_social(uuid) IS
    'Schedules one campaign''s post now + post_lead_minutes (manual trigger), refusing (AO409) an inactive campaign, a post within post_spacing_hours of the last, or no valid account. The cycle schedules its post candidates in one set-based call instead.';

-- Measures, for executed pause/scale actions older than the impact window, ROI, spend and revenue per
-- day in the window after the action against the window before it.
CREATE OR REPLACE FUNCTION measure_action_impact() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    WITH cfg AS (SELECT make_interval(hours => impact_window_hours) AS w, impact_window_hours AS h FROM autonomous_settings LIMIT 1),
    due AS (
        SELECT a.id, a.campaign_id, a.executed_at FROM autonomous_actions a, cfg
         WHERE a.action_type IN ('pause', 'scale') AND a.status IN ('executed', 'rolled_back')
           AND a.actual_impact IS NULL AND a.executed_at <= now() - cfg.w
    ),
    figures AS (
        SELECT d.id,
               sum(m.spend) FILTER (WHERE m.period_start < d.executed_at) AS spend_before,
               sum(m.revenue) FILTER (WHERE m.period_start < d.executed_at) AS revenue_before,
               sum(m.spend) FILTER (WHERE m.period_start >= d.executed_at) AS spend_after,
               sum(m.revenue) FILTER (WHERE m.period_start >= d.executed_at) AS revenue_after
          FROM due d CROSS JOIN cfg
          LEFT JOIN campaign_metrics m ON m.campaign_id = d.campaign_id
               AND m.period_start >= d.executed_at - cfg.w AND m.period_start < d.executed_at + cfg.w
         GROUP BY d.id
    )
    UPDATE autonomous_actions a
       SET actual_impact = jsonb_build_object(
               'window_hours', cfg.h, 'measured_at', now(),
               'before', jsonb_build_object('spend_per_day', round(coalesce(f.spend_before, 0) * 24 / cfg.h, 2),
                                            'revenue_per_day', round(coalesce(f.revenue_before, 0) * 24 / cfg.h, 2),
                                            'roi', round(f.revenue_before / NULLIF(f.spend_before, 0), 4)),
               'after', jsonb_build_object('spend_per_day', round(coalesce(f.spend_after, 0) * 24 / cfg.h, 2),
                                           'revenue_per_day', round(coalesce(f.revenue_after, 0) * 24 / cfg.h, 2),
                                           'roi', round(f.revenue_after / NULLIF(f.spend_after, 0), 4)),
               'profit_per_day_change', round((coalesce(f.revenue_after, 0) - coalesce(f.spend_after, 0)
                                               - coalesce(f.revenue_before, 0) + coalesce(f.spend_before, 0)) * 24 / cfg.h, 2),
               'sentence', format('Profit per day went from %s to %s in the %s h after the action.',
                                  to_char((coalesce(f.revenue_before, 0) - coalesce(f.spend_before, 0)) * 24 / cfg.h, 'FM$999,999,999,990.00'),
                                  to_char((coalesce(f.revenue_after, 0) - coalesce(f.spend_after, 0)) * 24 / cfg.h, 'FM$999,999,999,990.00'),
                                  cfg.h))
      FROM figures f, cfg
     WHERE a.id = f.id;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END;
$$;
COMMENT ON FUNCTION measure_action_impact() IS
    'Fills actual_impact of pause/scale actions older than impact_window_hours: spend, revenue and ROI per day in the window after against the window before, and the change in profit per day.';

CREATE OR REPLACE FUNCTION detect_optimization_opportunities() RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    -- The seven detectors of SPEC §4.4 fill this step (optimization issue); the cycle already calls it.
    RETURN 0;
END;
$$;
COMMENT ON FUNCTION detect_optimization_opportunities() IS
    'Cycle step for the optimization-opportunity detectors; returns how many it raised or refreshed.';

-- ---------------------------------------------------------------------------------------------
-- The cycle
-- ---------------------------------------------------------------------------------------------

-- Pause, scale, detect, measure, for the cycle p_cycle_id (the plan must be built).
CREATE OR REPLACE FUNCTION run_autonomous_operations(p_cycle_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_paused integer;
    v_scaled integer;
    v_detected integer;
    v_measured integer;
BEGIN
    PERFORM _ao_require_plan(p_cycle_id);
    v_paused := auto_pause_campaign(NULL, p_cycle_id);
    v_scaled := auto_scale_campaign(NULL, p_cycle_id);
    v_detected := detect_optimization_opportunities();
    v_measured := measure_action_impact();
    RETURN jsonb_build_object('paused', v_paused, 'scaled', v_scaled, 'opportunities_detected', v_detected,
                              'impacts_measured', v_measured);
END;
$$;
COMMENT ON FUNCTION run_autonomous_operations(uuid) IS
    'The non-posting steps of a cycle: apply the planned pauses and scales, detect optimization opportunities, measure the impact of old actions.';

CREATE OR REPLACE FUNCTION run_autonomous_operations_with_posting(
    dry_run boolean DEFAULT false,
    trigger text DEFAULT 'sql',
    triggered_by text DEFAULT NULL,
    idempotency_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cycle_id uuid;
    v_existing jsonb;
    v_ops jsonb;
    v_posts jsonb := '[]';
    v_summary jsonb;
    v_held jsonb;
    v_held_total bigint;
    v_actor text := coalesce(triggered_by, app_auth.actor());
BEGIN
    IF trigger IS NULL OR trigger NOT IN ('api', 'cron', 'sql', 'cli') THEN
        PERFORM ao_raise_422('trigger', 'must be one of api, cron, sql, cli');
    END IF;
    IF idempotency_key IS NOT NULL THEN
        SELECT summary || jsonb_build_object('replayed', true) INTO v_existing
          FROM autonomous_cycles WHERE autonomous_cycles.idempotency_key = run_autonomous_operations_with_posting.idempotency_key;
        IF FOUND THEN
            RETURN v_existing;
        END IF;
    END IF;

    IF NOT pg_try_advisory_xact_lock(_ao_cycle_lock_key()) THEN
        INSERT INTO autonomous_cycles (trigger, triggered_by, dry_run, status, finished_at, error)
        VALUES (trigger, v_actor, dry_run, 'skipped', clock_timestamp(), 'another cycle is running')
        RETURNING id INTO v_cycle_id;
        v_summary := jsonb_build_object('cycle_id', v_cycle_id, 'status', 'skipped', 'dry_run', dry_run,
                                        'paused', 0, 'scaled', 0, 'posted', 0, 'opportunities_detected', 0,
                                        'actions', '[]'::jsonb, 'error', 'another cycle is running');
        UPDATE autonomous_cycles SET summary = v_summary WHERE id = v_cycle_id;
        RETURN v_summary;
    END IF;

    -- Under the lock a repeat of a key that committed meanwhile is visible now.
    IF idempotency_key IS NOT NULL THEN
        SELECT summary || jsonb_build_object('replayed', true) INTO v_existing
          FROM autonomous_cycles WHERE autonomous_cycles.idempotency_key = run_autonomous_operations_with_posting.idempotency_key;
        IF FOUND THEN
            RETURN v_existing;
        END IF;
    END IF;

    INSERT INTO autonomous_cycles (trigger, triggered_by, dry_run, status, idempotency_key)
    VALUES (trigger, v_actor, dry_run, 'running', idempotency_key)
    RETURNING id INTO v_cycle_id;

    BEGIN
        PERFORM _ao_prepare_stats();
        PERFORM _ao_build_plan();
        -- What the guardrails held back: the first 200 (pauses and scales first), and how many in all.
        SELECT coalesce(jsonb_agg(jsonb_build_object('campaign_id', p.campaign_id, 'title', p.title,
                                                     'action_type', p.action_type, 'rule_name', p.rule_name,
                                                     'confidence', p.confidence, 'blocked_reason', p.blocked_reason)
                                  ORDER BY p.action_type = 'post', p.priority DESC, p.confidence DESC, p.title), '[]')
          INTO v_held
          FROM (SELECT * FROM _ao_plan WHERE blocked_reason IS NOT NULL
                 ORDER BY action_type = 'post', priority DESC, confidence DESC, title LIMIT 200) p;
        SELECT count(*) INTO v_held_total FROM _ao_plan WHERE blocked_reason IS NOT NULL;
        v_ops := run_autonomous_operations(v_cycle_id);
        -- Posts come after pauses and scales and skip campaigns paused in this cycle (planned so).
        v_posts := _ao_schedule_posts(
            (SELECT coalesce(jsonb_agg(jsonb_build_object('campaign_id', p.campaign_id, 'rule_id', p.rule_id,
                                                          'confidence', p.confidence, 'reason', p.reason,
                                                          'expected_impact', p.expected_impact,
                                                          'previous_state', p.previous_state)), '[]')
               FROM _ao_plan p JOIN campaigns c ON c.id = p.campaign_id AND c.status = 'active'
              WHERE p.action_type = 'post' AND p.blocked_reason IS NULL),
            v_cycle_id);
        v_summary := jsonb_build_object(
            'cycle_id', v_cycle_id, 'status', 'succeeded', 'dry_run', dry_run, 'trigger', trigger,
            'paused', (v_ops ->> 'paused')::int, 'scaled', (v_ops ->> 'scaled')::int,
            'posted', jsonb_array_length(v_posts),
            'opportunities_detected', (v_ops ->> 'opportunities_detected')::int,
            'impacts_measured', (v_ops ->> 'impacts_measured')::int,
            -- The first 1,000 actions, shaped from their plan rows (the audit trail has them all:
            -- GET /actions?cycle_id=); a planned row has an action only if its campaign was still as planned.
            'actions', (SELECT coalesce(jsonb_agg(x.doc ORDER BY x.action_type, x.title, x.campaign_id), '[]')
                          FROM (SELECT p.action_type, p.title, p.campaign_id, jsonb_build_object(
                                           'id', a.id, 'cycle_id', a.cycle_id, 'campaign_id', p.campaign_id,
                                           'campaign_title', p.title, 'rule_id', p.rule_id, 'rule_name', p.rule_name,
                                           'action_type', a.action_type, 'reason', a.reason,
                                           'previous_state', a.previous_state, 'new_state', a.new_state,
                                           'confidence', a.confidence, 'expected_impact', a.expected_impact,
                                           'status', a.status, 'created_at', a.created_at,
                                           'executed_at', a.executed_at, 'created_by', a.created_by) AS doc
                                  FROM _ao_plan p
                                  JOIN autonomous_actions a ON a.id = p.action_id
                                 WHERE p.blocked_reason IS NULL AND p.action_type IN ('pause', 'scale')
                                 ORDER BY p.action_type, p.title, p.campaign_id LIMIT 1000) x)
                       || v_posts,
            'actions_total', (v_ops ->> 'paused')::int + (v_ops ->> 'scaled')::int + jsonb_array_length(v_posts),
            'held_back', v_held, 'held_back_total', v_held_total,
            'posting_note', CASE WHEN NOT EXISTS (
                                    SELECT 1 FROM social_accounts WHERE status = 'active'
                                       AND (token_expires_at IS NULL OR token_expires_at > now()))
                                 THEN 'post rules not evaluated: no connected social account with a valid token' END);
        IF dry_run THEN
            -- Everything above is undone; the summary, kept in a variable, is what would have happened.
            RAISE EXCEPTION 'dry run' USING ERRCODE = 'AODRY';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'AODRY' THEN
            v_summary := jsonb_set(v_summary, '{actions}',
                (SELECT coalesce(jsonb_agg(a - 'id' - 'executed_at'
                                           || jsonb_build_object('status', 'planned',
                                                                 'new_state', (a -> 'new_state') - 'schedule_id')), '[]')
                   FROM jsonb_array_elements(v_summary -> 'actions') a));
        WHEN OTHERS THEN
            v_summary := jsonb_build_object('cycle_id', v_cycle_id, 'status', 'failed', 'dry_run', dry_run,
                                            'trigger', trigger, 'paused', 0, 'scaled', 0, 'posted', 0,
                                            'opportunities_detected', 0, 'actions', '[]'::jsonb, 'error', SQLERRM);
            UPDATE autonomous_cycles SET status = 'failed', finished_at = clock_timestamp(), error = SQLERRM,
                                         summary = v_summary
             WHERE id = v_cycle_id;
            RETURN v_summary;
    END;

    UPDATE autonomous_cycles SET status = 'succeeded', finished_at = clock_timestamp(), summary = v_summary
     WHERE id = v_cycle_id;
    RAISE NOTICE 'cycle % %: paused %, scaled %, posted %, opportunities %', v_cycle_id,
        CASE WHEN dry_run THEN 'dry run' ELSE 'succeeded' END, v_summary ->> 'paused', v_summary ->> 'scaled',
        v_summary ->> 'posted', v_summary ->> 'opportunities_detected';
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION run_autonomous_operations_with_posting(boolean, text, text, text) IS
    'One whole cycle in one transaction under an advisory lock (a second concurrent call is recorded as skipped): plan, pause, scale, detect, measure, then schedule posts; returns {cycle_id, status, dry_run, paused, scaled, posted, opportunities_detected, actions, held_back}. A dry run computes exactly this and undoes it; a failure undoes everything but the failed cycle record.';

-- ---------------------------------------------------------------------------------------------
-- Rollback (SPEC §4.3)
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION rollback_autonomous_action(p_action_id uuid, p_reason text DEFAULT NULL,
                                                      p_force boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_action autonomous_actions%ROWTYPE;
    v_campaign campaigns%ROWTYPE;
    v_schedule campaign_schedules%ROWTYPE;
BEGIN
    SELECT * INTO v_action FROM autonomous_actions WHERE id = p_action_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no action %', p_action_id USING ERRCODE = 'AO404';
    END IF;
    IF v_action.status = 'rolled_back' THEN
        RAISE EXCEPTION 'action was already rolled back at % by %', v_action.rolled_back_at, v_action.rolled_back_by
            USING ERRCODE = 'AO409';
    ELSIF v_action.status <> 'executed' THEN
        RAISE EXCEPTION 'only executed actions can be rolled back; this one is %', v_action.status USING ERRCODE = 'AO409';
    ELSIF v_action.action_type = 'optimize' THEN
        RAISE EXCEPTION 'an optimize action records a person''s resolution and cannot be rolled back' USING ERRCODE = 'AO409';
    END IF;

    IF v_action.action_type = 'post' THEN
        SELECT * INTO v_schedule FROM campaign_schedules WHERE action_id = p_action_id FOR UPDATE;
        IF NOT FOUND OR v_schedule.status <> 'pending' THEN
            RAISE EXCEPTION 'the post''s schedule is %, only a pending one can be cancelled',
                coalesce(v_schedule.status, 'missing') USING ERRCODE = 'AO409';
        END IF;
        UPDATE campaign_schedules SET status = 'cancelled' WHERE id = v_schedule.id;
    ELSE
        SELECT * INTO v_campaign FROM campaigns WHERE id = v_action.campaign_id FOR UPDATE;
        IF NOT p_force AND (v_campaign.status IS DISTINCT FROM v_action.new_state ->> 'status'
                            OR v_campaign.daily_budget IS DISTINCT FROM (v_action.new_state ->> 'daily_budget')::numeric) THEN
            RAISE EXCEPTION 'the campaign changed since the action: it is % with daily budget %, the action left it % with %; use force to roll back anyway',
                v_campaign.status, v_campaign.daily_budget, v_action.new_state ->> 'status', v_action.new_state ->> 'daily_budget'
                USING ERRCODE = 'AO409';
        END IF;
        UPDATE campaigns
           SET status = v_action.previous_state ->> 'status',
               daily_budget = (v_action.previous_state ->> 'daily_budget')::numeric,
               -- a forced rollback restores the budget even above a max_budget lowered since
               max_budget = CASE WHEN max_budget < (v_action.previous_state ->> 'daily_budget')::numeric
                                 THEN (v_action.previous_state ->> 'daily_budget')::numeric ELSE max_budget END
         WHERE id = v_action.campaign_id;
    END IF;

    UPDATE autonomous_actions
       SET status = 'rolled_back', rolled_back_at = now(), rolled_back_by = app_auth.actor(),
           rollback_reason = coalesce(p_reason, 'rolled back')
     WHERE id = p_action_id
    RETURNING * INTO v_action;
    RETURN to_jsonb(v_action);
END;
$$;
COMMENT ON FUNCTION rollback_autonomous_action(uuid, text, boolean) IS
    'A person overrules the machine: restores the campaign''s status and daily budget from previous_state (or cancels a still-pending post), marks the action rolled_back with who, when and why. Refuses (AO409) an action not executed, already rolled back, an optimize action, or a campaign changed since (unless forced).';

-- ---------------------------------------------------------------------------------------------
-- Settings
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION update_autonomous_settings(p_changes jsonb) RETURNS autonomous_settings
LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
    v_row autonomous_settings;
BEGIN
    SELECT k INTO v_key FROM jsonb_object_keys(p_changes) k
     WHERE k NOT IN (SELECT attname FROM pg_attribute
                      WHERE attrelid = 'autonomous_settings'::regclass AND attnum > 0 AND NOT attisdropped)
        OR k IN ('id', 'updated_at', 'updated_by')
     LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(v_key, 'not a setting');
    END IF;
    UPDATE autonomous_settings s
       SET (min_spend, max_scale_factor, min_scale_confidence, post_spacing_hours, post_lead_minutes,
            impact_window_hours, rollback_quiet_hours, opportunity_quiet_days, low_conversion_min_clicks,
            low_conversion_max_rate, high_traffic_click_quantile, high_traffic_rate_ratio, decline_ratio,
            decline_min_clicks, under_delivery_ratio, audience_high_ctr, audience_low_conversion_rate,
            audience_low_ctr, audience_min_impressions, fatigue_min_frequency, fatigue_ctr_drop,
            timing_min_ratio, timing_min_clicks, updated_by)
         = (SELECT r.min_spend, r.max_scale_factor, r.min_scale_confidence, r.post_spacing_hours, r.post_lead_minutes,
                   r.impact_window_hours, r.rollback_quiet_hours, r.opportunity_quiet_days, r.low_conversion_min_clicks,
                   r.low_conversion_max_rate, r.high_traffic_click_quantile, r.high_traffic_rate_ratio, r.decline_ratio,
                   r.decline_min_clicks, r.under_delivery_ratio, r.audience_high_ctr, r.audience_low_conversion_rate,
                   r.audience_low_ctr, r.audience_min_impressions, r.fatigue_min_frequency, r.fatigue_ctr_drop,
                   r.timing_min_ratio, r.timing_min_clicks, app_auth.actor()
              FROM jsonb_populate_record(s, p_changes) r)
    RETURNING * INTO v_row;
    IF (p_changes ? 'max_scale_factor') AND EXISTS (
           SELECT 1 FROM autonomous_rules
            WHERE rule_type = 'scale' AND (action ->> 'factor')::numeric > v_row.max_scale_factor) THEN
        PERFORM ao_raise_422('max_scale_factor', 'a scale rule has a larger factor; lower its factor first');
    END IF;
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION update_autonomous_settings(jsonb) IS
    'Changes the named settings only (unknown names refused) and records who; refuses a max_scale_factor below a scale rule''s factor, since the guardrail must hold for every rule.';
