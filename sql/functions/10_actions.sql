-- 10_actions.sql: carrying out what the plan decided: pauses and scales, one executed audit row each.
-- A campaign that changed since it was planned is left alone. Called alone from psql, an action
-- function takes the cycle lock and plans afresh, so the guardrails hold there too.

CREATE OR REPLACE FUNCTION _ao_cycle_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 7415003::bigint $$;
COMMENT ON FUNCTION _ao_cycle_lock_key() IS 'The advisory lock that keeps cycles (and direct action calls) from overlapping.';

CREATE OR REPLACE FUNCTION _ao_evaluation_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 7415004::bigint $$;
COMMENT ON FUNCTION _ao_evaluation_lock_key() IS
    'The advisory lock held by whatever plans and acts (a cycle, a scoped evaluation of new metrics), so that the two never overlap.';

-- Waits for an advisory lock of the transaction for at most p_wait; false when it did not come.
CREATE OR REPLACE FUNCTION _ao_wait_for_lock(p_key bigint, p_wait interval) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_lock_timeout text := current_setting('lock_timeout');
BEGIN
    PERFORM set_config('lock_timeout', greatest((extract(epoch FROM p_wait) * 1000)::bigint, 1)::text, true);
    BEGIN
        PERFORM pg_advisory_xact_lock(p_key);
    EXCEPTION WHEN lock_not_available THEN
        PERFORM set_config('lock_timeout', v_lock_timeout, true);
        RETURN false;
    END;
    PERFORM set_config('lock_timeout', v_lock_timeout, true);
    RETURN true;
END;
$$;
COMMENT ON FUNCTION _ao_wait_for_lock(bigint, interval) IS
    'Takes a transaction-level advisory lock, waiting at most p_wait (lock_timeout restored after); false when it did not come in time.';

-- Takes the cycle lock. A caller who finds a cycle running is told so at once (skipped). A scheduled
-- slot waits for it instead, up to p_wait: the replicas of the service all fire the same slot, one of
-- them runs it, and the others, once it is done, find its result under the slot's key. Either way it
-- then waits for a scoped evaluation of new metrics to end (they take milliseconds).
CREATE OR REPLACE FUNCTION _ao_take_cycle_lock(p_wait interval) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_wait IS NULL THEN
        IF NOT pg_try_advisory_xact_lock(_ao_cycle_lock_key()) THEN
            RETURN false;
        END IF;
    ELSIF NOT _ao_wait_for_lock(_ao_cycle_lock_key(), p_wait) THEN
        RETURN false;
    END IF;
    RETURN _ao_wait_for_lock(_ao_evaluation_lock_key(), coalesce(p_wait, interval '1 minute'));
END;
$$;
COMMENT ON FUNCTION _ao_take_cycle_lock(interval) IS
    'Takes the cycle lock: at once or not at all for a caller (NULL wait), waiting up to p_wait for a scheduled slot so that the replicas firing the same slot run it once; then waits for a running scoped evaluation of new metrics.';

CREATE OR REPLACE FUNCTION _ao_require_plan(p_cycle_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_cycle_id IS NULL AND NOT _ao_take_cycle_lock(NULL) THEN
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
LANGUAGE plpgsql
-- the plan rows applied are hashed whole (their reasons and states go on to the audit rows): tens of
-- thousands of them fit in memory in 32 MB rather than spilling in batches
SET work_mem = '32MB' AS $$
DECLARE
    v_count integer;
    v_actor text := app_auth.actor();
BEGIN
    IF p_action_type IS NULL OR p_action_type NOT IN ('pause', 'scale') THEN
        RAISE EXCEPTION 'no such planned action type: %', p_action_type;
    END IF;
    PERFORM _ao_require_plan(p_cycle_id);
    -- The live campaigns and audit trail, or in a backtest the replay's (ao_state_table's whitelist);
    -- an action is stamped with the decisions' clock, the replayed moment in a backtest.
    EXECUTE format($q$
    WITH chosen AS (
        SELECT * FROM _ao_plan p
         WHERE p.action_type = $1 AND p.blocked_code IS NULL
           AND ($2::uuid[] IS NULL OR p.campaign_id = ANY ($2))
    ), applied AS (
        -- RETURNING carries the plan row along, so the audit insert needs no second join.
        UPDATE %1$I c
           SET %4$s
          FROM chosen
         WHERE c.id = chosen.campaign_id AND c.status = 'active' AND c.daily_budget = chosen.daily_budget
        RETURNING chosen.*
    ), logged AS (
        INSERT INTO %2$I (id, cycle_id, campaign_id, rule_id, action_type, reason, previous_state,
                          new_state, confidence, expected_impact, status, executed_at, created_at, created_by)
        SELECT applied.action_id, $3, applied.campaign_id, applied.rule_id, $1, applied.reason,
               applied.previous_state, applied.new_state, applied.confidence, applied.expected_impact,
               'executed', %3$L::timestamptz, %3$L::timestamptz, $4
          FROM applied
    ), marked AS (  -- the detectors that follow leave a campaign paused here alone
        UPDATE _ao_stats s SET paused_in_cycle = true
          FROM applied
         WHERE $1 = 'pause' AND s.campaign_id = applied.campaign_id
    )
    SELECT count(*) FROM applied
    $q$, ao_state_table('campaign states'), ao_state_table('actions'), ao_now(),
         -- a scale leaves the status alone, so the status trigger does not fire for it
         CASE p_action_type WHEN 'pause' THEN $s$status = 'paused'$s$ ELSE 'daily_budget = chosen.new_budget' END)
    INTO v_count
    USING p_action_type, p_campaign_ids, p_cycle_id, v_actor;
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
