-- 22_backtest_replay.sql: what a backtest replays with, and one step of it. The rules, settings and
-- campaigns of the replay go into transaction-local copies (ao_state_table names them to the decision
-- steps); a step runs the cycle's own plan and actions at the replayed moment (22_backtest.sql drives
-- the steps, 22_backtest_result.sql values what they decided).

-- The part's path in front: "rules[2].conditions.all[0].metric", "settings.min_spend".
CREATE OR REPLACE FUNCTION _ao_raise_in(p_prefix text, p_detail text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v jsonb;
BEGIN
    BEGIN
        v := p_detail::jsonb;
    EXCEPTION WHEN OTHERS THEN
        v := NULL;
    END;
    PERFORM ao_raise_422(p_prefix || coalesce('.' || nullif(v ->> 'field', ''), ''),
                         coalesce(v ->> 'message', p_message));
END;
$$;
COMMENT ON FUNCTION _ao_raise_in(text, text, text) IS
    'Reports a refusal of one part of a backtest (a rule body, a setting) as AO422 naming the part''s path.';

CREATE OR REPLACE FUNCTION _ao_replay_prepare_rules(p_rules jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_index integer := 0;
    v_id uuid;
    v_detail text;
    v_constraint text;
BEGIN
    PERFORM _ao_drop_work_table('_ao_replay_rules');
    CREATE TEMP TABLE _ao_replay_rules (LIKE autonomous_rules INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP;
    CREATE TRIGGER _ao_replay_rules_validate BEFORE INSERT ON _ao_replay_rules
        FOR EACH ROW EXECUTE FUNCTION autonomous_rules_validate();
    IF p_rules IS NULL OR p_rules = '"active"'::jsonb THEN
        INSERT INTO _ao_replay_rules SELECT * FROM autonomous_rules WHERE is_active;
    ELSIF jsonb_typeof(p_rules) <> 'array' THEN
        PERFORM ao_raise_422('rules', 'must be "active", a list of rule ids, or a list of rule bodies');
    ELSIF jsonb_array_length(p_rules) = 0 THEN
        PERFORM ao_raise_422('rules', 'must name at least one rule');
    ELSIF jsonb_array_length(p_rules) > 100 THEN
        PERFORM ao_raise_422('rules', 'at most 100 rules');
    ELSIF (SELECT count(*) FROM jsonb_array_elements(p_rules) e WHERE jsonb_typeof(e) = 'object') > 20 THEN
        PERFORM ao_raise_422('rules', 'at most 20 rule bodies');
    ELSE
        FOR v_item IN SELECT e FROM jsonb_array_elements(p_rules) e LOOP
            IF jsonb_typeof(v_item) = 'string' THEN
                BEGIN
                    v_id := v_item #>> '{}';
                EXCEPTION WHEN invalid_text_representation THEN
                    PERFORM ao_raise_422(format('rules[%s]', v_index), 'must be a rule id (a UUID) or a rule body');
                END;
                IF NOT EXISTS (SELECT 1 FROM autonomous_rules WHERE id = v_id) THEN
                    PERFORM ao_raise_422(format('rules[%s]', v_index), 'no rule has this id');
                END IF;
                INSERT INTO _ao_replay_rules
                SELECT (jsonb_populate_record(r, '{"is_active": true}')).* FROM autonomous_rules r
                 WHERE r.id = v_id AND NOT EXISTS (SELECT 1 FROM _ao_replay_rules x WHERE x.id = v_id);
            ELSIF jsonb_typeof(v_item) = 'object' THEN
                BEGIN
                    INSERT INTO _ao_replay_rules
                    SELECT r.* FROM _ao_rule_from_body(v_item, coalesce(v_item ->> 'name', format('rule body %s', v_index)),
                                                       'backtest') r;
                EXCEPTION
                    WHEN SQLSTATE 'AO422' THEN
                        GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL;
                        PERFORM _ao_raise_in(format('rules[%s]', v_index), v_detail, SQLERRM);
                    WHEN check_violation OR not_null_violation THEN
                        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                        PERFORM _ao_raise_in(format('rules[%s]', v_index),
                            (SELECT obj_description(c.oid, 'pg_constraint') FROM pg_constraint c
                              WHERE c.conrelid = 'autonomous_rules'::regclass AND c.conname = v_constraint),
                            'must be a rule: rule_type, conditions and action (priority, min_confidence, cooldown_hours within their ranges)');
                    WHEN invalid_text_representation OR numeric_value_out_of_range OR datatype_mismatch THEN
                        PERFORM ao_raise_422(format('rules[%s]', v_index), 'a field has the wrong type: ' || SQLERRM);
                END;
            ELSE
                PERFORM ao_raise_422(format('rules[%s]', v_index), 'must be a rule id (a UUID) or a rule body');
            END IF;
            v_index := v_index + 1;
        END LOOP;
    END IF;
    ANALYZE _ao_replay_rules;
END;
$$;
COMMENT ON FUNCTION _ao_replay_prepare_rules(jsonb) IS
    'Fills the replay''s rules: the active ones, or the listed rule ids (even inactive ones) and rule bodies (at most 20, checked as any rule is, never created); AO422 names the item (rules[2].conditions…).';

CREATE OR REPLACE FUNCTION _ao_replay_prepare_settings(p_overrides jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_key text;
    v_constraint text;
BEGIN
    IF p_overrides IS NULL THEN
        p_overrides := '{}';
    END IF;
    IF jsonb_typeof(p_overrides) <> 'object' THEN
        PERFORM ao_raise_422('settings', 'must be an object of setting overrides');
    END IF;
    SELECT k INTO v_key FROM jsonb_object_keys(p_overrides) k WHERE k <> ALL (autonomous_setting_names()) LIMIT 1;
    IF v_key IS NOT NULL THEN
        PERFORM ao_raise_422('settings.' || left(v_key, 100), 'not a setting');
    END IF;
    PERFORM _ao_drop_work_table('_ao_replay_settings');
    CREATE TEMP TABLE _ao_replay_settings (LIKE autonomous_settings INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP;
    BEGIN
        INSERT INTO _ao_replay_settings
        SELECT (jsonb_populate_record(s, p_overrides - 'id' - 'updated_at' - 'updated_by')).* FROM autonomous_settings s;
    EXCEPTION
        WHEN check_violation OR not_null_violation THEN
            GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
            -- the constraint's own words when it has them, else the setting its name is for
            PERFORM _ao_raise_in('settings',
                coalesce((SELECT obj_description(c.oid, 'pg_constraint') FROM pg_constraint c
                           WHERE c.conrelid = 'autonomous_settings'::regclass AND c.conname = v_constraint),
                         jsonb_build_object('field', substring(v_constraint FROM '^autonomous_settings_(.*)_check$'))::text),
                'out of its range (see GET /settings)');
        WHEN invalid_text_representation OR numeric_value_out_of_range OR datatype_mismatch THEN
            PERFORM ao_raise_422('settings', 'each override must be a number in its setting''s range: ' || SQLERRM);
    END;
    ANALYZE _ao_replay_settings;
END;
$$;
COMMENT ON FUNCTION _ao_replay_prepare_settings(jsonb) IS
    'Fills the replay''s settings: the live settings with the backtest''s overrides (unknown names and values out of range refused with AO422 naming settings.<name>).';

-- The campaigns a backtest replays (those with metrics before `to`): their state in
-- _ao_replay_campaigns (active from the start, at the budget they had when the replay starts, before any
-- scale the engine made since; a campaign without a budget, such as one imported from a report, gets its
-- average daily spend in the range), their lifetime totals at every period end in _ao_replay_growth
-- (running sums, read once), and the view _ao_replay_campaigns_at that the steps read: each campaign's
-- state with its totals as of the replayed moment (the last running sum at or before it, one index probe
-- each), so that no step rewrites the totals.
CREATE OR REPLACE FUNCTION _ao_replay_prepare_campaigns(p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_replay_campaigns');
    CREATE TEMP TABLE _ao_replay_campaigns ON COMMIT DROP AS
    WITH seen AS (
        SELECT m.campaign_id,
               sum(m.spend) FILTER (WHERE m.period_end > p_from)
                   / greatest(extract(epoch FROM p_to - p_from) / 86400.0, 1) AS range_daily_spend,
               min(m.period_start) AS first_start
          FROM campaign_metrics m
         WHERE m.period_start < p_to
         GROUP BY m.campaign_id
    ), first_scale AS (
        SELECT DISTINCT ON (a.campaign_id) a.campaign_id, (a.previous_state ->> 'daily_budget')::numeric AS budget
          FROM autonomous_actions a
         WHERE a.action_type = 'scale' AND a.status IN ('executed', 'rolled_back') AND a.created_at >= p_from
         ORDER BY a.campaign_id, a.created_at
    ), base AS (
        SELECT c.*, s.first_start,
               coalesce(b.budget, nullif(c.daily_budget, 0), round(s.range_daily_spend, 2), 0) AS base_budget
          FROM seen s
          JOIN campaigns c ON c.id = s.campaign_id
          LEFT JOIN first_scale b ON b.campaign_id = c.id
    )
    SELECT id, account_id, title, external_id, 'active'::text AS status, base_budget AS daily_budget,
           CASE WHEN max_budget >= base_budget THEN max_budget END AS max_budget,
           least(coalesce(started_at, first_start), first_start) AS started_at, base_budget
      FROM base;
    ALTER TABLE _ao_replay_campaigns ADD PRIMARY KEY (id);
    ANALYZE _ao_replay_campaigns;

    PERFORM _ao_drop_work_table('_ao_replay_growth');
    CREATE TEMP TABLE _ao_replay_growth ON COMMIT DROP AS
    SELECT m.campaign_id, m.period_end AS upto,
           sum(m.impressions) OVER w AS impressions, coalesce(sum(m.reach) OVER w, 0) AS reach,
           sum(m.clicks) OVER w AS clicks, sum(m.conversions) OVER w AS conversions,
           sum(m.spend) OVER w AS spend, sum(m.revenue) OVER w AS revenue
      FROM campaign_metrics m
     WHERE m.period_end <= p_to
    -- RANGE: rows ending at the same moment share one running sum, whichever of them is read
    WINDOW w AS (PARTITION BY m.campaign_id ORDER BY m.period_end RANGE UNBOUNDED PRECEDING);
    CREATE INDEX ON _ao_replay_growth (campaign_id, upto DESC);
    ANALYZE _ao_replay_growth;

    CREATE TEMP VIEW _ao_replay_campaigns_at AS
    SELECT s.id, s.account_id, s.title, s.external_id, s.status, s.daily_budget, s.max_budget, s.started_at,
           coalesce(g.impressions, 0) AS impressions, coalesce(g.reach, 0) AS reach,
           coalesce(g.clicks, 0) AS clicks, coalesce(g.conversions, 0) AS conversions,
           coalesce(g.spend, 0) AS spend, coalesce(g.revenue, 0) AS revenue
      FROM _ao_replay_campaigns s
      LEFT JOIN LATERAL (SELECT * FROM _ao_replay_growth g
                          WHERE g.campaign_id = s.id AND g.upto <= (SELECT ao_now())
                          ORDER BY g.upto DESC LIMIT 1) g ON true;

    PERFORM _ao_drop_work_table('_ao_replay_actions');
    CREATE TEMP TABLE _ao_replay_actions (LIKE autonomous_actions INCLUDING DEFAULTS) ON COMMIT DROP;
    CREATE INDEX ON _ao_replay_actions (campaign_id, action_type, created_at);
    ANALYZE _ao_replay_actions;
END;
$$;
COMMENT ON FUNCTION _ao_replay_prepare_campaigns(timestamptz, timestamptz) IS
    'Makes the replay''s campaigns: their state (active, at their budget when the replay starts: before the engine''s later scales; a campaign without a budget gets its average daily spend in the range), their running lifetime totals, the view of both as of the replayed moment that the steps read, and an empty replay audit trail.';

-- One step of the replay at moment t: the cycle's own plan and actions with the clock at t. They run in
-- a subtransaction that is then undone, so that the work tables a cycle makes (and their locks) do not
-- pile up over thousands of steps; what the step did is kept by writing its audit rows again and
-- setting the campaigns to the state those rows record.
CREATE OR REPLACE FUNCTION _ao_replay_step(p_id uuid, p_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_done jsonb;
    v_limits jsonb;
BEGIN
    PERFORM set_config('ao.as_of', p_at::text, true);
    BEGIN
        PERFORM _ao_plan_afresh();
        PERFORM _ao_apply_planned('pause', NULL, p_id);
        PERFORM _ao_apply_planned('scale', NULL, p_id);
        SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]') INTO v_done FROM _ao_replay_actions a WHERE a.created_at = p_at;
        v_limits := ao_limits_document(true);
        RAISE EXCEPTION 'step done' USING ERRCODE = 'AOSTP';
    EXCEPTION WHEN SQLSTATE 'AOSTP' THEN
        NULL;
    END;
    IF jsonb_array_length(v_done) > 0 THEN
        INSERT INTO _ao_replay_actions SELECT * FROM jsonb_populate_recordset(NULL::autonomous_actions, v_done);
        UPDATE _ao_replay_campaigns c
           SET status = a.new_state ->> 'status', daily_budget = (a.new_state ->> 'daily_budget')::numeric
          FROM jsonb_populate_recordset(NULL::autonomous_actions, v_done) a
         WHERE c.id = a.campaign_id;
        -- the guardrails of the next step look up what this one did
        ANALYZE _ao_replay_actions;
    END IF;
    RETURN jsonb_build_object('actions', jsonb_array_length(v_done), 'limits', v_limits);
END;
$$;
COMMENT ON FUNCTION _ao_replay_step(uuid, timestamptz) IS
    'One replayed step at moment t: plans and carries out pauses and scales exactly as a cycle would at t, with the same limits, over the campaigns'' totals as of t (in an undone subtransaction, whose audit rows and campaign states are kept), returning how many actions it took and what the limits did.';
