-- 15_cycle.sql: one whole cycle, in one transaction under its locks: plan (08_plan.sql), pause and
-- scale (10_actions.sql), detect (13_opportunities.sql), measure (12_impact.sql), then schedule posts
-- (11_posting.sql), and one summary of it all. A second cycle meanwhile is recorded as skipped; a rule
-- or a detector that fails is skipped and reported; a failure anywhere else undoes everything but the
-- failed cycle's record; a dry run runs the very same code and then undoes it.
--
-- The locks: the cycle lock keeps cycles (and direct psql calls of the action functions) from
-- overlapping; the evaluation lock is held by whatever plans and acts (a cycle, a scoped evaluation of
-- new metrics, 19_trigger_evaluation.sql), so the two never overlap. Row locks are taken in one order
-- everywhere: campaigns (by id) before anything that refers to them.

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

-- A scheduled slot waits instead of being skipped: the processes that all fire the same slot run it
-- once, the others, once it is done, find its result under the slot's key.
CREATE OR REPLACE FUNCTION _ao_take_cycle_lock(p_wait interval) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_wait IS NULL THEN
        IF NOT pg_try_advisory_xact_lock(ao_lock_key('cycle')) THEN
            RETURN false;
        END IF;
    ELSIF NOT _ao_wait_for_lock(ao_lock_key('cycle'), p_wait) THEN
        RETURN false;
    END IF;
    RETURN _ao_wait_for_lock(ao_lock_key('evaluation'), coalesce(p_wait, interval '1 minute'));
END;
$$;
COMMENT ON FUNCTION _ao_take_cycle_lock(interval) IS
    'Takes the cycle lock: at once or not at all for a caller (NULL wait), waiting up to p_wait for a scheduled slot; then waits for a running scoped evaluation of new metrics (they take milliseconds).';

CREATE OR REPLACE FUNCTION ao_cycle_request_fingerprint(p_dry_run boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(
        jsonb_build_object('method', 'POST', 'path', '/cycles', 'body', jsonb_build_object('dry_run', p_dry_run))::text,
        'UTF8')), 'hex')
$$;
COMMENT ON FUNCTION ao_cycle_request_fingerprint(boolean) IS
    'The fingerprint an Idempotency-Key is bound to: SHA-256 of the request''s method, path and normalized body (POST /cycles {dry_run}), the same whether the cycle is asked for over HTTP or in psql.';

