-- 22_backtest.sql: what the rules would have done over the metrics history. A backtest replays the
-- decisions step by step (every day or hour from `from` to `to`) through the very functions a cycle
-- runs: at each step t the clock (ao_now) is t, the windows end at t, the lifetime totals are the sums
-- of the periods that ended by t (no look-ahead), and every guardrail, cooldown, confidence floor and
-- priority applies. The replay's state lives in transaction-local work tables (ao_state_table names
-- them): the live campaigns, actions, rules and settings are read, never written, and nothing is locked.
-- A paused campaign stays paused for the rest of the replay; a scaled one keeps its new budget.

-- The steps of a backtest: from + step, from + 2·step, … up to `to` (the last one is `to` itself).
CREATE OR REPLACE FUNCTION _ao_backtest_steps(p_from timestamptz, p_to timestamptz, p_step text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT ceil(extract(epoch FROM p_to - p_from)
                / CASE p_step WHEN 'hour' THEN 3600 ELSE 86400 END)::integer
$$;
COMMENT ON FUNCTION _ao_backtest_steps(timestamptz, timestamptz, text) IS
    'How many steps a backtest replays: one per day (or hour) after from, the last at to.';

-- Re-raises a bad-input error of a backtest's part (a rule or a setting) with the part's path in front:
-- "rules[2].conditions.all[0].metric", "settings.min_spend".
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

-- The rules a backtest replays, into _ao_replay_rules: "active" (the active rules), or a list whose items
-- are rule ids (active or not) or rule bodies (tried without being created; at most 20). Each is checked
-- as a rule written to autonomous_rules is.
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
                    INSERT INTO _ao_replay_rules (name, description, rule_type, priority, is_active, conditions, action,
                                                  min_confidence, cooldown_hours, created_by)
                    SELECT coalesce(b.name, format('rule body %s', v_index)), b.description, b.rule_type,
                           coalesce(b.priority, 50), true, b.conditions, b.action, coalesce(b.min_confidence, 0),
                           coalesce(b.cooldown_hours, 24), 'backtest'
                      FROM jsonb_to_record(v_item) AS b(name text, description text, rule_type text, priority integer,
                                                        conditions jsonb, action jsonb, min_confidence numeric,
                                                        cooldown_hours integer);
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

-- The settings a backtest replays with: the live ones with its overrides (names and ranges as for PATCH
-- /settings), into _ao_replay_settings.
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
            PERFORM ao_raise_422('settings.' || coalesce(substring(v_constraint FROM '^autonomous_settings_(.*)_check$'), ''),
                                 'out of its range (see GET /settings and the README)');
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
    SELECT id, title, external_id, 'active'::text AS status, base_budget AS daily_budget,
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
    SELECT s.id, s.title, s.external_id, s.status, s.daily_budget, s.max_budget, s.started_at,
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
        PERFORM _ao_prepare_stats();
        PERFORM _ao_build_plan();
        PERFORM _ao_apply_planned('pause', NULL, p_id);
        PERFORM _ao_apply_planned('scale', NULL, p_id);
        SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]') INTO v_done FROM _ao_replay_actions a WHERE a.created_at = p_at;
        SELECT to_jsonb(l) INTO v_limits FROM _ao_limits l;
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

