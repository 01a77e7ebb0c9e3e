-- 20_events.sql: telling people. What changes writes its event to the outbox (webhook_events) in its own
-- transaction, so a dry run or a rolled-back cycle emits nothing and a committed action always does; an
-- event is written only when an active endpoint wants its type (ao_event_types(), migration 016, lists
-- them), and fans out at once into one delivery per such endpoint, notifying the senders. The senders
-- (app/background/webhooks.py) claim deliveries with SKIP LOCKED and record every attempt here.

-- ---------------------------------------------------------------------------------------------
-- Documents: what an event carries, shaped as the API returns the thing
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ao_action_document(a autonomous_actions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'cycle_id', a.cycle_id, 'campaign_id', a.campaign_id,
        'campaign_title', (SELECT c.title FROM campaigns c WHERE c.id = a.campaign_id),
        'rule_id', a.rule_id, 'rule_name', (SELECT r.name FROM autonomous_rules r WHERE r.id = a.rule_id),
        'action_type', a.action_type, 'reason', a.reason, 'previous_state', a.previous_state,
        'new_state', a.new_state, 'confidence', a.confidence, 'expected_impact', a.expected_impact,
        'actual_impact', a.actual_impact, 'status', a.status, 'created_at', a.created_at,
        'executed_at', a.executed_at, 'rolled_back_at', a.rolled_back_at, 'rolled_back_by', a.rolled_back_by,
        'rollback_reason', a.rollback_reason, 'created_by', a.created_by, 'expires_at', a.expires_at,
        'decided_at', a.decided_at, 'decided_by', a.decided_by, 'status_reason', a.status_reason,
        'platform_change', (SELECT jsonb_build_object('id', pc.id, 'purpose', pc.purpose, 'state', pc.state,
                                                      'attempts', pc.attempts, 'last_answer', pc.last_answer)
                              FROM platform_changes pc WHERE pc.action_id = a.id
                             ORDER BY pc.created_at DESC, pc.id DESC LIMIT 1))
$$;
COMMENT ON FUNCTION ao_action_document(autonomous_actions) IS
    'An action as GET /actions/{id} returns it (with its campaign title, rule name and latest platform change), for the events that report it.';

CREATE OR REPLACE FUNCTION ao_opportunity_document(o optimization_opportunities) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', o.id, 'campaign_id', o.campaign_id,
        'campaign_title', (SELECT c.title FROM campaigns c WHERE c.id = o.campaign_id),
        'opportunity_type', o.opportunity_type, 'severity', o.severity, 'description', o.description,
        'suggested_action', o.suggested_action, 'confidence_score', o.confidence_score, 'evidence', o.evidence,
        'status', o.status, 'detected_at', o.detected_at, 'updated_at', o.updated_at, 'resolved_by', o.resolved_by)
$$;
COMMENT ON FUNCTION ao_opportunity_document(optimization_opportunities) IS
    'An opportunity as GET /opportunities/{id} returns it, for opportunity.opened.';

CREATE OR REPLACE FUNCTION ao_cycle_document(c autonomous_cycles) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'trigger', c.trigger, 'triggered_by', c.triggered_by, 'dry_run', c.dry_run,
        'status', c.status, 'scope', c.scope, 'started_at', c.started_at, 'finished_at', c.finished_at,
        'summary', c.summary, 'error', c.error)
$$;
COMMENT ON FUNCTION ao_cycle_document(autonomous_cycles) IS 'A cycle as GET /cycles/{id} returns it, for cycle.failed.';

CREATE OR REPLACE FUNCTION ao_post_document(p social_posts) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'schedule_id', p.schedule_id, 'campaign_id', s.campaign_id, 'campaign_title', c.title,
        'platform', p.platform, 'account_id', p.account_id, 'status', p.status,
        'external_post_ids', to_jsonb(p.external_post_ids), 'attempts', p.attempts,
        'next_attempt_at', p.next_attempt_at, 'last_error', p.last_error, 'posted_at', p.posted_at)
      FROM campaign_schedules s JOIN campaigns c ON c.id = s.campaign_id
     WHERE s.id = p.schedule_id
