-- 14_opportunity_lifecycle.sql: a person's answer to an opportunity: start (open → in_progress),
-- resolve (→ resolved, logging an optimize action) or dismiss (→ dismissed); anything else is 409.

CREATE OR REPLACE FUNCTION transition_optimization_opportunity(p_id uuid, p_transition text, p_note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_opp optimization_opportunities%ROWTYPE;
    v_to text;
    v_actor text := app_auth.actor();
    v_action_id uuid;
BEGIN
    v_to := CASE p_transition WHEN 'start' THEN 'in_progress' WHEN 'resolve' THEN 'resolved'
                              WHEN 'dismiss' THEN 'dismissed' END;
    IF v_to IS NULL THEN
        PERFORM ao_raise_422('transition', 'must be one of start, resolve, dismiss');
    END IF;
    SELECT * INTO v_opp FROM optimization_opportunities WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no opportunity %', p_id USING ERRCODE = 'AO404';
    END IF;
    IF NOT ((p_transition = 'start' AND v_opp.status = 'open')
            OR (p_transition IN ('resolve', 'dismiss') AND v_opp.status IN ('open', 'in_progress'))) THEN
        RAISE EXCEPTION 'cannot % an opportunity that is %: start takes an open one, resolve and dismiss an open or in-progress one',
            p_transition, v_opp.status USING ERRCODE = 'AO409';
    END IF;

    UPDATE optimization_opportunities
       SET status = v_to, resolved_by = CASE WHEN v_to IN ('resolved', 'dismissed') THEN v_actor ELSE resolved_by END
     WHERE id = p_id
    RETURNING * INTO v_opp;

    IF v_to = 'resolved' THEN
        INSERT INTO autonomous_actions (campaign_id, account_id, action_type, reason, previous_state, new_state,
                                        confidence, expected_impact, status, executed_at, created_by)
        VALUES (v_opp.campaign_id, v_opp.account_id, 'optimize',
                format('%s resolved by %s: %s%s', replace(v_opp.opportunity_type, '_', ' '), v_actor, v_opp.description,
                       CASE WHEN p_note IS NOT NULL THEN ' Note: ' || p_note ELSE '' END),
                jsonb_build_object('opportunity_id', v_opp.id, 'opportunity_type', v_opp.opportunity_type,
                                   'status', 'in_progress_or_open', 'evidence', v_opp.evidence),
                jsonb_build_object('opportunity_id', v_opp.id, 'status', 'resolved'),
                v_opp.confidence_score,
                jsonb_build_object('sentence', v_opp.suggested_action),
                'executed', now(), v_actor)
        RETURNING id INTO v_action_id;
    END IF;
    RETURN to_jsonb(v_opp) || jsonb_build_object('action_id', v_action_id);
END;
$$;
COMMENT ON FUNCTION transition_optimization_opportunity(uuid, text, text) IS
    'Moves an opportunity: start (open → in_progress), resolve (open|in_progress → resolved, logging an executed optimize action with who resolved it, which cannot be rolled back), dismiss (open|in_progress → dismissed, quiet for opportunity_quiet_days); any other move is refused with AO409.';