-- The money of the replayed decisions, from the data that followed each one (README, "Backtests"):
-- a pause saves the campaign's spend − revenue after it (negative: it cost money), and is a regret when
-- the campaign's ROI over the next 7 days was ≥ 1; a scale by k adds an estimated (k − 1) × (revenue −
-- spend) after it, k measured against the budget the data was spent at, until the replay pauses the
-- campaign (an estimate: it assumes the ROI holds at the higher spend). The data says nothing of spend
-- past max_scale_factor × that budget, so the estimate counts budgets up to there only; a campaign
-- scaled without a max_budget is counted apart, since the engine would go on scaling it.
CREATE OR REPLACE FUNCTION _ao_backtest_result(p_from timestamptz, p_to timestamptz, p_step text, p_steps integer,
                                               p_limited jsonb DEFAULT '[]')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    WITH acts AS (
        SELECT a.id, a.campaign_id, c.title, a.rule_id, r.name AS rule_name, a.action_type, a.created_at AS at,
               a.reason, a.confidence, (a.previous_state ->> 'daily_budget')::numeric AS old_budget,
               (a.new_state ->> 'daily_budget')::numeric AS new_budget, c.base_budget,
               c.base_budget * s.max_scale_factor AS budget_cap, c.max_budget IS NULL AS uncapped
          FROM _ao_replay_actions a
          JOIN _ao_replay_campaigns c ON c.id = a.campaign_id
          JOIN _ao_replay_rules r ON r.id = a.rule_id
         CROSS JOIN (SELECT max_scale_factor FROM ao_settings()) s
    ), until AS (  -- the money after an action counts up to `to`; a scale's up to the replay's pause
        SELECT x.*, CASE WHEN x.action_type = 'scale' THEN coalesce(p.at, p_to) ELSE p_to END AS until_at
          FROM acts x
          LEFT JOIN acts p ON p.campaign_id = x.campaign_id AND p.action_type = 'pause'
    ), after AS (
        SELECT u.id, m.period_end, m.spend, m.revenue, m.period_end <= u.at + interval '7 days' AS next_7d
          FROM until u
          JOIN campaign_metrics m ON m.campaign_id = u.campaign_id AND m.period_start >= u.at AND m.period_end <= u.until_at
    ), money AS (
        SELECT u.*,
               coalesce(sum(f.spend), 0) AS spend_after, coalesce(sum(f.revenue), 0) AS revenue_after,
               sum(f.spend) FILTER (WHERE f.next_7d) AS spend_7d, sum(f.revenue) FILTER (WHERE f.next_7d) AS revenue_7d
          FROM until u LEFT JOIN after f ON f.id = u.id
         GROUP BY u.id, u.campaign_id, u.title, u.rule_id, u.rule_name, u.action_type, u.at, u.reason, u.confidence,
                  u.old_budget, u.new_budget, u.base_budget, u.budget_cap, u.uncapped, u.until_at
    ), valued AS (
        SELECT m.*,
               CASE WHEN m.action_type = 'pause' THEN round(m.spend_after - m.revenue_after, 2) END AS saved,
               CASE WHEN m.action_type = 'scale' AND m.base_budget > 0
                    THEN round((least(m.new_budget, m.budget_cap) - least(m.old_budget, m.budget_cap)) / m.base_budget
                               * (m.revenue_after - m.spend_after), 2) END
                   AS added_profit_estimate,
               CASE WHEN m.spend_7d > 0 THEN round(m.revenue_7d / m.spend_7d, 4) END AS roi_next_7d,
               m.action_type = 'pause' AND m.spend_7d > 0 AND m.revenue_7d / m.spend_7d >= 1 AS regret
          FROM money m
    ), daily AS (  -- each action's money by the day its periods ended on, for the timeline
        SELECT ((f.period_end - interval '1 microsecond') AT TIME ZONE 'UTC')::date AS day,
               sum(CASE WHEN u.action_type = 'pause' THEN f.spend - f.revenue END) AS saved,
               sum(CASE WHEN u.action_type = 'scale' AND u.base_budget > 0
                        THEN (least(u.new_budget, u.budget_cap) - least(u.old_budget, u.budget_cap)) / u.base_budget
                             * (f.revenue - f.spend) END) AS added
          FROM after f JOIN until u ON u.id = f.id
         GROUP BY 1
    ), timeline AS (
        SELECT d::date AS day,
               round(coalesce(sum(daily.saved) OVER w, 0), 2) AS saved,
               round(coalesce(sum(daily.added) OVER w, 0), 2) AS added_profit_estimate
          FROM generate_series((p_from AT TIME ZONE 'UTC')::date, ((p_to - interval '1 microsecond') AT TIME ZONE 'UTC')::date,
                               interval '1 day') d
          LEFT JOIN daily ON daily.day = d::date
        WINDOW w AS (ORDER BY d)
    )
    SELECT jsonb_build_object(
        'from', p_from, 'to', p_to, 'step', p_step, 'steps', p_steps,
        'campaigns', (SELECT count(*) FROM _ao_replay_campaigns),
        'totals', (SELECT jsonb_build_object(
                       'pauses', count(*) FILTER (WHERE action_type = 'pause'),
                       'scales', count(*) FILTER (WHERE action_type = 'scale'),
                       'saved', coalesce(sum(saved), 0),
                       'added_profit_estimate', coalesce(sum(added_profit_estimate), 0),
                       'regrets', count(*) FILTER (WHERE regret),
                       'scaled_without_max_budget', count(DISTINCT campaign_id) FILTER (WHERE action_type = 'scale' AND uncapped))
                     FROM valued),
        'rules', (SELECT coalesce(jsonb_agg(x ORDER BY x.priority DESC, x.name), '[]')
                    FROM (SELECT r.id AS rule_id, r.name, r.rule_type, r.priority,
                                 count(v.id) FILTER (WHERE v.action_type = 'pause') AS pauses,
                                 count(v.id) FILTER (WHERE v.action_type = 'scale') AS scales,
                                 coalesce(sum(v.saved), 0) AS saved,
                                 coalesce(sum(v.added_profit_estimate), 0) AS added_profit_estimate,
                                 count(v.id) FILTER (WHERE v.regret) AS regrets
                            FROM _ao_replay_rules r LEFT JOIN valued v ON v.rule_id = r.id
                           WHERE r.rule_type IN ('pause', 'scale')
                           GROUP BY r.id, r.name, r.rule_type, r.priority) x),
        'decisions_total', (SELECT count(*) FROM valued),
        -- the steps at which a limit held something: the breaker (held), the mass-pause or budget limits
        'held_steps', (SELECT coalesce(jsonb_agg(s ORDER BY s ->> 'at'), '[]')
                         FROM (SELECT s FROM jsonb_array_elements(p_limited) s LIMIT 500) x),
        'held_steps_total', jsonb_array_length(p_limited),
        'decisions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'campaign_id', v.campaign_id, 'campaign_title', v.title, 'at', v.at,
                                 'action_type', v.action_type, 'rule_id', v.rule_id, 'rule_name', v.rule_name,
                                 'reason', v.reason, 'confidence', v.confidence,
                                 'previous_budget', v.old_budget, 'new_budget', v.new_budget,
                                 'spend_after', v.spend_after, 'revenue_after', v.revenue_after,
                                 'saved', v.saved, 'added_profit_estimate', v.added_profit_estimate,
                                 'roi_next_7d', v.roi_next_7d, 'regret', v.regret) ORDER BY v.at, v.title, v.action_type), '[]')
                        FROM (SELECT * FROM valued ORDER BY at, title, action_type LIMIT 5000) v),
        'timeline', (SELECT coalesce(jsonb_agg(jsonb_build_object('date', t.day, 'saved', t.saved,
                                                                  'added_profit_estimate', t.added_profit_estimate)
                                               ORDER BY t.day), '[]') FROM timeline t),
        'estimate_note', 'added_profit_estimate assumes the ROI a campaign showed holds at the higher spend: '
                         '(k − 1) × (revenue − spend) after the scale, k = the new budget over the budget the data was '
                         'spent at, counted up to max_scale_factor × that budget (the data says nothing beyond)')
      INTO v_result;
    RETURN v_result;