$$;
COMMENT ON FUNCTION ao_post_document(social_posts) IS
    'A social post as GET /schedules shows it, with its schedule and campaign, for post.failed and post.unknown.';

CREATE OR REPLACE FUNCTION ao_social_account_document(a social_accounts) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'platform', a.platform, 'account_id', a.account_id, 'display_name', a.display_name,
        'token_last4', a.token_last4, 'has_refresh_token', a.refresh_token_encrypted IS NOT NULL,
        'token_expires_at', a.token_expires_at, 'status', a.status, 'created_at', a.created_at,
        'updated_at', a.updated_at)
$$;
COMMENT ON FUNCTION ao_social_account_document(social_accounts) IS
    'A social account as GET /social-accounts returns it (never a token), for social_account.expired.';

-- ---------------------------------------------------------------------------------------------
-- The outbox
-- ---------------------------------------------------------------------------------------------

-- Both run as their owner: an event is the service's record of what happened, whoever caused it (a
-- scoped token's rollback is announced as an admin's is, though the token cannot read the endpoints).
CREATE OR REPLACE FUNCTION ao_webhook_wanted(p_type text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM webhook_endpoints e
                    WHERE e.is_active AND (cardinality(e.event_types) = 0 OR p_type = ANY (e.event_types)))
$$;
COMMENT ON FUNCTION ao_webhook_wanted(text) IS
    'True when an active webhook endpoint subscribes to the event type (no types listed = all): without one, no event is written.';

