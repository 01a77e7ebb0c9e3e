-- 25_platform_changes.sql: decisions on connected campaigns, applied on their platforms. By the
-- account's mode a planned pause or scale is proposed (observe, approve: a person approves or rejects
-- it before it expires) or sent at once (autopilot) as a row of the platform_changes outbox, in the
-- cycle's transaction. The sender (app/background/changes.py) claims changes with SKIP LOCKED and a
-- lease, reads the campaign on its platform first and records what it found here: already at the target
-- (applied), changed by a person since the engine last saw it (conflict: never overwritten, the local row
-- follows the platform), written (applied), refused (failed), or no answer (unknown: the next attempt
-- reads first). An action is in effect only once its change is applied.

CREATE OR REPLACE FUNCTION ao_platform_change_document(pc platform_changes) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', pc.id, 'action_id', pc.action_id, 'purpose', pc.purpose, 'campaign_id', pc.campaign_id,
        'campaign_title', (SELECT c.title FROM campaigns c WHERE c.id = pc.campaign_id),
        'account_id', pc.account_id, 'kind', pc.kind, 'from_state', pc.from_state, 'to_state', pc.to_state,
        'seen_state', pc.seen_state, 'state', pc.state, 'attempts', pc.attempts,
        'next_attempt_at', pc.next_attempt_at, 'last_answer', pc.last_answer, 'created_at', pc.created_at,
        'finished_at', pc.finished_at)
$$;
COMMENT ON FUNCTION ao_platform_change_document(platform_changes) IS
    'A platform change as GET /platform-changes returns it, for the events that report it.';

CREATE OR REPLACE FUNCTION ao_events_from_platform_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_emit_all('platform_change.' || n.state, array_agg(ao_platform_change_document(n) ORDER BY n.id))
       FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.state IN ('conflict', 'failed') AND n.state IS DISTINCT FROM o.state
      GROUP BY n.state;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_platform_changes() IS
    'Statement trigger on platform_changes: platform_change.conflict when a person changed the campaign on its platform (nothing was overwritten), platform_change.failed when the platform refused the change.';

