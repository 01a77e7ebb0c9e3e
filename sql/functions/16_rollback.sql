-- 16_rollback.sql: a person overruling the machine: an executed pause or scale is undone (status and
-- budget back to the previous state), a pending post cancelled; the action records who, when and why.

CREATE OR REPLACE FUNCTION rollback_autonomous_action(p_action_id uuid, p_reason text DEFAULT NULL,
                                                      p_force boolean DEFAULT false) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_action autonomous_actions%ROWTYPE;
    v_campaign campaigns%ROWTYPE;
    v_schedule campaign_schedules%ROWTYPE;
    v_account_id uuid;
    v_sent text;
BEGIN
    -- Row locks in the one order (15_cycle.sql): the campaign before its action.
    PERFORM 1 FROM campaigns c WHERE c.id = (SELECT a.campaign_id FROM autonomous_actions a WHERE a.id = p_action_id)
        FOR UPDATE OF c;
    SELECT * INTO v_action FROM autonomous_actions WHERE id = p_action_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no action %', p_action_id USING ERRCODE = 'AO404';
    END IF;
    IF v_action.status = 'rolled_back' THEN
        RAISE EXCEPTION 'action was already rolled back at % by %', v_action.rolled_back_at, v_action.rolled_back_by
            USING ERRCODE = 'AO409';
    ELSIF v_action.status <> 'executed' THEN
        RAISE EXCEPTION 'only executed actions can be rolled back; this one is %', v_action.status USING ERRCODE = 'AO409';
    ELSIF v_action.action_type = 'optimize' THEN
        RAISE EXCEPTION 'an optimize action records a person''s resolution and cannot be rolled back' USING ERRCODE = 'AO409';
    END IF;

    IF v_action.action_type = 'post' THEN
        SELECT * INTO v_schedule FROM campaign_schedules WHERE action_id = p_action_id FOR UPDATE;
        IF NOT FOUND OR v_schedule.status <> 'pending' THEN
            RAISE EXCEPTION 'the post''s schedule is %, only a pending one can be cancelled',
                coalesce(v_schedule.status, 'missing') USING ERRCODE = 'AO409';
        END IF;
        UPDATE campaign_schedules SET status = 'cancelled' WHERE id = v_schedule.id;
    ELSE
        SELECT * INTO v_campaign FROM campaigns WHERE id = v_action.campaign_id FOR UPDATE;
        IF NOT p_force AND (v_campaign.status IS DISTINCT FROM v_action.new_state ->> 'status'
                            OR v_campaign.daily_budget IS DISTINCT FROM (v_action.new_state ->> 'daily_budget')::numeric) THEN
            RAISE EXCEPTION 'the campaign changed since the action: it is % with daily budget %, the action left it % with %; use force to roll back anyway',
                v_campaign.status, v_campaign.daily_budget, v_action.new_state ->> 'status', v_action.new_state ->> 'daily_budget'
                USING ERRCODE = 'AO409';
        END IF;
        -- A connected campaign is rolled back on its platform first, through the outbox, with the same
        -- checks as any change there: the action is rolled back once the platform has the old values.
        SELECT a.id INTO v_account_id FROM ad_accounts a WHERE a.id = v_campaign.account_id AND a.platform <> 'manual';
        IF v_account_id IS NOT NULL THEN
            SELECT pc.state INTO v_sent FROM platform_changes pc WHERE pc.action_id = p_action_id AND pc.purpose = 'rollback';
            IF FOUND THEN
                RAISE EXCEPTION 'a rollback of this action was sent to its platform already (it is %)', v_sent
                    USING ERRCODE = 'AO409';
            END IF;
            PERFORM _ao_change_for(v_action, v_account_id, 'rollback', app_auth.actor(), coalesce(p_reason, 'rolled back'));
            RETURN to_jsonb(v_action) || jsonb_build_object(
                'platform_change', (SELECT ao_platform_change_document(pc) FROM platform_changes pc
                                     WHERE pc.action_id = p_action_id AND pc.purpose = 'rollback'));
        END IF;
        UPDATE campaigns
           SET status = v_action.previous_state ->> 'status',
               daily_budget = (v_action.previous_state ->> 'daily_budget')::numeric,
               -- a forced rollback restores the budget even above a max_budget lowered since
               max_budget = CASE WHEN max_budget < (v_action.previous_state ->> 'daily_budget')::numeric
                                 THEN (v_action.previous_state ->> 'daily_budget')::numeric ELSE max_budget END
         WHERE id = v_action.campaign_id;
    END IF;

    UPDATE autonomous_actions
       SET status = 'rolled_back', rolled_back_at = now(), rolled_back_by = app_auth.actor(),
           rollback_reason = coalesce(p_reason, 'rolled back')
     WHERE id = p_action_id
    RETURNING * INTO v_action;
    RETURN to_jsonb(v_action);
END;
$$;
COMMENT ON FUNCTION rollback_autonomous_action(uuid, text, boolean) IS
    'A person overrules the machine: restores the campaign''s status and daily budget from previous_state (or cancels a still-pending post), marks the action rolled_back with who, when and why; for a campaign of a connected account the old values go to its platform through the outbox first, and the action is rolled back once they are applied. Refuses (AO409) an action not executed, already rolled back (or its rollback sent), an optimize action, or a campaign changed since (unless forced).';
