-- 10_actions.sql: carrying out what the plan decided: pauses and scales, one executed audit row each.
-- A campaign that changed since it was planned is left alone. Called alone from psql, an action
-- function takes the cycle lock and plans afresh, so the guardrails hold there too. The campaigns a
-- plan changes are locked first, all of them at once and in id order: the order ingestion locks them
-- in, so that a cycle and a batch of metrics never wait for each other in a circle.

CREATE OR REPLACE FUNCTION _ao_require_plan(p_cycle_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_cycle_id IS NULL AND NOT _ao_take_cycle_lock(NULL) THEN
        RAISE EXCEPTION 'a cycle is running' USING ERRCODE = 'AO409';
    END IF;
    IF p_cycle_id IS NULL OR to_regclass('pg_temp._ao_plan') IS NULL THEN
        PERFORM _ao_plan_afresh();
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_require_plan(uuid) IS
    'Outside a cycle, an action function takes the cycle lock and plans afresh, so guardrails hold for direct psql calls too.';

-- Once per plan (ao.plan_locked, reset by each plan, remembers it): the pauses and scales are applied
-- one type after the other, and locking each type's campaigns apart would break the one order.
CREATE OR REPLACE FUNCTION _ao_lock_planned() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ao_replaying() OR current_setting('ao.plan_locked', true) = 'on' THEN
        RETURN;
    END IF;
    PERFORM _ao_lock_campaigns(ARRAY(SELECT p.campaign_id FROM _ao_plan p
                                      WHERE p.held_code IS NULL AND p.action_type IN ('pause', 'scale')));
    PERFORM set_config('ao.plan_locked', 'on', true);
END;
$$;
COMMENT ON FUNCTION _ao_lock_planned() IS
    'Locks, once per plan and in the one order (_ao_lock_campaigns), every campaign the plan pauses or scales, before any is changed; a backtest locks nothing.';

CREATE OR REPLACE FUNCTION _ao_apply_planned(p_action_type text, p_campaign_ids uuid[], p_cycle_id uuid)
RETURNS integer
LANGUAGE plpgsql
-- the plan rows applied are hashed whole (their reasons and states go on to the audit rows): tens of
-- thousands of them fit in memory in 32 MB rather than spilling in batches
SET work_mem = '32MB' AS $$
DECLARE
    v_count integer;
    v_actor text := app_auth.actor();
    v_routed uuid[];
BEGIN
    IF p_action_type IS NULL OR p_action_type NOT IN ('pause', 'scale') THEN
        RAISE EXCEPTION 'no such planned action type: %', p_action_type;
    END IF;
    PERFORM _ao_require_plan(p_cycle_id);
    PERFORM _ao_lock_planned();
    -- A connected campaign's change goes to its platform first (25_platform_changes.sql).
    v_routed := _ao_route_connected(p_action_type, p_campaign_ids, p_cycle_id);
    -- The live campaigns and audit trail, or in a backtest the replay's (ao_state_table's whitelist);
    -- an action is stamped with the decisions' clock, the replayed moment in a backtest.
    EXECUTE format($q$
    WITH chosen AS (
        SELECT * FROM _ao_plan p
         WHERE p.action_type = $1 AND p.held_code IS NULL
           AND ($2::uuid[] IS NULL OR p.campaign_id = ANY ($2))
           AND p.campaign_id <> ALL ($5)
    ), applied AS (
        -- RETURNING carries the plan row along, so the audit insert needs no second join.
        UPDATE %1$I c
           SET %4$s
          FROM chosen
         WHERE c.id = chosen.campaign_id AND c.status = 'active' AND c.daily_budget = chosen.daily_budget
        RETURNING chosen.*
    ), logged AS (
        INSERT INTO %2$I (id, cycle_id, campaign_id, account_id, rule_id, action_type, reason, previous_state,
                          new_state, confidence, expected_impact, status, executed_at, created_at, created_by)
        SELECT applied.action_id, $3, applied.campaign_id, applied.account_id, applied.rule_id, $1, applied.reason,
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
    USING p_action_type, p_campaign_ids, p_cycle_id, v_actor, v_routed;
    RETURN v_count;
END;
$$;
COMMENT ON FUNCTION _ao_apply_planned(text, uuid[], uuid) IS
    'Carries out the plan''s unblocked pause or scale decisions and writes their executed audit rows (a campaign of a connected account gets a proposed or pending action instead, by its account''s mode); a campaign that changed since it was planned is left alone. Returns how many were carried out here.';

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
