-- 08_plan.sql: what a cycle decides, campaign by campaign: which rule acts on it and which guardrail
-- holds it back. Read top-down:
--   1. _ao_evaluate_rules: every active rule, as one set-based query over the window sums, each in its
--      own subtransaction (a rule that fails is skipped and reported), into _ao_matches;
--   2. _ao_choose_decisions: per campaign, the highest-priority rule it matches with enough confidence
--      (pause and scale exclusive, posts apart), with the figures the guardrails need;
--   3. _ao_guard_decisions: the guardrails, each refusal a code (held_code); then the blast-radius
--      limits over all the decisions at once (_ao_apply_limits, 08_plan_limits.sql);
--   4. _ao_build_plan: the plan (_ao_plan): reason, states and expected impact of what will be done,
--      and the words of what is held back (08_plan_words.sql).

-- A rule fails at run time when a row was written around the validation, or on an unforeseen error.
-- p_trigger_only: only the rules evaluated as soon as metrics arrive (evaluation_type trigger).
CREATE OR REPLACE FUNCTION _ao_evaluate_rules(p_rule_types text[] DEFAULT NULL, p_trigger_only boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
-- work tables are analyzed on a 3,000-row sample: joins need counts, not fine histograms
SET default_statistics_target = 10 AS $$
DECLARE
    r autonomous_rules%ROWTYPE;
    v_young boolean := EXISTS (SELECT 1 FROM ad_accounts WHERE platform <> 'manual');
    v_match text;
    v_confidence text;
BEGIN
    IF to_regclass('pg_temp._ao_stats') IS NULL THEN
        PERFORM _ao_prepare_stats();
    END IF;
    PERFORM _ao_drop_work_table('_ao_matches');
    PERFORM _ao_drop_work_table('_ao_rule_errors');
    CREATE TEMP TABLE _ao_matches (
        campaign_id uuid, account_id uuid, rule_id uuid, rule_name text, rule_type text, priority integer, action jsonb,
        min_confidence numeric, cooldown_hours integer, confidence numeric,
        immature boolean NOT NULL DEFAULT false, maturity_note text) ON COMMIT DROP;
    CREATE TEMP TABLE _ao_rule_errors (rule_id uuid, name text, error text) ON COMMIT DROP;

    -- The live rules, or a backtest's (the relation from ao_state_table's whitelist).
    FOR r IN EXECUTE format('SELECT * FROM %I r
                              WHERE r.is_active AND ($1 IS NULL OR r.rule_type = ANY ($1))
                                AND (NOT $2 OR r.evaluation_type = ''trigger'')
                              ORDER BY r.priority DESC, r.name', ao_state_table('rules'))
             USING p_rule_types, p_trigger_only LOOP
        BEGIN
            PERFORM validate_rule_action(r.rule_type, r.action);
            PERFORM describe_rule_conditions(r.conditions);
            v_match := compile_rule_conditions(r.conditions);
            v_confidence := compile_rule_confidence(r.conditions);
            IF r.reading = 'as_reported' THEN
                v_match := ao_as_reported(v_match);
                v_confidence := ao_as_reported(v_confidence);
            END IF;
            EXECUTE format(
                'INSERT INTO _ao_matches
                 SELECT s.campaign_id, s.account_id, $1, $2, $3, $4, $5, $6, $7, round(least(greatest((%s)::numeric, 0), 1), 4)
                   FROM _ao_stats s WHERE %s AND ($8::uuid[] IS NULL OR s.account_id = ANY ($8))',
                v_confidence, v_match)
            USING r.id, r.name, r.rule_type, r.priority, r.action, r.min_confidence, r.cooldown_hours, r.account_ids;
            -- A pause the figures as reported would make but the young days read as they will show do
            -- not: held back with immature_data and the share of what is expected so far.
            IF v_young AND r.rule_type = 'pause' AND coalesce(r.reading, 'matured') = 'matured' THEN
                EXECUTE format(
                    'INSERT INTO _ao_matches
                     SELECT s.campaign_id, s.account_id, $1, $2, $3, $4, $5, $6, $7,
                            round(least(greatest((%s)::numeric, 0), 1), 4), true, %s
                       FROM _ao_stats s WHERE (%s) AND NOT coalesce((%s), false)
                        AND ($8::uuid[] IS NULL OR s.account_id = ANY ($8))',
                    ao_as_reported(v_confidence), ao_maturity_note_sql(r.conditions), ao_as_reported(v_match), v_match)
                USING r.id, r.name, r.rule_type, r.priority, r.action, r.min_confidence, r.cooldown_hours, r.account_ids;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO _ao_rule_errors VALUES (r.id, r.name, SQLERRM);
            RAISE WARNING 'rule "%" (%) skipped in this evaluation: %', r.name, r.id, SQLERRM;
        END;
    END LOOP;
    ANALYZE _ao_matches (campaign_id, rule_type);
    ANALYZE _ao_rule_errors;
END;
$$;
COMMENT ON FUNCTION _ao_evaluate_rules(text[], boolean) IS
    'Evaluates each active rule (of the given types, or all) as one set-based query over the cycle''s stats, each in its own subtransaction: matches go to _ao_matches, a rule that raises is skipped and recorded in _ao_rule_errors, so one broken rule cannot stop the others.';

CREATE OR REPLACE FUNCTION _ao_choose_decisions() RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_decisions');
    CREATE TEMP TABLE _ao_decisions ON COMMIT DROP AS
    -- each campaign under its account's guardrails
    WITH cfg AS (SELECT * FROM ao_account_settings()),
    matches AS (
        SELECT m.*, CASE m.rule_type WHEN 'scale' THEN greatest(m.min_confidence, cfg.min_scale_confidence)
                                     ELSE m.min_confidence END AS confidence_floor,
               least((m.action ->> 'factor')::numeric, cfg.max_scale_factor) AS factor
          FROM _ao_matches m JOIN cfg ON cfg.account_id = m.account_id
    ),
    chosen AS (
        SELECT DISTINCT ON (m.campaign_id, m.rule_type = 'post') m.*
          FROM matches m
         ORDER BY m.campaign_id, m.rule_type = 'post', m.immature, m.confidence >= m.confidence_floor DESC,
                  m.priority DESC, m.rule_name
    )
    SELECT c.*, c.rule_type AS action_type, s.title, s.external_id, s.daily_budget, s.max_budget,
           s.hours_running, s.spend_lifetime, s.revenue_lifetime, s.conversions_lifetime, s.clicks_lifetime,
           s.impressions_lifetime,
           s.revenue_lifetime / NULLIF(s.spend_lifetime, 0) AS roi,
           s.clicks_lifetime / NULLIF(s.impressions_lifetime, 0) AS ctr,
           -- recent daily spend: the last 7 days' spend over the days actually run in them
           coalesce(NULLIF(s.spend_last_7d, 0) / greatest(least(s.hours_running / 24.0, 7), 1),
                    s.daily_budget) AS daily_spend,
           -- never past what a budget can be (money < 10^12), whatever the factor and the budget
           CASE WHEN c.rule_type = 'scale'
                THEN round(least(s.daily_budget * c.factor, coalesce(s.max_budget, s.daily_budget * c.factor),
                                 999999999999.99), 2)
           END AS new_budget,
           CASE WHEN c.rule_type = 'post' THEN (SELECT platforms FROM usable_social_platforms()) END AS platforms,
           cfg.min_spend, cfg.rollback_quiet_hours, cfg.post_spacing_hours, cfg.currency
      FROM chosen c
      JOIN _ao_stats s ON s.campaign_id = c.campaign_id
      JOIN cfg ON cfg.account_id = c.account_id;
    ANALYZE _ao_decisions (campaign_id, action_type);
END;
$$;
COMMENT ON FUNCTION _ao_choose_decisions() IS
    'Per campaign, the highest-priority matching rule with enough confidence (pause and scale exclusive, posts apart; ties by name), under its account''s settings (ao_account_settings), with its figures: ROI, CTR, recent daily spend, the factor capped at max_scale_factor and the new budget capped at max_budget (and at the largest amount of money), the platforms a post would go to.';

-- What the guardrails look up (the last action of a type, a recent rollback, the last schedule) is read
-- once for all decisions, only as far back as a guardrail can look, never once per decision.
CREATE OR REPLACE FUNCTION _ao_guard_decisions() RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
BEGIN
    PERFORM _ao_drop_work_table('_ao_guarded');
    -- The actions looked up are the live audit trail, or in a backtest the replay's own (the relation
    -- from ao_state_table's whitelist); a backtest schedules no posts and rolls nothing back.
    EXECUTE format($q$
    CREATE TEMP TABLE _ao_guarded ON COMMIT DROP AS
    WITH last_same AS (
        SELECT DISTINCT ON (a.campaign_id, a.action_type) a.campaign_id, a.action_type, a.created_at
          FROM %1$I a
         WHERE (a.campaign_id, a.action_type) IN (SELECT d.campaign_id, d.action_type FROM _ao_decisions d)
           AND a.status IN ('executed', 'rolled_back', 'pending')
           AND a.created_at > %2$L::timestamptz - make_interval(hours => (SELECT max(d.cooldown_hours) FROM _ao_decisions d))
         ORDER BY a.campaign_id, a.action_type, a.created_at DESC
    ),
    quiet AS (
        SELECT a.campaign_id, a.action_type, max(a.rolled_back_at) AS rolled_back_at
          FROM %1$I a
         WHERE a.status = 'rolled_back'
           AND a.rolled_back_at > %2$L::timestamptz - make_interval(hours => (SELECT max(d.rollback_quiet_hours) FROM _ao_decisions d))
         GROUP BY a.campaign_id, a.action_type
    ),
    -- a change waiting for a person or for its platform, and a Google budget other campaigns share
    -- (live only: a backtest has no platform)
    awaiting AS (
        SELECT DISTINCT a.campaign_id
          FROM autonomous_actions a
         WHERE NOT %3$L AND a.status IN ('proposed', 'pending') AND a.action_type IN ('pause', 'scale')
           AND a.campaign_id IN (SELECT d.campaign_id FROM _ao_decisions d)
    ),
    shared AS (
        SELECT c.id AS campaign_id
          FROM campaigns c
         WHERE NOT %3$L AND c.platform_budget_shared
           AND c.id IN (SELECT d.campaign_id FROM _ao_decisions d WHERE d.action_type = 'scale')
    ),
    last_schedule AS (
        SELECT cs.campaign_id, max(cs.created_at) AS created_at
          FROM campaign_schedules cs
         WHERE cs.created_at > %2$L::timestamptz - make_interval(hours => (SELECT max(d.post_spacing_hours) FROM _ao_decisions d))
           AND NOT %3$L
         GROUP BY cs.campaign_id
    )
    SELECT d.*, NULL::numeric AS limited_from, last_same.created_at AS last_same_at, quiet.rolled_back_at AS quiet_since,
           last_schedule.created_at AS last_schedule_at,
           CASE
               WHEN d.immature THEN 'immature_data'
               WHEN d.confidence < d.confidence_floor THEN 'below_confidence'
               WHEN d.action_type = 'pause' AND d.spend_lifetime < d.min_spend THEN 'below_min_spend'
               WHEN d.action_type = 'scale' AND d.max_budget IS NOT NULL AND d.daily_budget >= d.max_budget THEN 'capped'
               WHEN d.action_type = 'scale' AND d.new_budget <= d.daily_budget THEN 'no_budget_to_scale'
               WHEN d.action_type IN ('pause', 'scale') AND awaiting.campaign_id IS NOT NULL THEN 'awaiting_decision'
               WHEN d.action_type = 'scale' AND shared.campaign_id IS NOT NULL THEN 'shared_budget'
               WHEN quiet.rolled_back_at > %2$L::timestamptz - make_interval(hours => d.rollback_quiet_hours) THEN 'rollback_quiet'
               WHEN last_same.created_at > %2$L::timestamptz - make_interval(hours => d.cooldown_hours) THEN 'cooldown'
               WHEN d.action_type = 'post'
                    AND last_schedule.created_at > %2$L::timestamptz - make_interval(hours => d.post_spacing_hours) THEN 'post_spacing'
               WHEN d.action_type = 'post' AND d.platforms IS NULL THEN 'no_account'
           END AS held_code
      FROM _ao_decisions d
      LEFT JOIN last_same ON last_same.campaign_id = d.campaign_id AND last_same.action_type = d.action_type
      LEFT JOIN quiet ON quiet.campaign_id = d.campaign_id AND quiet.action_type = d.action_type
      LEFT JOIN last_schedule ON d.action_type = 'post' AND last_schedule.campaign_id = d.campaign_id
      LEFT JOIN awaiting ON awaiting.campaign_id = d.campaign_id
      LEFT JOIN shared ON shared.campaign_id = d.campaign_id
    $q$, ao_state_table('actions'), ao_now(), ao_replaying());
    ANALYZE _ao_guarded (campaign_id, action_type, held_code);
END;
$$;
COMMENT ON FUNCTION _ao_guard_decisions() IS
    'The guardrails that hold whatever a rule says, first that applies: confidence below the floor, spend below min_spend, already at max_budget (capped), no budget to scale, a change of the campaign waiting for a person or its platform, a Google budget shared with other campaigns, a person''s rollback (quiet period), the rule''s cooldown, post spacing, no usable social account. Each refusal is a held_code.';

CREATE OR REPLACE FUNCTION _ao_build_plan(p_trigger_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql
SET default_statistics_target = 10 AS $$
DECLARE
    v_reasons text;
BEGIN
    PERFORM _ao_drop_work_table('_ao_plan');
    PERFORM set_config('ao.plan_locked', '', true);  -- this plan's campaigns are not locked yet
    -- the detectors a cycle had to skip (13_opportunities.sql); a scoped evaluation runs none
    PERFORM _ao_drop_work_table('_ao_detector_errors');
    CREATE TEMP TABLE _ao_detector_errors (detector text, error text) ON COMMIT DROP;
    ANALYZE _ao_detector_errors;
    -- Post rules only when a post could go out: no usable account, nothing to plan. A backtest replays
    -- pauses and scales only.
    PERFORM _ao_evaluate_rules(
        CASE WHEN ao_replaying() OR (SELECT platforms FROM usable_social_platforms()) IS NULL
             THEN ARRAY['pause', 'scale'] END,
        p_trigger_only);
    PERFORM _ao_choose_decisions();
    PERFORM _ao_guard_decisions();
    PERFORM _ao_apply_limits();
    -- A campaign paused in this cycle is not posted.
    UPDATE _ao_guarded g SET held_code = 'paused_in_cycle'
     WHERE g.action_type = 'post' AND g.held_code IS NULL
       AND EXISTS (SELECT 1 FROM _ao_guarded q WHERE q.campaign_id = g.campaign_id AND q.action_type = 'pause'
                                                 AND q.held_code IS NULL);
    -- Each rule's words once (not once per decision), and the figures its own conditions read (their
    -- windows), as one expression per rule over the window sums: a decision's reason quotes those.
    PERFORM _ao_drop_work_table('_ao_rule_words');
    EXECUTE format('CREATE TEMP TABLE _ao_rule_words ON COMMIT DROP AS
                    SELECT id, describe_rule_conditions(conditions) AS words,
                           compile_rule_figures(conditions) AS figures FROM %I
                     WHERE id IN (SELECT DISTINCT g.rule_id FROM _ao_guarded g WHERE g.held_code IS NULL)',
                   ao_state_table('rules'));
    ANALYZE _ao_rule_words;
    SELECT coalesce('CASE g.rule_id ' || string_agg(format('WHEN %L::uuid THEN %s', w.id, w.figures), ' ') || ' END',
                    'NULL::text')
      INTO v_reasons FROM _ao_rule_words w;
    -- Reasons, states and expected impact only for what will be done (a held-back decision shows its
    -- held_reason); each action gets its id now, so the summary needs no read-back.
    EXECUTE format($q$
    CREATE TEMP TABLE _ao_plan ON COMMIT DROP AS
    SELECT g.campaign_id, g.account_id, g.rule_id, g.rule_name, g.rule_type, g.action_type, g.priority, g.confidence,
           g.confidence_floor, g.factor, g.new_budget, g.platforms, g.title, g.daily_budget, g.max_budget,
           g.roi, g.ctr, g.hours_running, g.spend_lifetime, g.conversions_lifetime, g.held_code,
           _ao_held_reason(g) AS held_reason,
           gen_random_uuid() AS action_id,
           CASE WHEN g.held_code IS NULL THEN format('%%s (%%s: %%s)', %s, g.rule_name, r.words) END AS reason,
           CASE WHEN g.held_code IS NULL THEN
               jsonb_build_object('status', 'active', 'daily_budget', g.daily_budget, 'max_budget', g.max_budget,
                                  'roi', round(g.roi, 4), 'ctr', round(g.ctr, 6), 'spend', g.spend_lifetime,
                                  'conversions', g.conversions_lifetime, 'hours_running', round(g.hours_running, 1))
           END AS previous_state,
           CASE WHEN g.held_code IS NULL THEN _ao_new_state(g) END AS new_state,
           CASE WHEN g.held_code IS NULL THEN _ao_expected_impact(g) END AS expected_impact
      FROM _ao_guarded g
      LEFT JOIN _ao_rule_words r ON r.id = g.rule_id AND g.held_code IS NULL
      LEFT JOIN _ao_stats s ON s.campaign_id = g.campaign_id AND g.held_code IS NULL
    $q$, v_reasons);
    ANALYZE _ao_plan (campaign_id, action_type, held_code);
END;
$$;
COMMENT ON FUNCTION _ao_build_plan(boolean) IS
    'Plans a cycle into _ao_plan: evaluates the rules (or only the trigger rules, for a scoped evaluation of new metrics) (a failing rule skipped and recorded), chooses the highest-priority matching rule per campaign (pause/scale exclusive, posts apart), applies the guardrails and the limits (each refusal a held_code and its words), and writes the reason (the figures the rule''s own conditions read, and the rule in words), states and expected impact of each decision.';

CREATE OR REPLACE FUNCTION _ao_plan_afresh() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_prepare_stats();
    PERFORM _ao_build_plan();
END;
$$;
COMMENT ON FUNCTION _ao_plan_afresh() IS
    'Reads the metrics and plans what a cycle would do now (_ao_stats, then _ao_plan and the work tables behind it).';