-- ---------------------------------------------------------------------------------------------
-- From the plan: what a cycle does with a connected campaign
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION _ao_change_for(a autonomous_actions, p_account_id uuid, p_purpose text,
                                          p_requested_by text DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO platform_changes (action_id, purpose, campaign_id, account_id, kind, from_state, to_state,
                                  requested_by, reason)
    SELECT a.id, p_purpose, a.campaign_id, p_account_id,
           CASE a.action_type WHEN 'pause' THEN 'status' ELSE 'budget' END,
           CASE p_purpose WHEN 'apply' THEN a.previous_state ELSE a.new_state END - 'max_budget' - 'factor',
           CASE p_purpose WHEN 'apply' THEN a.new_state ELSE a.previous_state END - 'max_budget',
           p_requested_by, p_reason;
    SELECT pg_notify(ao_channel('changes'), a.id::text);
$$;
COMMENT ON FUNCTION _ao_change_for(autonomous_actions, uuid, text, text, text) IS
    'Writes the platform change of an action (apply: previous → new state; rollback: back again) to the outbox and wakes the senders.';

-- The plan's pauses or scales of connected campaigns (live cycles only: a backtest has no platform):
-- each an action proposed until its expiry (observe, approve) or pending with its change in the outbox
-- (autopilot). The campaign row is left as its platform has it. Returns the campaigns so routed.
CREATE OR REPLACE FUNCTION _ao_route_connected(p_action_type text, p_campaign_ids uuid[], p_cycle_id uuid)
RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
    v_routed uuid[];
    v_sent integer;
BEGIN
    IF ao_replaying() OR NOT EXISTS (SELECT 1 FROM ad_accounts WHERE platform <> 'manual') THEN
        RETURN '{}';
    END IF;
    WITH chosen AS (
        SELECT p.*, acct.mode
          FROM _ao_plan p
          JOIN campaigns c ON c.id = p.campaign_id AND c.status = 'active' AND c.daily_budget = p.daily_budget
          JOIN ad_accounts acct ON acct.id = c.account_id AND acct.platform <> 'manual'
         WHERE p.action_type = p_action_type AND p.held_code IS NULL
           AND (p_campaign_ids IS NULL OR p.campaign_id = ANY (p_campaign_ids))
    ), logged AS (
        INSERT INTO autonomous_actions AS a (id, cycle_id, campaign_id, account_id, rule_id, action_type, reason,
                                             previous_state, new_state, confidence, expected_impact, status, expires_at,
                                             created_at, created_by)
        SELECT ch.action_id, p_cycle_id, ch.campaign_id, ch.account_id, ch.rule_id, p_action_type, ch.reason,
               ch.previous_state,
               ch.new_state, ch.confidence, ch.expected_impact,
               CASE ch.mode WHEN 'autopilot' THEN 'pending' ELSE 'proposed' END,
               CASE WHEN ch.mode <> 'autopilot'
                    THEN now() + make_interval(hours => (SELECT s.approval_ttl_hours FROM autonomous_settings s LIMIT 1)) END,
               now(), app_auth.actor()
          FROM chosen ch
        RETURNING a.*
    ), sent AS (
        INSERT INTO platform_changes (action_id, campaign_id, account_id, kind, from_state, to_state)
        SELECT l.id, l.campaign_id, l.account_id, CASE p_action_type WHEN 'pause' THEN 'status' ELSE 'budget' END,
               l.previous_state - 'max_budget', l.new_state - 'max_budget'
          FROM logged l JOIN chosen ch ON ch.action_id = l.id
         WHERE l.status = 'pending'
        RETURNING 1
    )
    SELECT array_agg(l.campaign_id), (SELECT count(*) FROM sent) INTO v_routed, v_sent FROM logged l;
    IF v_sent > 0 THEN
        PERFORM pg_notify(ao_channel('changes'), p_cycle_id::text);
    END IF;
    RETURN coalesce(v_routed, '{}');
END;
$$;
COMMENT ON FUNCTION _ao_route_connected(text, uuid[], uuid) IS
    'Routes the plan''s pauses or scales of campaigns in connected accounts by the account''s mode: observe and approve write a proposed action (expiring after settings.approval_ttl_hours), autopilot a pending action and its platform change; nothing changes on the campaign row until the platform has it. A backtest routes nothing.';

-- ---------------------------------------------------------------------------------------------
-- A person's decision on a proposal
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION _ao_proposal(p_action_id uuid) RETURNS autonomous_actions
LANGUAGE plpgsql AS $$
DECLARE
    v_action autonomous_actions;
BEGIN
    PERFORM 1 FROM campaigns c WHERE c.id = (SELECT a.campaign_id FROM autonomous_actions a WHERE a.id = p_action_id)
        FOR UPDATE OF c;
    SELECT * INTO v_action FROM autonomous_actions WHERE id = p_action_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no action %', p_action_id USING ERRCODE = 'AO404';
    END IF;
    IF v_action.status <> 'proposed' THEN
        RAISE EXCEPTION '%', CASE v_action.status
            WHEN 'pending' THEN 'the action was approved already and is on its way to the platform'
            WHEN 'executed' THEN 'the action was approved and applied already'
            WHEN 'rejected' THEN format('the action was rejected by %s at %s', v_action.decided_by, v_action.decided_at)
            WHEN 'expired' THEN format('the proposal expired at %s', v_action.expires_at)
            ELSE format('only a proposed action can be decided on; this one is %s', v_action.status) END
            USING ERRCODE = 'AO409';
    END IF;
    IF v_action.expires_at <= now() THEN
        RAISE EXCEPTION 'the proposal expired at %', v_action.expires_at USING ERRCODE = 'AO409';
    END IF;
    RETURN v_action;
END;
$$;
COMMENT ON FUNCTION _ao_proposal(uuid) IS
    'Locks a proposed action (its campaign first, in the one order) that a person may still decide on; AO404 or AO409 saying why not (approved already, applied, rejected, expired).';

CREATE OR REPLACE FUNCTION approve_action(p_action_id uuid) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_action autonomous_actions := _ao_proposal(p_action_id);
BEGIN
    UPDATE autonomous_actions SET status = 'pending', decided_at = now(), decided_by = app_auth.actor()
     WHERE id = p_action_id
    RETURNING * INTO v_action;
    PERFORM _ao_change_for(v_action, (SELECT c.account_id FROM campaigns c WHERE c.id = v_action.campaign_id), 'apply');
    RETURN ao_action_document(v_action);
END;
$$;
COMMENT ON FUNCTION approve_action(uuid) IS
    'A person approves a proposed pause or scale: the action is pending and its platform change goes to the outbox (applied once, whoever approves it twice). AO409 for one approved, applied, rejected or expired already.';

CREATE OR REPLACE FUNCTION reject_action(p_action_id uuid, p_reason text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_action autonomous_actions := _ao_proposal(p_action_id);
BEGIN
    UPDATE autonomous_actions
       SET status = 'rejected', decided_at = now(), decided_by = app_auth.actor(),
           status_reason = left(coalesce(nullif(btrim(p_reason), ''), 'rejected'), 2000)
     WHERE id = p_action_id
    RETURNING * INTO v_action;
    RETURN ao_action_document(v_action);
END;
$$;
COMMENT ON FUNCTION reject_action(uuid, text) IS
    'A person rejects a proposed pause or scale: nothing changes anywhere, the action records who, when and why.';

CREATE OR REPLACE FUNCTION expire_proposals() RETURNS integer
LANGUAGE sql AS $$
    WITH expired AS (
        UPDATE autonomous_actions SET status = 'expired', status_reason = 'no one decided before it expired'
         WHERE status = 'proposed' AND expires_at <= now()
        RETURNING 1)
    SELECT count(*)::integer FROM expired
$$;
COMMENT ON FUNCTION expire_proposals() IS
    'Marks the proposals whose time ran out as expired (the sender does it on each pass); how many.';

-- ---------------------------------------------------------------------------------------------
-- The sender's side
-- ---------------------------------------------------------------------------------------------

-- A change whose sender's lease lapsed mid-write is taken again like one of unknown outcome: the next
-- sender reads the campaign before anything else.
CREATE OR REPLACE FUNCTION claim_platform_changes(p_worker text, p_limit integer, p_lease_seconds integer)
RETURNS TABLE (change_id uuid, action_id uuid, purpose text, kind text, from_state jsonb, to_state jsonb,
               objects jsonb, attempts integer, campaign_id uuid, campaign_external_id text, account_id uuid,
               platform text, account_external_id text, currency text, is_sandbox boolean,
               credentials_encrypted bytea)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT pc.id
          FROM platform_changes pc
          JOIN ad_accounts a ON a.id = pc.account_id AND a.status = 'active'
         WHERE ((pc.state IN ('pending', 'unknown') AND pc.next_attempt_at <= now())
                OR (pc.state = 'applying' AND pc.claimed_until < now()))
         ORDER BY pc.next_attempt_at, pc.id
         LIMIT p_limit
           FOR UPDATE OF pc SKIP LOCKED
    ), claimed AS (
        UPDATE platform_changes pc
           SET state = 'applying', attempts = pc.attempts + 1, claimed_by = p_worker,
               claimed_until = now() + make_interval(secs => p_lease_seconds)
          FROM due
         WHERE pc.id = due.id
        RETURNING pc.*
    )
    SELECT c.id, c.action_id, c.purpose, c.kind, c.from_state, c.to_state, c.objects, c.attempts, c.campaign_id,
           k.external_id, a.id, a.platform, a.external_id, a.currency, a.is_sandbox, a.credentials_encrypted
      FROM claimed c
      JOIN campaigns k ON k.id = c.campaign_id
      JOIN ad_accounts a ON a.id = c.account_id
$$;
COMMENT ON FUNCTION claim_platform_changes(text, integer, integer) IS
    'Claims up to p_limit due platform changes of active accounts (pending or unknown and due, or applying with a lapsed lease), SKIP LOCKED, with a lease; with what the sender needs to read and write the campaign on its platform.';

CREATE OR REPLACE FUNCTION _ao_claimed_change(p_change_id uuid, p_worker text) RETURNS platform_changes
LANGUAGE plpgsql AS $$
DECLARE
    v_change platform_changes;
BEGIN
    PERFORM 1 FROM campaigns c WHERE c.id = (SELECT pc.campaign_id FROM platform_changes pc WHERE pc.id = p_change_id)
        FOR UPDATE OF c;
    SELECT * INTO v_change FROM platform_changes WHERE id = p_change_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no platform change %', p_change_id USING ERRCODE = 'AO404';
    END IF;
    IF v_change.state <> 'applying' OR v_change.claimed_by IS DISTINCT FROM p_worker THEN
        RAISE EXCEPTION 'the platform change is % and no longer this sender''s', v_change.state USING ERRCODE = 'AO409';
    END IF;
    RETURN v_change;
END;
$$;
COMMENT ON FUNCTION _ao_claimed_change(uuid, text) IS
    'Locks a platform change this sender still holds (its campaign first); AO409 once another took it over.';

CREATE OR REPLACE FUNCTION record_platform_write(p_change_id uuid, p_worker text, p_objects jsonb,
                                                 p_object_id text, p_field text, p_value text,
                                                 p_lease_seconds integer)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_claimed_change(p_change_id, p_worker);
    UPDATE platform_changes
       SET objects = coalesce(p_objects, objects), claimed_until = now() + make_interval(secs => p_lease_seconds)
     WHERE id = p_change_id;
    INSERT INTO platform_writes (change_id, object_id, field, value) VALUES (p_change_id, p_object_id, p_field, p_value);
END;
$$;
COMMENT ON FUNCTION record_platform_write(uuid, text, jsonb, text, text, text, integer) IS
    'Records, before it is sent, a write the sender is about to make (and the per-object plan of the change, so a sender that takes it over after a crash resumes it object by object), and renews the sender''s lease for it; AO409 when another sender took the change over (then this one must not write).';

CREATE OR REPLACE FUNCTION recent_budget_writes(p_object_ids text[])
RETURNS TABLE (object_id text, writes bigint, oldest timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT w.object_id, count(*), min(w.sent_at)
      FROM platform_writes w
     WHERE w.object_id = ANY (p_object_ids) AND w.field = 'daily_budget' AND w.sent_at > now() - interval '1 hour'
     GROUP BY w.object_id
$$;
COMMENT ON FUNCTION recent_budget_writes(text[]) IS
    'The budget writes of the last hour per object: Meta allows 4 per ad set per hour, the sender waits for the 5th.';

-- p_seen: the campaign as the platform showed it (status, daily_budget, platform_status); applied:
-- the state after the write (or found already there).
CREATE OR REPLACE FUNCTION finish_platform_change(p_change_id uuid, p_worker text, p_outcome text, p_seen jsonb,
                                                  p_answer text, p_retry_seconds integer DEFAULT 60)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_change platform_changes := _ao_claimed_change(p_change_id, p_worker);
    v_answer text := left(p_answer, 2000);
BEGIN
    IF p_outcome NOT IN ('applied', 'conflict', 'failed', 'unknown', 'retry') THEN
        PERFORM ao_raise_422('outcome', 'must be applied, conflict, failed, unknown or retry');
    END IF;
    IF p_outcome IN ('unknown', 'retry') THEN
        UPDATE platform_changes
           SET state = CASE p_outcome WHEN 'unknown' THEN 'unknown' ELSE 'pending' END, last_answer = v_answer,
               next_attempt_at = now() + make_interval(secs => greatest(p_retry_seconds, 1)),
               claimed_by = NULL, claimed_until = NULL
         WHERE id = p_change_id
        RETURNING * INTO v_change;
        RETURN ao_platform_change_document(v_change);
    END IF;

    UPDATE platform_changes
       SET state = p_outcome, seen_state = p_seen, last_answer = v_answer, finished_at = now(),
           claimed_by = NULL, claimed_until = NULL
     WHERE id = p_change_id
    RETURNING * INTO v_change;
    -- The local row follows the platform: what it has after the write, or what a person left there.
    IF p_outcome IN ('applied', 'conflict') THEN
        UPDATE campaigns c
           SET status = coalesce(p_seen ->> 'status', c.status),
               daily_budget = coalesce((p_seen ->> 'daily_budget')::numeric, c.daily_budget),
               max_budget = CASE WHEN c.max_budget < (p_seen ->> 'daily_budget')::numeric
                                 THEN (p_seen ->> 'daily_budget')::numeric ELSE c.max_budget END,
               platform_status = coalesce(p_seen ->> 'platform_status', c.platform_status),
               platform_daily_budget = coalesce((p_seen ->> 'daily_budget')::numeric, c.platform_daily_budget),
               platform_seen_at = now()
         WHERE c.id = v_change.campaign_id;
    END IF;
    IF v_change.purpose = 'apply' THEN
        UPDATE autonomous_actions
           SET status = CASE p_outcome WHEN 'applied' THEN 'executed' ELSE 'failed' END,
               executed_at = CASE p_outcome WHEN 'applied' THEN now() END,
               status_reason = CASE p_outcome
                   WHEN 'conflict' THEN left('not applied: the campaign was changed on its platform since the engine last saw it ('
                                             || coalesce(p_seen::text, '?') || '); nothing was overwritten', 2000)
                   WHEN 'failed' THEN left('the platform refused the change: ' || coalesce(v_answer, 'no reason given'), 2000) END
         WHERE id = v_change.action_id AND status = 'pending';
    ELSIF p_outcome = 'applied' THEN
        UPDATE autonomous_actions
           SET status = 'rolled_back', rolled_back_at = now(), rolled_back_by = coalesce(v_change.requested_by, 'unknown'),
               rollback_reason = coalesce(v_change.reason, 'rolled back')
         WHERE id = v_change.action_id AND status = 'executed';
    END IF;
    RETURN ao_platform_change_document(v_change);
END;
$$;
COMMENT ON FUNCTION finish_platform_change(uuid, text, text, jsonb, text, integer) IS
    'Records what the sender found: applied (the action executed, or rolled back, and the campaign as the platform now has it), conflict (a person changed it: nothing overwritten, the action failed saying so, the campaign follows the platform), failed (the platform refused: the action failed with its words, the campaign as it was), unknown (no answer: the next attempt reads first) or retry (nothing was written: try again later).';