CREATE OR REPLACE FUNCTION _ao_idempotent_replay(p_key text, p_dry_run boolean, p_trigger text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_summary jsonb;
    v_fingerprint text;
BEGIN
    IF p_key IS NULL THEN
        RETURN NULL;
    END IF;
    -- Keys written before fingerprints were kept are bound to the dry_run they ran with.
    SELECT c.summary, coalesce(c.idempotency_fingerprint, ao_cycle_request_fingerprint(c.dry_run))
      INTO v_summary, v_fingerprint
      FROM autonomous_cycles c
     WHERE c.idempotency_key = p_key AND c.started_at > now() - interval '24 hours'
       AND (c.trigger = 'cron') = (p_trigger = 'cron')
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
COMMENT ON FUNCTION _ao_idempotent_replay(text, boolean, text) IS
    'Decides what a repeated Idempotency-Key gets: the first result when the key was used in the last 24 hours with the same request, AO422 when it came with a different one, NULL (run the cycle) otherwise. Scheduled slots (trigger cron) and callers'' keys never match each other.';

CREATE OR REPLACE FUNCTION _ao_skip_cycle(p_trigger text, p_actor text, p_dry_run boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cycle_id uuid;
    v_summary jsonb;
BEGIN
    INSERT INTO autonomous_cycles (trigger, triggered_by, dry_run, status, finished_at, error)
    VALUES (p_trigger, p_actor, p_dry_run, 'skipped', clock_timestamp(), 'another cycle is running')
    RETURNING id INTO v_cycle_id;
    v_summary := jsonb_build_object('cycle_id', v_cycle_id, 'status', 'skipped', 'dry_run', p_dry_run,
                                    'paused', 0, 'scaled', 0, 'posted', 0, 'opportunities_detected', 0,
                                    'actions', '[]'::jsonb, 'error', 'another cycle is running');
    UPDATE autonomous_cycles SET summary = v_summary WHERE id = v_cycle_id;
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION _ao_skip_cycle(text, text, boolean) IS
    'Records a cycle that found another one running (status skipped) and returns its summary; the caller answers 409.';

CREATE OR REPLACE FUNCTION _ao_fail_cycle(p_cycle_id uuid, p_dry_run boolean, p_trigger text, p_error text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_summary jsonb := jsonb_build_object(
        'cycle_id', p_cycle_id, 'status', 'failed', 'dry_run', p_dry_run, 'trigger', p_trigger, 'paused', 0,
        'scaled', 0, 'posted', 0, 'opportunities_detected', 0, 'actions', '[]'::jsonb, 'error', p_error);
    -- the clock read once, into a value: Citus runs no volatile function in an UPDATE of its tables
    v_finished_at timestamptz := clock_timestamp();
    v_cycle autonomous_cycles;
BEGIN
    UPDATE autonomous_cycles SET status = 'failed', finished_at = v_finished_at, error = p_error,
                                 summary = v_summary
     WHERE id = p_cycle_id
    RETURNING * INTO v_cycle;
    PERFORM _ao_emit('cycle.failed', ao_cycle_document(v_cycle));
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION _ao_fail_cycle(uuid, boolean, text, text) IS
    'Records a cycle as failed with its error (whatever it did is already undone), emits cycle.failed, and returns its summary.';

CREATE OR REPLACE FUNCTION _ao_cycle_posts(p_cycle_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN _ao_schedule_posts(
        (SELECT coalesce(jsonb_agg(jsonb_build_object('campaign_id', p.campaign_id, 'rule_id', p.rule_id,
                                                      'confidence', p.confidence, 'reason', p.reason,
                                                      'expected_impact', p.expected_impact,
                                                      'previous_state', p.previous_state)), '[]')
           FROM _ao_plan p JOIN campaigns c ON c.id = p.campaign_id AND c.status = 'active'
          WHERE p.action_type = 'post' AND p.held_code IS NULL),
        p_cycle_id);
END;
$$;
COMMENT ON FUNCTION _ao_cycle_posts(uuid) IS
    'Schedules the posts the plan decided for campaigns still active, as actions of the cycle; returns them.';

-- The audit trail has every action (GET /actions?cycle_id=); the summary the first 1,000.
CREATE OR REPLACE FUNCTION _ao_cycle_summary(p_cycle_id uuid, p_dry_run boolean, p_trigger text,
                                             p_ops jsonb, p_posts jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object(
        'cycle_id', p_cycle_id, 'dry_run', p_dry_run, 'trigger', p_trigger,
        -- held: the data-outage breaker stopped an account's pauses and scales (a person can release it)
        -- (in any account: the release applies what each held account's breaker held)
        'status', CASE WHEN (SELECT bool_or(held) FROM _ao_limits) THEN 'held' ELSE 'succeeded' END,
        'limits', ao_limits_document(),
        'paused', (p_ops ->> 'paused')::int, 'scaled', (p_ops ->> 'scaled')::int,
        'posted', jsonb_array_length(p_posts),
        'opportunities_detected', (p_ops ->> 'opportunities_detected')::int,
        'impacts_measured', (p_ops ->> 'impacts_measured')::int,
        -- shaped from the plan rows; a planned row has an action only if its campaign was still as planned
        -- (the first 1,000 in order, looked up one by one: documents are built for those only)
        'actions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                   'id', x.id, 'cycle_id', x.cycle_id, 'campaign_id', x.campaign_id,
                                   'campaign_title', x.title, 'rule_id', x.rule_id, 'rule_name', x.rule_name,
                                   'action_type', x.action_type, 'reason', x.reason,
                                   'previous_state', x.previous_state, 'new_state', x.new_state,
                                   'confidence', x.confidence, 'expected_impact', x.expected_impact,
                                   'status', x.status, 'created_at', x.created_at,
                                   'executed_at', x.executed_at, 'created_by', x.created_by)
                               ORDER BY x.action_type, x.title, x.campaign_id), '[]')
                      FROM (SELECT p.title, p.rule_name, a.*
                              FROM (SELECT action_id, action_type, title, rule_name, campaign_id  -- a narrow sort
                                      FROM _ao_plan WHERE held_code IS NULL AND action_type IN ('pause', 'scale')
                                     ORDER BY action_type, title, campaign_id) p
                             CROSS JOIN LATERAL (SELECT * FROM autonomous_actions a WHERE a.id = p.action_id) a
                             LIMIT 1000) x)
                   || p_posts,
        'actions_total', (p_ops ->> 'paused')::int + (p_ops ->> 'scaled')::int + jsonb_array_length(p_posts),
        -- blocked_code and blocked_reason: the former names of held_code and held_reason
        'held_back', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'campaign_id', p.campaign_id, 'title', p.title, 'action_type', p.action_type,
                                 'rule_name', p.rule_name, 'confidence', p.confidence,
                                 'held_code', p.held_code, 'held_reason', p.held_reason,
                                 'blocked_code', p.held_code, 'blocked_reason', p.held_reason)
                             ORDER BY p.action_type = 'post', p.priority DESC, p.confidence DESC, p.title), '[]')
                        FROM (SELECT * FROM _ao_plan WHERE held_code IS NOT NULL
                               ORDER BY action_type = 'post', priority DESC, confidence DESC, title LIMIT 200) p),
        'held_back_total', (SELECT count(*) FROM _ao_plan WHERE held_code IS NOT NULL),
        'rule_errors', (SELECT coalesce(jsonb_agg(jsonb_build_object('rule_id', e.rule_id, 'name', e.name,
                                                                     'error', e.error) ORDER BY e.name), '[]')
                          FROM _ao_rule_errors e),
        'detector_errors', (SELECT coalesce(jsonb_agg(jsonb_build_object('detector', e.detector, 'error', e.error)
                                                      ORDER BY e.detector), '[]')
                              FROM _ao_detector_errors e),
        'posting_note', CASE WHEN NOT EXISTS (SELECT 1 FROM usable_social_accounts())
                             THEN 'post rules not evaluated: no connected social account with a valid token' END);
