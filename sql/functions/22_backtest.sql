-- 22_backtest.sql: what the rules would have done over the metrics history. A backtest replays the
-- decisions step by step (every day or hour from `from` to `to`) through the very functions a cycle
-- runs: at each step t the clock (ao_now) is t, the windows end at t, the lifetime totals are the sums
-- of the periods that ended by t (no look-ahead), and every guardrail, cooldown, confidence floor and
-- priority applies. The replay's state lives in transaction-local work tables (ao_state_table names
-- them): the live campaigns, actions, rules and settings are read, never written, and nothing is locked.
-- A paused campaign stays paused for the rest of the replay; a scaled one keeps its new budget.

CREATE OR REPLACE FUNCTION _ao_backtest_steps(p_from timestamptz, p_to timestamptz, p_step text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT ceil(extract(epoch FROM p_to - p_from)
                / CASE p_step WHEN 'hour' THEN 3600 ELSE 86400 END)::integer
$$;
COMMENT ON FUNCTION _ao_backtest_steps(timestamptz, timestamptz, text) IS
    'How many steps a backtest replays: one per day (or hour) after from, the last at to.';

-- As it goes, it reports each step (about 50 of them) as a notice whose SQLSTATE is AOPRG and whose
-- detail is {"backtest_id", "step", "steps"}: the runner turns it into progress. Before each step it
-- looks whether a person cancelled the backtest (committed since the step before) and stops if so.
-- One pass of the replay over every step; the steps at which a limit held something.
CREATE OR REPLACE FUNCTION _ao_replay_pass(p_id uuid, p_from timestamptz, p_to timestamptz, p_step text,
                                           p_pass integer, p_passes integer) RETURNS jsonb
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_steps integer := _ao_backtest_steps(p_from, p_to, p_step);
    v_interval interval := CASE p_step WHEN 'hour' THEN interval '1 hour' ELSE interval '1 day' END;
    v_at timestamptz;
    v_step jsonb;
    v_limited jsonb[] := '{}';
    v_done integer;
BEGIN
    FOR k IN 1 .. v_steps LOOP
        IF EXISTS (SELECT 1 FROM backtests WHERE id = p_id AND status = 'cancelled') THEN
            RAISE EXCEPTION 'backtest % was cancelled', p_id USING ERRCODE = 'AOCNL';
        END IF;
        v_at := least(p_from + k * v_interval, p_to);
        v_step := _ao_replay_step(p_id, v_at);
        IF (v_step -> 'limits' ->> 'held')::boolean
           OR (v_step -> 'limits' ->> 'pauses_held')::int + (v_step -> 'limits' ->> 'scales_held')::int
              + (v_step -> 'limits' ->> 'scales_partial')::int > 0 THEN
            v_limited := v_limited || (jsonb_build_object('at', v_at) || (v_step -> 'limits'));
        END IF;
        IF k = v_steps OR k % greatest(v_steps / 50, 1) = 0 THEN
            v_done := (p_pass - 1) * v_steps + k;
            RAISE NOTICE 'backtest % step %/%', p_id, v_done, v_steps * p_passes
                USING ERRCODE = 'AOPRG',
                      DETAIL = jsonb_build_object('backtest_id', p_id, 'step', v_done, 'steps', v_steps * p_passes)::text;
        END IF;
    END LOOP;
    RETURN to_jsonb(v_limited);
END;
$$;
COMMENT ON FUNCTION _ao_replay_pass(uuid, timestamptz, timestamptz, text, integer, integer) IS
    'Replays every step once (pass p_pass of p_passes, for the progress it reports), stopping when the backtest is cancelled; returns the steps at which a limit held something.';

-- Over a history with revisions (synced accounts) the replay reads each day as its syncs knew it at each
-- step, and is run again for the other reading of the young days: the result is that of the rules as
-- given, and `readings` has the totals (regrets included) of both.
CREATE OR REPLACE FUNCTION _ao_replay(p_id uuid, p_from timestamptz, p_to timestamptz, p_step text, p_rules jsonb,
                                      p_settings jsonb) RETURNS jsonb
LANGUAGE plpgsql
-- JIT would compile the big statements of every step, and a compilation cannot be interrupted: no
-- time limit or cancel could stop it
SET jit = off AS $$
DECLARE
    v_steps integer := _ao_backtest_steps(p_from, p_to, p_step);
    v_result jsonb;
    v_other jsonb;
    v_readings text[];
    v_given text[];
    v_passes integer := 1;
    v_totals jsonb := '{}';
    v_kept jsonb;
BEGIN
    PERFORM _ao_replay_prepare_rules(p_rules);
    PERFORM _ao_replay_prepare_settings(p_settings);
    PERFORM _ao_replay_prepare_campaigns(p_from, p_to);
    PERFORM set_config('ao.replay', p_id::text, true);
    SELECT array_agg(DISTINCT coalesce(reading, 'matured')) INTO v_given FROM _ao_replay_rules;
    IF EXISTS (SELECT 1 FROM metric_revisions r JOIN _ao_replay_campaigns c ON c.id = r.campaign_id
                WHERE r.period_end > p_from AND r.period_start < p_to) THEN
        v_readings := ARRAY(SELECT x FROM unnest(ARRAY['matured', 'as_reported']) x
                             WHERE cardinality(v_given) > 1 OR x <> ALL (v_given));
        v_passes := 1 + cardinality(v_readings);
    END IF;
    v_result := _ao_backtest_result(p_from, p_to, p_step, v_steps,
                                    _ao_replay_pass(p_id, p_from, p_to, p_step, 1, v_passes));
    IF v_passes > 1 THEN
        IF cardinality(v_given) = 1 THEN
            v_totals := jsonb_build_object(v_given[1], v_result -> 'totals');
        END IF;
        v_kept := (SELECT jsonb_object_agg(id, reading) FROM _ao_replay_rules);
        FOR k IN 1 .. cardinality(v_readings) LOOP
            -- the same replay from its start, every rule reading the young days one way
            TRUNCATE _ao_replay_actions;
            UPDATE _ao_replay_campaigns SET status = 'active', daily_budget = base_budget;
            UPDATE _ao_replay_rules SET reading = v_readings[k];
            ANALYZE _ao_replay_actions;
            v_other := _ao_backtest_result(p_from, p_to, p_step, v_steps,
                                           _ao_replay_pass(p_id, p_from, p_to, p_step, k + 1, v_passes));
            v_totals := v_totals || jsonb_build_object(v_readings[k], v_other -> 'totals');
        END LOOP;
        UPDATE _ao_replay_rules r SET reading = v_kept ->> r.id::text;
        v_result := v_result || jsonb_build_object('readings', v_totals);
    END IF;
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
    'Replays the decisions step by step over the history with the given rules and settings overrides and returns the result, reporting its progress as structured notices (SQLSTATE AOPRG) and stopping (AOCNL) when the backtest is cancelled; the live tables are only read. Over a history with revisions each day reads as its syncs knew it at each step, and the replay is run again for the other reading of young days (readings: the totals of both).';

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
    IF p_step = 'hour' AND ao_hourly_retention_needed(p_from) > (SELECT hourly_retention_days FROM autonomous_settings) THEN
        PERFORM ao_raise_422('from', format(
            'an hourly replay from here needs %s days of hours, and hourly_retention_days keeps %s: start later, replay by day, or raise hourly_retention_days',
            ao_hourly_retention_needed(p_from), (SELECT hourly_retention_days FROM autonomous_settings)));
    END IF;
    PERFORM _ao_replay_prepare_rules(coalesce(p_rules, '"active"'));
    PERFORM _ao_replay_prepare_settings(coalesce(p_settings, '{}'));
    PERFORM _ao_drop_work_table('_ao_replay_rules');
    PERFORM _ao_drop_work_table('_ao_replay_settings');
    INSERT INTO backtests (from_at, to_at, step, rules, settings, steps_total, created_by)
    VALUES (p_from, p_to, p_step, coalesce(p_rules, '"active"'), coalesce(p_settings, '{}'),
            _ao_backtest_steps(p_from, p_to, p_step), app_auth.actor())
    RETURNING id INTO v_id;
    PERFORM pg_notify(ao_channel('backtests'), v_id::text);
    RETURN v_id;
END;
$$;
COMMENT ON FUNCTION create_backtest(timestamptz, timestamptz, text, jsonb, jsonb) IS
    'Queues a backtest after checking it (from < to, at most 400 days, step day|hour, an hourly one within the hours kept, rules "active" or ids or at most 20 bodies, settings overrides by name and range; AO422 naming the part) and wakes the runner; returns its id.';

CREATE OR REPLACE FUNCTION claim_backtest() RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(ao_lock_key('backtest runner'));
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
    'Gives a runner the next backtest to run (the oldest queued, or a running one whose runner went silent for 10 minutes; never a cancelled one) while none is running, so backtests run one at a time in order.';

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
    EXCEPTION
        WHEN SQLSTATE 'AOCNL' THEN
            UPDATE backtests SET finished_at = coalesce(finished_at, clock_timestamp()) WHERE id = p_id;
            RETURN NULL;
        WHEN OTHERS THEN
            UPDATE backtests SET status = 'failed', error = left(SQLERRM, 2000), finished_at = clock_timestamp()
             WHERE id = p_id AND status = 'running';
            RETURN NULL;
    END;
    UPDATE backtests SET status = 'succeeded', progress = 1, result = v_result, finished_at = clock_timestamp(),
                         heartbeat_at = clock_timestamp()
     WHERE id = p_id AND status = 'running';
    RETURN v_result;
END;
$$;
COMMENT ON FUNCTION execute_backtest(uuid) IS
    'Runs one backtest (replay and result) and records it as succeeded with its result, or failed with the error; a backtest cancelled meanwhile stays cancelled.';

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

-- A running one stops at its next step (the runner cancels its statement if a step runs on).
CREATE OR REPLACE FUNCTION cancel_backtest(p_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM backtests WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no backtest %', p_id USING ERRCODE = 'AO404';
    END IF;
    IF v_status NOT IN ('queued', 'running') THEN
        RAISE EXCEPTION 'the backtest has % already: only a queued or running one can be cancelled', v_status
            USING ERRCODE = 'AO409';
    END IF;
    UPDATE backtests
       SET status = 'cancelled', cancelled_by = app_auth.actor(), finished_at = now()
     WHERE id = p_id;
END;
$$;
COMMENT ON FUNCTION cancel_backtest(uuid) IS
    'Cancels a queued or running backtest (AO404 unknown, AO409 one that has ended): it is never run, or run further, again.';

CREATE OR REPLACE FUNCTION record_backtest_stopped(p_id uuid, p_limit_seconds integer) RETURNS text
LANGUAGE sql AS $$
    UPDATE backtests
       SET status = CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
           error = CASE WHEN status = 'cancelled' THEN error
                        ELSE format('ran past its time limit of %s s (BACKTEST_TIMEOUT_SECONDS) and was stopped', p_limit_seconds) END,
           finished_at = coalesce(finished_at, clock_timestamp())
     WHERE id = p_id AND status IN ('running', 'cancelled')
    RETURNING status
$$;
COMMENT ON FUNCTION record_backtest_stopped(uuid, integer) IS
    'Records how a backtest whose replay statement was cancelled ended: cancelled (a person asked) or failed (past its time limit); returns which.';
