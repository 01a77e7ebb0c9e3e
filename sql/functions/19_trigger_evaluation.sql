-- 19_trigger_evaluation.sql: acting as soon as metrics arrive. Ingestion queues the campaigns it
-- touched (04_ingestion.sql) and notifies (ao_channel('metrics')); a listener (the service with its scheduler on,
-- and autonomous-ops worker) calls evaluate_metric_triggers until the queue is empty. An evaluation runs
-- the rules whose evaluation_type is trigger over the queued campaigns only, through the cycle's own
-- steps (window sums, plan, guardrails, cooldowns, confidence floors, pauses and scales with their audit
-- rows, posts), and never overlaps a cycle: it waits for one that runs.

-- The notification is delivered when the batch commits, never for a batch rolled back. The caller
-- (ingestion) holds the campaigns' locks already: queue rows are taken after them, in id order.
CREATE OR REPLACE FUNCTION _ao_queue_for_triggers(p_campaign_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_campaign_ids IS NULL
       OR NOT EXISTS (SELECT 1 FROM autonomous_rules WHERE is_active AND evaluation_type = 'trigger') THEN
        RETURN;
    END IF;
    -- The version moves under the row lock, so an evaluation that claimed the previous version leaves
    -- this one queued.
    INSERT INTO metric_trigger_queue AS q (campaign_id, account_id, queued_at)
    SELECT c.id, c.account_id, now() FROM campaigns c WHERE c.id = ANY (p_campaign_ids) ORDER BY c.id
    ON CONFLICT ON CONSTRAINT metric_trigger_queue_pkey DO UPDATE SET version = q.version + 1, queued_at = EXCLUDED.queued_at;
    PERFORM pg_notify(ao_channel('metrics'), '');
END;
$$;
COMMENT ON FUNCTION _ao_queue_for_triggers(uuid[]) IS
    'Queues the campaigns whose metrics just arrived for the trigger rules (a version per campaign, bumped by each ingest) and notifies the listeners (ao_channel(''metrics'')) at commit; nothing while no trigger rule is active.';

-- An evaluation that found nothing to do is not recorded, so the cycle history shows what happened
-- rather than every ingest.
CREATE OR REPLACE FUNCTION evaluate_metric_triggers(p_limit integer DEFAULT 500) RETURNS jsonb
LANGUAGE plpgsql
-- a cycle's own steps, so a cycle's settings: no statement runs long enough to earn back JIT
SET jit = off AS $$
DECLARE
    v_ids uuid[];
    v_cycle_id uuid := gen_random_uuid();
    v_paused integer;
    v_scaled integer;
    v_summary jsonb;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        PERFORM ao_raise_422('limit', 'must be from 1 to 10000');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM metric_trigger_queue WHERE version > evaluated_version) THEN
        RETURN jsonb_build_object('evaluated', 0);
    END IF;
    -- A cycle running now evaluates these campaigns too; wait for it, then evaluate what is still
    -- queued. Nothing is lost when the wait is too long: the queue stays as it is.
    IF NOT _ao_wait_for_lock(ao_lock_key('evaluation'), interval '10 minutes') THEN
        RETURN jsonb_build_object('evaluated', 0, 'waiting_for_cycle', true);
    END IF;
    -- The locks in the order ingestion takes them: the campaigns first (by id), then their queue rows.
    -- A campaign a batch of metrics holds now is left queued: that batch bumps its version, and the
    -- next evaluation takes it.
    SELECT array_agg(c.id) INTO v_ids
      FROM (SELECT c.id FROM campaigns c
             WHERE c.id IN (SELECT q.campaign_id FROM metric_trigger_queue q
                             WHERE q.version > q.evaluated_version
                             ORDER BY q.queued_at
                             LIMIT p_limit)
             ORDER BY c.id
               FOR NO KEY UPDATE OF c SKIP LOCKED) c;
    -- No batch can hold these queue rows now (it would hold their campaigns): each is marked evaluated
    -- at the version it has.
    WITH marked AS (
        UPDATE metric_trigger_queue q SET evaluated_version = q.version, evaluated_at = now()
         WHERE q.campaign_id = ANY (v_ids) AND q.version > q.evaluated_version
        RETURNING q.campaign_id
    )
    SELECT array_agg(campaign_id) INTO v_ids FROM marked;
    IF v_ids IS NULL THEN
        RETURN jsonb_build_object('evaluated', 0);
    END IF;

    PERFORM _ao_prepare_stats(v_ids);
    PERFORM _ao_build_plan(true);
    IF NOT EXISTS (SELECT 1 FROM _ao_plan) AND NOT EXISTS (SELECT 1 FROM _ao_rule_errors) THEN
        RETURN jsonb_build_object('evaluated', cardinality(v_ids));
    END IF;

    INSERT INTO autonomous_cycles (id, trigger, triggered_by, status, scope)
    VALUES (v_cycle_id, 'metrics', app_auth.actor(), 'running', cardinality(v_ids));
    BEGIN
        v_paused := auto_pause_campaign(NULL, v_cycle_id);
        v_scaled := auto_scale_campaign(NULL, v_cycle_id);
        v_summary := _ao_conclude_cycle(v_cycle_id, false, 'metrics',
                                        jsonb_build_object('paused', v_paused, 'scaled', v_scaled,
                                                           'opportunities_detected', 0, 'impacts_measured', 0),
                                        jsonb_build_object('scope', cardinality(v_ids)));
    EXCEPTION
        -- a conflict with concurrent work is not the evaluation's failure: the caller retries it
        WHEN deadlock_detected OR serialization_failure OR lock_not_available THEN
            RAISE;
        WHEN OTHERS THEN
            RETURN _ao_fail_cycle(v_cycle_id, false, 'metrics', SQLERRM)
                   || jsonb_build_object('scope', cardinality(v_ids), 'evaluated', cardinality(v_ids));
    END;
    PERFORM _ao_record_cycle(v_cycle_id, v_summary);
    RETURN v_summary || jsonb_build_object('evaluated', cardinality(v_ids));
END;
$$;
COMMENT ON FUNCTION evaluate_metric_triggers(integer) IS
    'A scoped evaluation: the trigger rules over up to p_limit campaigns queued by ingestion, with every guardrail, cooldown, confidence floor and audit row of a cycle, after any running cycle. Recorded as a cycle (trigger metrics, scope = campaigns) when it decided anything; returns its summary with "evaluated" (the campaigns taken off the queue).';
