-- 008_hardening.sql: every input bounded, one bad rule cannot stop the engine, idempotency keys bound to
-- their request, and an audit trail that holds in every session_replication_role.
--
-- The bounds are the API's (README, "Bounds"): money finite, >= 0 and < 10^12; counts whole numbers in
-- [0, 2^53); rule values finite with |v| < 10^12; text without NUL or other C0 control characters
-- (tab and newline allowed). They are enforced here too, so psql callers are refused like API callers.

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
    DROP CONSTRAINT campaigns_external_id_check,
    DROP CONSTRAINT campaigns_title_check,
    DROP CONSTRAINT campaigns_daily_budget_check,
    ADD CONSTRAINT campaigns_external_id_check
        CHECK (length(btrim(external_id)) BETWEEN 1 AND 200 AND ao_is_clean_text(external_id)),
    ADD CONSTRAINT campaigns_title_check
        CHECK (length(btrim(title)) BETWEEN 1 AND 500 AND ao_is_clean_text(title)),
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
    DROP CONSTRAINT autonomous_rules_name_check,
    ADD CONSTRAINT autonomous_rules_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200 AND ao_is_clean_text(name)),
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
-- Ingestion: every number checked before anything is written, totals that cannot overflow
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ingest_campaign_metrics(p_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ids        uuid[];
    v_bad_index  bigint;
    v_bad_field  text;
    v_count      bigint;
BEGIN
    IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'rows must be an array' USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', 'rows', 'message', 'must be an array')::text;
    END IF;

    -- The first row with a value out of bounds (periods, whole counts in [0, 2^53), money in [0, 10^12)).
    SELECT x.idx, x.field INTO v_bad_index, v_bad_field
      FROM (SELECT r.idx - 1 AS idx,
                   CASE WHEN r.period_start IS NULL THEN 'period_start'
                        WHEN r.period_end IS NULL OR r.period_end <= r.period_start THEN 'period_end'
                        WHEN NOT ao_is_count(coalesce(r.impressions, 0)) THEN 'impressions'
                        WHEN NOT ao_is_count(r.reach) THEN 'reach'
                        WHEN NOT ao_is_count(coalesce(r.clicks, 0)) THEN 'clicks'
                        WHEN NOT ao_is_count(coalesce(r.conversions, 0)) THEN 'conversions'
                        WHEN NOT ao_is_money(coalesce(r.spend, 0)) THEN 'spend'
                        WHEN NOT ao_is_money(coalesce(r.revenue, 0)) THEN 'revenue' END AS field
              FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (
                       period_start timestamptz, period_end timestamptz, impressions numeric, reach numeric,
                       clicks numeric, conversions numeric, spend numeric, revenue numeric))
                   WITH ORDINALITY AS r(period_start, period_end, impressions, reach, clicks, conversions,
                                        spend, revenue, idx)) x
     WHERE x.field IS NOT NULL
     ORDER BY x.idx
     LIMIT 1;
    IF v_bad_field IS NOT NULL THEN
        PERFORM ao_raise_422(format('rows[%s].%s', v_bad_index, v_bad_field),
            CASE v_bad_field
                WHEN 'period_start' THEN 'is required'
                WHEN 'period_end' THEN 'is required and must be after period_start'
                WHEN 'spend' THEN 'must be a number >= 0 and < 1000000000000'
                WHEN 'revenue' THEN 'must be a number >= 0 and < 1000000000000'
                ELSE 'must be a whole number from 0 to 9007199254740991' END);
    END IF;

    -- Resolve every row to a campaign (by id, else by external_id) and lock those campaigns in a
    -- fixed order, so that concurrent batches for one campaign serialize and its totals stay exact.
    WITH input AS (
        SELECT r.idx - 1 AS idx, r.campaign_id, r.external_id
        FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text))
             WITH ORDINALITY AS r(campaign_id, external_id, idx)
    ), resolved AS (
        SELECT i.idx, coalesce(c1.id, c2.id) AS id
        FROM input i
        LEFT JOIN campaigns c1 ON c1.id = i.campaign_id
        LEFT JOIN campaigns c2 ON i.campaign_id IS NULL AND c2.external_id = i.external_id
    )
    SELECT min(idx) FILTER (WHERE id IS NULL), array_agg(DISTINCT id) FILTER (WHERE id IS NOT NULL)
      INTO v_bad_index, v_ids
    FROM resolved;

    IF v_bad_index IS NOT NULL THEN
        RAISE EXCEPTION 'rows[%]: unknown campaign', v_bad_index USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', format('rows[%s].campaign_id', v_bad_index),
                                        'message', 'no campaign has this campaign_id or external_id')::text;
    END IF;

    PERFORM 1 FROM campaigns WHERE id = ANY (v_ids) ORDER BY id FOR UPDATE;

    BEGIN
        WITH input AS (
            SELECT r.*
            FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (
                     campaign_id uuid, external_id text, period_start timestamptz, period_end timestamptz,
                     impressions bigint, reach bigint, clicks bigint, conversions bigint,
                     spend numeric, revenue numeric))
                 WITH ORDINALITY AS r(campaign_id, external_id, period_start, period_end, impressions,
                                      reach, clicks, conversions, spend, revenue, idx)
        ), upserted AS (
            INSERT INTO campaign_metrics AS m
                (campaign_id, period_start, period_end, impressions, reach, clicks, conversions, spend, revenue)
            SELECT coalesce(c1.id, c2.id), i.period_start, i.period_end, coalesce(i.impressions, 0), i.reach,
                   coalesce(i.clicks, 0), coalesce(i.conversions, 0), coalesce(i.spend, 0), coalesce(i.revenue, 0)
            FROM input i
            LEFT JOIN campaigns c1 ON c1.id = i.campaign_id
            LEFT JOIN campaigns c2 ON i.campaign_id IS NULL AND c2.external_id = i.external_id
            ON CONFLICT (campaign_id, period_start) DO UPDATE
               SET period_end = EXCLUDED.period_end, impressions = EXCLUDED.impressions,
                   reach = EXCLUDED.reach, clicks = EXCLUDED.clicks, conversions = EXCLUDED.conversions,
                   spend = EXCLUDED.spend, revenue = EXCLUDED.revenue, updated_at = now()
            RETURNING 1
        )
        SELECT count(*) INTO v_count FROM upserted;
    EXCEPTION WHEN cardinality_violation THEN
        -- The same (campaign, period_start) twice in one batch: name the second occurrence.
        WITH input AS (
            SELECT r.idx - 1 AS idx, coalesce(c1.id, c2.id) AS id, r.period_start
            FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text, period_start timestamptz))
                 WITH ORDINALITY AS r(campaign_id, external_id, period_start, idx)
            LEFT JOIN campaigns c1 ON c1.id = r.campaign_id
            LEFT JOIN campaigns c2 ON r.campaign_id IS NULL AND c2.external_id = r.external_id
        )
        SELECT min(idx) INTO v_bad_index
        FROM (SELECT idx, row_number() OVER (PARTITION BY id, period_start ORDER BY idx) AS n FROM input) d
        WHERE n > 1;
        RAISE EXCEPTION 'rows[%]: the same campaign and period_start appear twice in the batch', v_bad_index
            USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', format('rows[%s].period_start', v_bad_index),
                                        'message', 'duplicate of an earlier row for the same campaign and period_start')::text;
    END;

    -- Totals are recomputed from the facts, so re-sending a period replaces its contribution.
    BEGIN
        UPDATE campaigns c
           SET impressions = s.impressions, reach = s.reach, clicks = s.clicks,
               conversions = s.conversions, spend = s.spend, revenue = s.revenue
          FROM (SELECT campaign_id, sum(impressions) AS impressions, coalesce(sum(reach), 0) AS reach,
                       sum(clicks) AS clicks, sum(conversions) AS conversions,
                       sum(spend) AS spend, sum(revenue) AS revenue
                  FROM campaign_metrics
                 WHERE campaign_id = ANY (v_ids)
                 GROUP BY campaign_id) s
         WHERE c.id = s.campaign_id;
    EXCEPTION WHEN numeric_value_out_of_range THEN
        -- A lifetime total past its column (bigint counts, money < 10^12): name the batch's first row
        -- of the campaign whose total overflows. Only this rare path pays for finding it.
        WITH totals AS (
            SELECT campaign_id FROM campaign_metrics WHERE campaign_id = ANY (v_ids) GROUP BY campaign_id
            HAVING sum(impressions) > 9223372036854775807 OR sum(reach) > 9223372036854775807
                OR sum(clicks) > 9223372036854775807 OR sum(conversions) > 9223372036854775807
                OR sum(spend) >= 1e12 OR sum(revenue) >= 1e12
        )
        SELECT min(r.idx) - 1 INTO v_bad_index
          FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text))
               WITH ORDINALITY AS r(campaign_id, external_id, idx)
          JOIN campaigns c ON c.id = r.campaign_id OR (r.campaign_id IS NULL AND c.external_id = r.external_id)
          JOIN totals t ON t.campaign_id = c.id;
        PERFORM ao_raise_422(format('rows[%s]', v_bad_index),
            'would take the campaign''s lifetime totals past their bounds (counts within bigint, money < 1000000000000)');
    END;

    RETURN jsonb_build_object('rows', v_count, 'campaigns', coalesce(cardinality(v_ids), 0));