END;
$$;
COMMENT ON FUNCTION _ao_cycle_summary(uuid, boolean, text, jsonb, jsonb) IS
    'The summary a cycle returns and records: status (held when the data-outage breaker tripped), counts, the first 1,000 actions, the first 200 decisions the guardrails and limits held back (with their codes and words), the limits'' figures, the rules and detectors that failed, and why posts were not considered.';

CREATE OR REPLACE FUNCTION _ao_emit_limits(p_cycle_id uuid, p_summary jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_cycle autonomous_cycles;
    v_document jsonb;
BEGIN
    -- the row into a variable, then the document: Citus runs a query on a table's shard, whose rows
    -- are not of the table's type
    SELECT * INTO v_cycle FROM autonomous_cycles WHERE id = p_cycle_id;
    v_document := ao_cycle_document(v_cycle) || jsonb_build_object('status', p_summary ->> 'status', 'summary', p_summary);
    IF (p_summary -> 'limits' ->> 'held')::boolean THEN
        PERFORM _ao_emit('cycle.held', v_document);
    END IF;
    IF (p_summary -> 'limits' ->> 'pauses_held')::int + (p_summary -> 'limits' ->> 'scales_held')::int
       + (p_summary -> 'limits' ->> 'scales_partial')::int > 0 THEN
        PERFORM _ao_emit('cycle.limited', v_document);
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_emit_limits(uuid, jsonb) IS
    'Emits cycle.held when the data-outage breaker held a cycle, and cycle.limited when the mass-pause or budget growth limits held decisions back or granted a scale partially.';

CREATE OR REPLACE FUNCTION _ao_conclude_cycle(p_cycle_id uuid, p_dry_run boolean, p_trigger text, p_ops jsonb,
                                              p_extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_summary jsonb := _ao_cycle_summary(p_cycle_id, p_dry_run, p_trigger, p_ops, _ao_cycle_posts(p_cycle_id))
                       || p_extra;
BEGIN
    PERFORM _ao_emit_rule_errors(p_cycle_id);
    PERFORM _ao_emit_limits(p_cycle_id, v_summary);
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION _ao_conclude_cycle(uuid, boolean, text, jsonb, jsonb) IS
    'Schedules the planned posts, builds the summary (with p_extra added) and emits the rule.error, cycle.held and cycle.limited events; returns the summary.';

-- PL/pgSQL and the clock read into a value: Citus plans no parameterized SQL-function statement on its
-- tables, and runs no volatile function in an UPDATE of them.
CREATE OR REPLACE FUNCTION _ao_record_cycle(p_cycle_id uuid, p_summary jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_finished_at timestamptz := clock_timestamp();
BEGIN
    UPDATE autonomous_cycles
       SET status = CASE WHEN NOT (p_summary ->> 'dry_run')::boolean AND p_summary ->> 'status' = 'held'
                         THEN 'held' ELSE 'succeeded' END,
           finished_at = v_finished_at, summary = p_summary
     WHERE id = p_cycle_id;
END;
$$;
COMMENT ON FUNCTION _ao_record_cycle(uuid, jsonb) IS
    'Records a finished cycle: status held (the breaker held it, not a dry run) or succeeded, finished_at and the summary.';

CREATE OR REPLACE FUNCTION _ao_as_planned(p_summary jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(p_summary, '{actions}',
        (SELECT coalesce(jsonb_agg(a - 'id' - 'executed_at'
                                   || jsonb_build_object('status', 'planned',
                                                         'new_state', (a -> 'new_state') - 'schedule_id')), '[]')
           FROM jsonb_array_elements(p_summary -> 'actions') a))
$$;
COMMENT ON FUNCTION _ao_as_planned(jsonb) IS
    'Turns a dry run''s summary into what would have been done: its actions without ids, execution times or schedule ids, status planned.';

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
LANGUAGE plpgsql
-- JIT spends tens of milliseconds compiling each large statement; none of a cycle's runs long enough
-- to earn that back
SET jit = off AS $$
DECLARE
    v_cycle_id uuid;
    v_summary jsonb;
    v_actor text := coalesce(triggered_by, app_auth.actor());
BEGIN
    IF trigger IS NULL OR trigger NOT IN ('api', 'cron', 'sql', 'cli', 'release') THEN
        PERFORM ao_raise_422('trigger', 'must be one of api, cron, sql, cli, release');
    END IF;
    v_summary := _ao_idempotent_replay(idempotency_key, dry_run, trigger);
    IF v_summary IS NOT NULL THEN
        RETURN v_summary;
    END IF;
    IF NOT _ao_take_cycle_lock(CASE WHEN trigger = 'cron' AND idempotency_key IS NOT NULL
                                    THEN interval '5 minutes' END) THEN
        RETURN _ao_skip_cycle(trigger, v_actor, dry_run);
    END IF;
    -- Under the lock a repeat of a key that committed meanwhile is visible now.
    v_summary := _ao_idempotent_replay(idempotency_key, dry_run, trigger);
    IF v_summary IS NOT NULL THEN
        RETURN v_summary;
    END IF;

    INSERT INTO autonomous_cycles (trigger, triggered_by, dry_run, status, idempotency_key, idempotency_fingerprint)
    VALUES (trigger, v_actor, dry_run, 'running', idempotency_key,
            CASE WHEN idempotency_key IS NOT NULL THEN ao_cycle_request_fingerprint(dry_run) END)
    RETURNING id INTO v_cycle_id;
    BEGIN
        PERFORM _ao_plan_afresh();
        v_summary := _ao_conclude_cycle(v_cycle_id, dry_run, trigger, run_autonomous_operations(v_cycle_id));
        IF dry_run THEN
            -- Everything above is undone (events included); the summary, kept in a variable, is what
            -- would have happened.
            RAISE EXCEPTION 'dry run' USING ERRCODE = 'AODRY';
        END IF;
    EXCEPTION
        WHEN SQLSTATE 'AODRY' THEN
            v_summary := _ao_as_planned(v_summary);
        -- a conflict with concurrent work is not the cycle's failure: the caller retries the whole call
        WHEN deadlock_detected OR serialization_failure OR lock_not_available THEN
            RAISE;
        WHEN OTHERS THEN
            RETURN _ao_fail_cycle(v_cycle_id, dry_run, trigger, SQLERRM);
    END;
    PERFORM _ao_record_cycle(v_cycle_id, v_summary);
    RAISE NOTICE 'cycle % %: paused %, scaled %, posted %, opportunities_detected %, rule errors %', v_cycle_id,
        CASE WHEN dry_run THEN 'dry run' ELSE 'succeeded' END, v_summary ->> 'paused', v_summary ->> 'scaled',
        v_summary ->> 'posted', v_summary ->> 'opportunities_detected', jsonb_array_length(v_summary -> 'rule_errors');
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION run_autonomous_operations_with_posting(boolean, text, text, text) IS
    'One whole cycle in one transaction under an advisory lock (a second concurrent call is recorded as skipped): plan, pause, scale, detect, measure, then schedule posts; returns {cycle_id, status, dry_run, paused, scaled, posted, opportunities_detected, actions, held_back, rule_errors, detector_errors}. A rule or a detector that fails is skipped and listed; the cycle fails only when something else does, and a failure undoes everything but the failed cycle record (a deadlock or serialization failure is raised to the caller instead, who retries). A dry run computes exactly this and undoes it. An Idempotency-Key used in the last 24 h replays the first result of the same request and refuses (AO422) a different one. A scheduled slot (trigger cron, keyed by its slot) waits for a running cycle instead of being skipped, so replicas firing the same slot run it once.';

-- A cycle of one ad account: the same steps, reading and deciding for that account's campaigns only.
-- On Citus it is a distributed function delegated by p_account: the node holding the account's rows
-- plans and acts for it (docs/scaling.md).
CREATE OR REPLACE FUNCTION run_account_cycle(
    p_account uuid,
    dry_run boolean DEFAULT false,
    trigger text DEFAULT 'sql',
    triggered_by text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
    v_summary jsonb;
BEGIN
    IF p_account IS NULL OR NOT EXISTS (SELECT 1 FROM ad_accounts WHERE id = p_account) THEN
        PERFORM ao_raise_422('account_id', format('no ad account has the id %s', coalesce(p_account::text, 'null')));
    END IF;
    PERFORM set_config('ao.cycle_account', p_account::text, true);
    v_summary := run_autonomous_operations_with_posting(dry_run, trigger, triggered_by);
    PERFORM set_config('ao.cycle_account', '', true);
    RETURN v_summary || jsonb_build_object('account_id', p_account);
END;
$$;
COMMENT ON FUNCTION run_account_cycle(uuid, boolean, text, text) IS
    'One cycle for one ad account (its campaigns read, planned and acted on; the others left alone), under the cycle lock like any cycle; returns the cycle''s summary with account_id. An account that does not exist: 422 naming account_id.';

CREATE OR REPLACE FUNCTION release_held_cycle(p_cycle_id uuid, p_actor text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_cycle autonomous_cycles;
    v_summary jsonb;
    v_actor text := coalesce(p_actor, app_auth.actor());
BEGIN
    SELECT * INTO v_cycle FROM autonomous_cycles WHERE id = p_cycle_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no cycle %', p_cycle_id USING ERRCODE = 'AO404';
    END IF;
    IF v_cycle.status <> 'held' THEN
        RAISE EXCEPTION 'this cycle is %, not held: there is nothing to release', v_cycle.status USING ERRCODE = 'AO409';
    END IF;
    IF v_cycle.released_at IS NOT NULL THEN
        RAISE EXCEPTION 'this cycle was released already, at %, by %', v_cycle.released_at, v_cycle.released_by
            USING ERRCODE = 'AO409';
    END IF;
    PERFORM set_config('ao.breaker_released', 'on', true);
    v_summary := run_autonomous_operations_with_posting(false, 'release', v_actor);
    PERFORM set_config('ao.breaker_released', '', true);
    IF v_summary ->> 'status' = 'skipped' THEN
        RAISE EXCEPTION 'a cycle is running; release again when it ends' USING ERRCODE = 'AO409';
    END IF;
    UPDATE autonomous_cycles SET released_at = now(), released_by = v_actor,
                                 released_by_cycle_id = (v_summary ->> 'cycle_id')::uuid
     WHERE id = p_cycle_id;
    RETURN v_summary;
END;
$$;
COMMENT ON FUNCTION release_held_cycle(uuid, text) IS
    'Lifts a data-outage hold once (AO409 for a cycle not held or already released): runs a cycle with trigger release that applies what the breaker held (the mass-pause and budget limits still apply) and records who released it and which cycle did.';