END;
$$;
COMMENT ON FUNCTION _ao_backtest_result(timestamptz, timestamptz, text, integer, jsonb) IS
    'The result of a replay: per rule and in total the pauses, scales, money saved by pauses (spend − revenue after each), estimated added profit of scales, regrets (pauses followed by 7 days at ROI ≥ 1), the decisions (first 5,000), the steps at which a limit held something (first 500), and a daily timeline of the cumulative figures.';

-- Replays the decisions from p_from to p_to (the work tables made, the steps run, the result built);
-- sends NOTICE "backtest <id> step k/n" as it goes, which the runner turns into progress.
CREATE OR REPLACE FUNCTION _ao_replay(p_id uuid, p_from timestamptz, p_to timestamptz, p_step text, p_rules jsonb,
                                      p_settings jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_steps integer := _ao_backtest_steps(p_from, p_to, p_step);
    v_interval interval := CASE p_step WHEN 'hour' THEN interval '1 hour' ELSE interval '1 day' END;
    v_at timestamptz;
    v_step jsonb;
    v_limited jsonb[] := '{}';
    v_result jsonb;
BEGIN
    PERFORM _ao_replay_prepare_rules(p_rules);
    PERFORM _ao_replay_prepare_settings(p_settings);
    PERFORM _ao_replay_prepare_campaigns(p_from, p_to);
    PERFORM set_config('ao.replay', p_id::text, true);
    FOR k IN 1 .. v_steps LOOP
        v_at := least(p_from + k * v_interval, p_to);
        v_step := _ao_replay_step(p_id, v_at);
        IF (v_step -> 'limits' ->> 'held')::boolean
           OR (v_step -> 'limits' ->> 'pauses_held')::int + (v_step -> 'limits' ->> 'scales_held')::int
              + (v_step -> 'limits' ->> 'scales_partial')::int > 0 THEN
            v_limited := v_limited || (jsonb_build_object('at', v_at) || (v_step -> 'limits'));
        END IF;
        IF k = v_steps OR k % greatest(v_steps / 50, 1) = 0 THEN
            RAISE NOTICE 'backtest % step %/%', p_id, k, v_steps;
        END IF;
    END LOOP;
    v_result := _ao_backtest_result(p_from, p_to, p_step, v_steps, to_jsonb(v_limited));
    PERFORM set_config('ao.replay', '', true);
    PERFORM set_config('ao.as_of', '', true);
    RETURN v_result;
EXCEPTION WHEN OTHERS THEN
    PERFORM set_config('ao.replay', '', true);
    PERFORM set_config('ao.as_of', '', true);
    RAISE;
END;
$$;
COMMENT ON FUNCTION _ao_replay(uuid, timestamptz, timestamptz, text, jsonb, jsonb) IS
    'Replays the decisions step by step over the history with the given rules and settings overrides and returns the result; the live tables are only read.';

-- Asks for a backtest: checks what is asked (the range by the table, the rules and settings as the
-- replay will read them) and queues it for the runner (NOTIFY ao_backtests). Returns its id.
CREATE OR REPLACE FUNCTION create_backtest(p_from timestamptz, p_to timestamptz, p_step text DEFAULT 'day',
                                           p_rules jsonb DEFAULT '"active"', p_settings jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    IF p_from IS NULL THEN
        PERFORM ao_raise_422('from', 'is required');
    END IF;
    IF p_to IS NULL OR p_to <= p_from THEN
        PERFORM ao_raise_422('to', 'must be after from');
    END IF;
    IF p_to - p_from > interval '400 days' THEN
        PERFORM ao_raise_422('to', 'at most 400 days after from');
    END IF;
    IF p_step IS NULL OR p_step NOT IN ('day', 'hour') THEN
        PERFORM ao_raise_422('step', 'must be day or hour');
    END IF;
    PERFORM _ao_replay_prepare_rules(coalesce(p_rules, '"active"'));
    PERFORM _ao_replay_prepare_settings(coalesce(p_settings, '{}'));
    PERFORM _ao_drop_work_table('_ao_replay_rules');
    PERFORM _ao_drop_work_table('_ao_replay_settings');
    INSERT INTO backtests (from_at, to_at, step, rules, settings, steps_total, created_by)
    VALUES (p_from, p_to, p_step, coalesce(p_rules, '"active"'), coalesce(p_settings, '{}'),
            _ao_backtest_steps(p_from, p_to, p_step), app_auth.actor())
    RETURNING id INTO v_id;
    PERFORM pg_notify('ao_backtests', v_id::text);
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION create_backtest(timestamptz, timestamptz, text, jsonb, jsonb) IS
    'Queues a backtest after checking it (from < to, at most 400 days, step day|hour, rules "active" or ids or at most 20 bodies, settings overrides by name and range; AO422 naming the part) and wakes the runner; returns its id.';

-- The next backtest for this runner: the oldest queued one, when none is running (one at a time: a
-- second waits in the queue). A running one whose runner stopped reporting for 10 minutes is taken over.
CREATE OR REPLACE FUNCTION claim_backtest() RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(7415005);
    IF EXISTS (SELECT 1 FROM backtests WHERE status = 'running' AND heartbeat_at > now() - interval '10 minutes') THEN
        RETURN NULL;
    END IF;
    UPDATE backtests b SET status = 'running', started_at = now(), heartbeat_at = now(), progress = 0
     WHERE b.id = (SELECT id FROM backtests WHERE status IN ('queued', 'running') ORDER BY status = 'queued', created_at, id LIMIT 1)
    RETURNING b.id INTO v_id;
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION claim_backtest() IS
    'Gives a runner the next backtest to run (the oldest queued, or one whose runner went silent for 10 minutes) while none is running, so backtests run one at a time in order.';

-- Runs a claimed backtest and records its result (or its error).
CREATE OR REPLACE FUNCTION execute_backtest(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    b backtests;
    v_result jsonb;
BEGIN
    SELECT * INTO b FROM backtests WHERE id = p_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no backtest %', p_id USING ERRCODE = 'AO404';
    END IF;
    BEGIN
        v_result := _ao_replay(b.id, b.from_at, b.to_at, b.step, b.rules, b.settings);
    EXCEPTION WHEN OTHERS THEN
        UPDATE backtests SET status = 'failed', error = left(SQLERRM, 2000), finished_at = clock_timestamp()
         WHERE id = p_id;
        RETURN NULL;
    END;
    UPDATE backtests SET status = 'succeeded', progress = 1, result = v_result, finished_at = clock_timestamp(),
                         heartbeat_at = clock_timestamp()
     WHERE id = p_id;
    RETURN v_result;
END;
$$;
COMMENT ON FUNCTION execute_backtest(uuid) IS
    'Runs one backtest (replay and result) and records it as succeeded with its result, or failed with the error.';

-- psql: a backtest asked for and run at once, in this transaction; returns its result.
CREATE OR REPLACE FUNCTION run_backtest(p_from timestamptz, p_to timestamptz, p_step text DEFAULT 'day',
                                        p_rules jsonb DEFAULT '"active"', p_settings jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := create_backtest(p_from, p_to, p_step, p_rules, p_settings);
    v_result jsonb;
BEGIN
    UPDATE backtests SET status = 'running', started_at = now(), heartbeat_at = now() WHERE id = v_id;
    v_result := execute_backtest(v_id);
    IF v_result IS NULL THEN
        RAISE EXCEPTION 'backtest failed: %', (SELECT error FROM backtests WHERE id = v_id);
    END IF;
    RETURN v_result || jsonb_build_object('backtest_id', v_id);
END;
$$;
COMMENT ON FUNCTION run_backtest(timestamptz, timestamptz, text, jsonb, jsonb) IS
    'A backtest run at once (from psql or the command line): checks it, replays the rules from p_from to p_to by day or hour with the given rules ("active", ids or bodies) and settings overrides, records it and returns its result with backtest_id.';