END;
$$;
COMMENT ON FUNCTION ingest_campaign_metrics(jsonb) IS
    'Upserts a batch of metric rows (one per campaign and period_start; a re-sent period replaces the old row) and recomputes the lifetime totals of the campaigns touched. All or nothing: a value out of bounds, an unknown campaign, a duplicated period or totals that would overflow reject the batch with AO422 naming the row index.';

-- ---------------------------------------------------------------------------------------------
-- Rules: values bounded, each rule evaluated in its own subtransaction
-- ---------------------------------------------------------------------------------------------

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
        IF jsonb_array_length(p_node -> v_key) > 20 THEN
            PERFORM ao_raise_422(p_path || '.' || v_key, 'holds at most 20 conditions or groups');
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

    -- A leaf: {"metric": M, "op": OP, "value": V, "window": W}, never the whole tree.
    IF p_depth = 1 THEN
        PERFORM ao_raise_422(p_path, 'must be a group: {"all": [...]} or {"any": [...]}');
    END IF;
    IF NOT p_node ? 'metric' THEN
        PERFORM ao_raise_422(p_path, 'must be {"all": [...]}, {"any": [...]} or a condition {"metric", "op", "value", "window"}');
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(p_node) k
     WHERE k NOT IN ('metric', 'op', 'value', 'window') LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422(p_path || '.' || left(v_key, 100), 'unknown key; a condition has metric, op, value and window');
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
    IF (p_node ? 'window' AND jsonb_typeof(p_node -> 'window') <> 'string') OR NOT v_window = ANY (rule_windows()) THEN
        PERFORM ao_raise_422(p_path || '.window', 'must be one of ' || array_to_string(rule_windows(), ', '));
    END IF;
    IF v_metric IN ('hours_running', 'days_running', 'daily_budget') AND v_window <> 'lifetime' THEN
        PERFORM ao_raise_422(p_path || '.window', format('%s has no window: omit it or use lifetime', v_metric));
    END IF;
    v_value := p_node -> 'value';
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
    -- Thresholds enter the float8 formulas rounded to 12 decimals (a value like 1e-400 is a valid JSON
    -- number but no double precision one).
    v_dir := CASE WHEN v_op IN ('gt', 'gte') THEN 1 WHEN v_op IN ('lt', 'lte') THEN -1 ELSE 0 END;
    v_v := CASE WHEN v_op <> 'between' THEN round((v_value #>> '{}')::numeric, 12) END;
    IF v_dir <> 0 AND v_metric IN ('roi', 'cpa', 'cpc') THEN
        -- log-normal approximation with Poisson counts: Var(ln ratio) ≈ 1 / (n + 1)
        v_n := format('s.%s_%s', CASE v_metric WHEN 'cpc' THEN 'clicks' ELSE 'conversions' END, v_window);
        -- in float8: numeric ln() and sqrt() cost far more, and 15 digits are plenty for a probability
        RETURN format('coalesce(ao_norm_cdf(%s * (ln(greatest(%s, 0.01)::float8) - ln(greatest(%L::float8, 0.01))) * sqrt((%s + 1)::float8)), 0)',
                      v_dir, v_expr, v_v, v_n);
    ELSIF v_dir <> 0 AND v_metric IN ('ctr', 'conversion_rate') AND v_v > 0 AND v_v < 1 THEN
        -- Wilson score test of the observed rate against the threshold p0: z = (p̂ − p0) / √(p0(1−p0)/n)
        v_n := format('s.%s_%s', CASE v_metric WHEN 'ctr' THEN 'impressions' ELSE 'clicks' END, v_window);
        RETURN format('coalesce(ao_norm_cdf(%s * (%s::float8 - %L::float8) / sqrt(%L::float8 * (1 - %L::float8) / NULLIF(%s, 0)::float8)), 0)',
                      v_dir, v_expr, v_v, v_v, v_v, v_n);
    END IF;
    RETURN format('CASE WHEN %s THEN 1 ELSE 0 END', v_cmp);
END;
$$;
COMMENT ON FUNCTION _ao_compile_node(jsonb, text, integer, text) IS
    'Validates one node of a rule''s conditions (whitelisted metric, op, window; finite values with |v| < 10^12; at most 20 children a group; depth <= 3) and compiles it to SQL: a boolean (match) or the probability that it holds (confidence). Raises AO422 naming the bad part.';

-- Fills _ao_matches with every (campaign, rule) pair whose conditions hold, and _ao_rule_errors with
-- the rules that raised. Each rule runs in its own subtransaction: a rule that fails at run time (a
-- row written around the validation, an unforeseen error) is skipped and reported, and the others act.
CREATE OR REPLACE FUNCTION _ao_evaluate_rules(p_rule_types text[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r autonomous_rules%ROWTYPE;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NULL THEN
        PERFORM _ao_prepare_stats();
    END IF;
    IF to_regclass('pg_temp._ao_matches') IS NOT NULL THEN
        DROP TABLE pg_temp._ao_matches;
    END IF;
    IF to_regclass('pg_temp._ao_rule_errors') IS NOT NULL THEN
        DROP TABLE pg_temp._ao_rule_errors;
    END IF;
    CREATE TEMP TABLE _ao_matches (
        campaign_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer, action jsonb,
        min_confidence numeric, cooldown_hours integer, confidence numeric) ON COMMIT DROP;
    CREATE TEMP TABLE _ao_rule_errors (rule_id uuid, name text, error text) ON COMMIT DROP;

    FOR r IN SELECT * FROM autonomous_rules
              WHERE is_active AND (p_rule_types IS NULL OR autonomous_rules.rule_type = ANY (p_rule_types))
              ORDER BY autonomous_rules.priority DESC, name LOOP
        BEGIN
            PERFORM validate_rule_action(r.rule_type, r.action);
            PERFORM describe_rule_conditions(r.conditions);
            EXECUTE format(
                'INSERT INTO _ao_matches
                 SELECT s.campaign_id, $1, $2, $3, $4, $5, $6, $7, round(least(greatest((%s)::numeric, 0), 1), 4)
                   FROM _ao_stats s WHERE %s',
                compile_rule_confidence(r.conditions), compile_rule_conditions(r.conditions))
            USING r.id, r.name, r.rule_type, r.priority, r.action, r.min_confidence, r.cooldown_hours;
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO _ao_rule_errors VALUES (r.id, r.name, SQLERRM);
            RAISE WARNING 'rule "%" (%) skipped in this evaluation: %', r.name, r.id, SQLERRM;
        END;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION _ao_evaluate_rules(text[]) IS
    'Evaluates each active rule (of the given types, or all) as one set-based query over the cycle''s stats, each in its own subtransaction: matches go to _ao_matches, a rule that raises is skipped and recorded in _ao_rule_errors, so one broken rule cannot stop the others.';

CREATE OR REPLACE FUNCTION evaluate_autonomous_rules(p_rule_types text[] DEFAULT NULL)
RETURNS TABLE (campaign_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer,
               action jsonb, min_confidence numeric, cooldown_hours integer, confidence numeric)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_evaluate_rules(p_rule_types);
    RETURN QUERY SELECT * FROM _ao_matches;
END;
$$;
COMMENT ON FUNCTION evaluate_autonomous_rules(text[]) IS
    'Which active campaigns each active rule (of the given types, or all) matches, and with what confidence; a rule that fails is skipped (see _ao_rule_errors).';

-- The decisions a cycle would take now, with the guardrail that holds each back (blocked_reason).
-- Exclusivity: a campaign gets at most one pause/scale decision, from the highest-priority rule it
-- matches with enough confidence (ties by name); post rules are planned separately.
CREATE OR REPLACE FUNCTION _ao_build_plan() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('pg_temp._ao_plan') IS NOT NULL THEN
        DROP TABLE pg_temp._ao_plan;
    END IF;
    -- Post rules only when a post could go out: no valid account, nothing to plan.
    PERFORM _ao_evaluate_rules(
        CASE WHEN NOT EXISTS (SELECT 1 FROM social_accounts sa
                               WHERE sa.status = 'active' AND (sa.token_expires_at IS NULL OR sa.token_expires_at > now()))
             THEN ARRAY['pause', 'scale'] END);
    CREATE TEMP TABLE _ao_plan ON COMMIT DROP AS
    WITH cfg AS (SELECT * FROM autonomous_settings LIMIT 1),
    -- MATERIALIZED: once per rule, not once per decision after the subquery is pulled up; only rules
    -- that evaluated (a failed rule's conditions may not even describe).
    rule_words AS MATERIALIZED (
        SELECT id, describe_rule_conditions(conditions) AS words FROM autonomous_rules
         WHERE id IN (SELECT DISTINCT m.rule_id FROM _ao_matches m)),
    accounts AS (
        SELECT array_agg(DISTINCT sa.platform ORDER BY sa.platform) AS platforms FROM social_accounts sa
         WHERE sa.status = 'active' AND (sa.token_expires_at IS NULL OR sa.token_expires_at > now())
    ),
    matches AS (
        SELECT m.*, CASE m.rule_type WHEN 'scale' THEN greatest(m.min_confidence, cfg.min_scale_confidence)
                                     ELSE m.min_confidence END AS confidence_floor
        FROM _ao_matches m
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
    'Plans a cycle: evaluates the rules (a failing rule skipped and recorded), takes the highest-priority matching rule per campaign (pause/scale exclusive, posts apart), then the guardrails (confidence floor, min spend, max factor, max budget, cooldown, rollback quiet period, post spacing, connected accounts), each blocked decision with its reason, and the reason, states and expected impact of each.';

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
UPDATE autonomous_cycles
   SET idempotency_fingerprint = encode(sha256(convert_to(
           jsonb_build_object('method', 'POST', 'path', '/cycles', 'body', jsonb_build_object('dry_run', dry_run))::text,
           'UTF8')), 'hex')
 WHERE idempotency_key IS NOT NULL;

CREATE OR REPLACE FUNCTION ao_cycle_request_fingerprint(p_dry_run boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(
        jsonb_build_object('method', 'POST', 'path', '/cycles', 'body', jsonb_build_object('dry_run', p_dry_run))::text,
        'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION ao_cycle_request_fingerprint(boolean) IS
    'The fingerprint an Idempotency-Key is bound to: SHA-256 of the request''s method, path and normalized body (POST /cycles {dry_run}), the same whether the cycle is asked for over HTTP or in psql.';

-- The first result under a key used in the last 24 hours: NULL when none; 422 when the key came with
-- another request.
CREATE OR REPLACE FUNCTION _ao_idempotent_replay(p_key text, p_dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_summary jsonb;
    v_fingerprint text;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.summary, c.idempotency_fingerprint INTO v_summary, v_fingerprint
      FROM autonomous_cycles c
     WHERE c.idempotency_key = p_key AND c.started_at > now() - interval '24 hours'
     ORDER BY c.started_at DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_fingerprint IS DISTINCT FROM ao_cycle_request_fingerprint(p_dry_run) THEN
        PERFORM ao_raise_422('Idempotency-Key',
            'Idempotency-Key reused with a different request: a key names one request for 24 hours; use a new key');
    END IF;
    RETURN v_summary || jsonb_build_object('replayed', true);
END;
$$;
COMMENT ON FUNCTION _ao_idempotent_replay(text, boolean) IS
    'Decides what a repeated Idempotency-Key gets: the first result when the key was used in the last 24 hours with the same request, AO422 when it came with a different one, NULL (run the cycle) otherwise.';

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
    v_rule_errors jsonb;
    v_actor text := coalesce(triggered_by, app_auth.actor());
BEGIN
    IF trigger IS NULL OR trigger NOT IN ('api', 'cron', 'sql', 'cli') THEN
        PERFORM ao_raise_422('trigger', 'must be one of api, cron, sql, cli');
    END IF;
    v_existing := _ao_idempotent_replay(idempotency_key, dry_run);
    IF v_existing IS NOT NULL THEN
        RETURN v_existing;
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
    v_existing := _ao_idempotent_replay(idempotency_key, dry_run);
    IF v_existing IS NOT NULL THEN
        RETURN v_existing;
    END IF;

    INSERT INTO autonomous_cycles (trigger, triggered_by, dry_run, status, idempotency_key, idempotency_fingerprint)
    VALUES (trigger, v_actor, dry_run, 'running', idempotency_key,
            CASE WHEN idempotency_key IS NOT NULL THEN ao_cycle_request_fingerprint(dry_run) END)
    RETURNING id INTO v_cycle_id;

    BEGIN
        PERFORM _ao_prepare_stats();
        PERFORM _ao_build_plan();
        SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', e.rule_id, 'name', e.name, 'error', e.error)
                                  ORDER BY e.name), '[]')
          INTO v_rule_errors
          FROM _ao_rule_errors e;
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
            'rule_errors', v_rule_errors,
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
    RAISE NOTICE 'cycle % %: paused %, scaled %, posted %, opportunities %, rule errors %', v_cycle_id,
        CASE WHEN dry_run THEN 'dry run' ELSE 'succeeded' END, v_summary ->> 'paused', v_summary ->> 'scaled',
        v_summary ->> 'posted', v_summary ->> 'opportunities_detected', jsonb_array_length(v_rule_errors);
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION run_autonomous_operations_with_posting(boolean, text, text, text) IS
    'One whole cycle in one transaction under an advisory lock (a second concurrent call is recorded as skipped): plan, pause, scale, detect, measure, then schedule posts; returns {cycle_id, status, dry_run, paused, scaled, posted, opportunities_detected, actions, held_back, rule_errors}. A rule that fails is skipped and listed in rule_errors; the cycle fails only when something outside the rules does, and a failure undoes everything but the failed cycle record. A dry run computes exactly this and undoes it. An Idempotency-Key used in the last 24 h replays the first result of the same request and refuses (AO422) a different one.';

-- ---------------------------------------------------------------------------------------------
-- The audit trail holds in every session_replication_role
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION autonomous_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.cycle_id, NEW.campaign_id, NEW.rule_id, NEW.action_type, NEW.reason,
        NEW.previous_state, NEW.new_state, NEW.confidence, NEW.expected_impact, NEW.created_at,
        NEW.created_by)
       IS DISTINCT FROM
       (OLD.id, OLD.cycle_id, OLD.campaign_id, OLD.rule_id, OLD.action_type, OLD.reason,
        OLD.previous_state, OLD.new_state, OLD.confidence, OLD.expected_impact, OLD.created_at,
        OLD.created_by) THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: only status, executed_at, actual_impact and rollback fields may change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'pending' AND NEW.status IN ('executed', 'failed'))
        OR (OLD.status = 'executed' AND NEW.status = 'rolled_back')) THEN
        RAISE EXCEPTION 'autonomous_actions status may not move from % to %', OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.executed_at IS NOT NULL AND NEW.executed_at IS DISTINCT FROM OLD.executed_at THEN
        RAISE EXCEPTION 'autonomous_actions executed_at is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.actual_impact IS NOT NULL AND NEW.actual_impact IS DISTINCT FROM OLD.actual_impact THEN
        RAISE EXCEPTION 'autonomous_actions actual_impact is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.rolled_back_at IS NOT NULL AND (NEW.rolled_back_at, NEW.rolled_back_by, NEW.rollback_reason)
            IS DISTINCT FROM (OLD.rolled_back_at, OLD.rolled_back_by, OLD.rollback_reason) THEN
        RAISE EXCEPTION 'autonomous_actions rollback fields are written once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION autonomous_actions_append_only() IS
    'Guards the audit trail: refuses DELETE/TRUNCATE for everyone and any UPDATE other than moving status forward (pending→executed|failed, executed→rolled_back) and filling executed_at, actual_impact or the rollback fields once each (the rollback fields only with status rolled_back, a CHECK).';

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