-- The id is the webhook-id a receiver deduplicates on; the timestamp is when the change was made (the
-- transaction's time).
CREATE OR REPLACE FUNCTION _ao_emit_all(p_type text, p_documents jsonb[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF cardinality(p_documents) > 0 AND ao_webhook_wanted(p_type) THEN
        INSERT INTO webhook_events (id, type, payload)
        SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), p_type,
               jsonb_build_object('type', p_type, 'timestamp', now(), 'data', d)
          FROM unnest(p_documents) AS d;
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_emit_all(text, jsonb[]) IS
    'Writes one outbox event of the type per document ({"type", "timestamp", "data"}), in the caller''s transaction, when an active endpoint wants the type.';

CREATE OR REPLACE FUNCTION _ao_emit(p_type text, p_document jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT _ao_emit_all(p_type, ARRAY[p_document]) $$;
COMMENT ON FUNCTION _ao_emit(text, jsonb) IS 'Writes one outbox event (see _ao_emit_all).';

CREATE OR REPLACE FUNCTION _ao_emit_rule_errors(p_cycle_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_emit_all('rule.error', (SELECT array_agg(jsonb_build_object(
                                            'cycle_id', p_cycle_id, 'rule_id', e.rule_id, 'name', e.name,
                                            'error', e.error) ORDER BY e.name)
                                          FROM _ao_rule_errors e));
END;
$$;
COMMENT ON FUNCTION _ao_emit_rule_errors(uuid) IS
    'Emits rule.error for each rule that failed in this cycle (skipped, the others acted), so that a broken rule is not a silent one.';

CREATE OR REPLACE FUNCTION ao_events_from_actions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- no document is built for an event nobody wants (a cycle writes tens of thousands of actions)
    IF NOT ao_webhook_wanted('action.executed') AND NOT ao_webhook_wanted('action.rolled_back')
       AND NOT ao_webhook_wanted('action.proposed') THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM _ao_emit_all(t.type, t.docs)
           FROM (SELECT 'action.' || n.status AS type, array_agg(ao_action_document(n) ORDER BY n.created_at, n.id) AS docs
                   FROM new_rows n
                  WHERE n.status = 'executed'
                     OR (n.status = 'proposed'  -- announced with its links in approve mode; observe only records
                         AND EXISTS (SELECT 1 FROM campaigns c JOIN ad_accounts acct ON acct.id = c.account_id
                                      WHERE c.id = n.campaign_id AND acct.mode = 'approve'))
                  GROUP BY n.status) t;
    ELSE
        PERFORM _ao_emit_all(t.type, t.docs)
           FROM (SELECT CASE n.status WHEN 'executed' THEN 'action.executed' ELSE 'action.rolled_back' END AS type,
                        array_agg(ao_action_document(n) ORDER BY n.id) AS docs
                   FROM new_rows n JOIN old_rows o ON o.id = n.id
                  WHERE n.status IS DISTINCT FROM o.status AND n.status IN ('executed', 'rolled_back')
                  GROUP BY 1) t;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_actions() IS
    'Statement trigger on autonomous_actions: action.executed for each action written as executed (or moved to it), action.rolled_back for each rolled back, action.proposed for each proposed to a person in an account in approve mode (the sender adds its signed approve and reject links; observe mode only records its proposals).';

CREATE OR REPLACE FUNCTION ao_events_from_opportunities() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ao_webhook_wanted('opportunity.opened') THEN
        RETURN NULL;
    END IF;
    PERFORM _ao_emit_all('opportunity.opened',
        (SELECT array_agg(ao_opportunity_document(n) ORDER BY n.detected_at, n.id) FROM new_rows n
          WHERE n.status = 'open'));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_opportunities() IS
    'Statement trigger on optimization_opportunities: opportunity.opened for each opportunity raised.';

CREATE OR REPLACE FUNCTION ao_events_from_posts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_emit_all('post.' || n.status, array_agg(ao_post_document(n) ORDER BY n.id))
       FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.status IN ('failed', 'unknown') AND n.status IS DISTINCT FROM o.status
      GROUP BY n.status;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_posts() IS
    'Statement trigger on social_posts: post.failed when a post fails for good, post.unknown when its outcome cannot be known (never retried by itself: a person must look).';

CREATE OR REPLACE FUNCTION ao_events_from_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_emit_all('social_account.expired',
        (SELECT array_agg(ao_social_account_document(n) ORDER BY n.id)
           FROM new_rows n JOIN old_rows o ON o.id = n.id
          WHERE n.status = 'expired' AND o.status IS DISTINCT FROM 'expired'));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_accounts() IS
    'Statement trigger on social_accounts: social_account.expired when a platform refuses an account''s token (posting stops until it is reconnected).';

-- A test event is delivered to its own endpoint only (webhook_send_test).
CREATE OR REPLACE FUNCTION ao_webhook_fan_out() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (event_id, endpoint_id)
    SELECT n.id, e.id
      FROM new_rows n
      JOIN webhook_endpoints e ON e.is_active AND (cardinality(e.event_types) = 0 OR n.type = ANY (e.event_types))
     WHERE n.type <> 'webhook.test';
    PERFORM pg_notify(ao_channel('webhooks'), '');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_webhook_fan_out() IS
    'Statement trigger on webhook_events: a delivery for each active endpoint that wants the event, and a notification of the senders (ao_channel(''webhooks'')) so that the first attempt starts as soon as the event commits.';

-- ---------------------------------------------------------------------------------------------
-- Deliveries
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION webhook_send_test(p_endpoint_id uuid) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_event text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
    v_delivery uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = p_endpoint_id) THEN
        RAISE EXCEPTION 'no webhook endpoint %', p_endpoint_id USING ERRCODE = 'AO404';
    END IF;
    INSERT INTO webhook_events (id, type, payload)
    VALUES (v_event, 'webhook.test', jsonb_build_object(
        'type', 'webhook.test', 'timestamp', now(),
        'data', jsonb_build_object('webhook_id', p_endpoint_id,
                                   'message', 'A test event from Autonomous Ops: this endpoint receives its events.')));
    INSERT INTO webhook_deliveries (event_id, endpoint_id) VALUES (v_event, p_endpoint_id)
    RETURNING id INTO v_delivery;
    RETURN v_delivery;
END;
$$;
COMMENT ON FUNCTION webhook_send_test(uuid) IS
    'Queues a webhook.test event for one endpoint and returns its delivery (AO404 for an unknown endpoint).';

CREATE OR REPLACE FUNCTION webhook_redeliver(p_delivery_id uuid) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM webhook_deliveries WHERE id = p_delivery_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no webhook delivery %', p_delivery_id USING ERRCODE = 'AO404';
    END IF;
    IF v_status = 'sending' THEN
        RAISE EXCEPTION 'this delivery is being sent now; wait for its attempt to end' USING ERRCODE = 'AO409';
    END IF;
    UPDATE webhook_deliveries
       SET status = 'pending', next_attempt_at = now(), give_up_at = now() + interval '24 hours',
           claimed_until = NULL
     WHERE id = p_delivery_id;
    PERFORM pg_notify(ao_channel('webhooks'), '');
    RETURN p_delivery_id;
END;
$$;
COMMENT ON FUNCTION webhook_redeliver(uuid) IS
    'Queues a delivery again (same event, same webhook-id) for a new 24-hour retry window; AO404 unknown, AO409 while an attempt is in flight.';

CREATE OR REPLACE FUNCTION claim_webhook_deliveries(p_limit integer, p_lease_seconds integer DEFAULT 60)
RETURNS TABLE (delivery_id uuid, attempt integer, event_id text, event_type text, payload jsonb,
               endpoint_id uuid, url text, format text, secret_encrypted bytea)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
         WHERE (d.status = 'pending' AND d.next_attempt_at <= now())
            OR (d.status = 'sending' AND d.claimed_until < now())
         ORDER BY d.next_attempt_at
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries d
           SET status = 'sending', attempts = d.attempts + 1,
               claimed_until = now() + make_interval(secs => p_lease_seconds)
          FROM due
         WHERE d.id = due.id
        RETURNING d.id, d.attempts, d.event_id, d.endpoint_id
    )
    SELECT c.id, c.attempts, ev.id, ev.type, ev.payload, e.id, e.url, e.format, e.secret_encrypted
      FROM claimed c
      JOIN webhook_events ev ON ev.id = c.event_id
      JOIN webhook_endpoints e ON e.id = c.endpoint_id;
END;
$$;
COMMENT ON FUNCTION claim_webhook_deliveries(integer, integer) IS
    'Claims up to p_limit due webhook deliveries (FOR UPDATE SKIP LOCKED) for one attempt each, leased for p_lease_seconds; a lapsed lease (a sender that died) makes a delivery due again.';

CREATE OR REPLACE FUNCTION record_webhook_attempt(
    p_delivery_id uuid, p_attempt integer, p_status_code integer, p_latency_ms integer, p_excerpt text,
    p_error text, p_delivered boolean, p_retry_at timestamptz
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, response_excerpt, error)
    VALUES (p_delivery_id, p_attempt, p_status_code, p_latency_ms, left(p_excerpt, 1024), left(p_error, 1000));
    UPDATE webhook_deliveries d
       SET status = CASE WHEN p_delivered THEN 'delivered'
                         WHEN p_retry_at IS NULL OR p_retry_at > d.give_up_at THEN 'failed'
                         ELSE 'pending' END,
           next_attempt_at = coalesce(p_retry_at, d.next_attempt_at),
           delivered_at = CASE WHEN p_delivered THEN now() END,
           claimed_until = NULL, last_status_code = p_status_code, last_error = left(p_error, 1000)
     WHERE d.id = p_delivery_id AND d.status = 'sending' AND d.attempts = p_attempt
    RETURNING d.status INTO v_status;
    RETURN v_status;
END;
$$;
COMMENT ON FUNCTION record_webhook_attempt(uuid, integer, integer, integer, text, text, boolean, timestamptz) IS
    'Logs an attempt (status code, latency, the first 1 KB of the answer) and moves its delivery on: delivered, pending again at the retry time, or failed after its 24-hour window; a stale attempt only logs.';
