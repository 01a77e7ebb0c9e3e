-- 01_audit.sql: what the database guards by itself, whoever writes: the append-only audit trail,
-- updated_at, and the clock of a campaign that goes live.

CREATE OR REPLACE FUNCTION autonomous_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.cycle_id, NEW.campaign_id, NEW.account_id, NEW.rule_id, NEW.action_type, NEW.reason,
        NEW.previous_state, NEW.new_state, NEW.confidence, NEW.expected_impact, NEW.created_at,
        NEW.created_by, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.cycle_id, OLD.campaign_id, OLD.account_id, OLD.rule_id, OLD.action_type, OLD.reason,
        OLD.previous_state, OLD.new_state, OLD.confidence, OLD.expected_impact, OLD.created_at,
        OLD.created_by, OLD.expires_at) THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: only status, executed_at, actual_impact, the decision, the status reason and rollback fields may change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    -- a proposal waits for a person; pending waits for its platform change
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'proposed' AND NEW.status IN ('pending', 'rejected', 'expired', 'failed'))
        OR (OLD.status = 'pending' AND NEW.status IN ('executed', 'failed'))
        OR (OLD.status = 'executed' AND NEW.status = 'rolled_back')) THEN
        RAISE EXCEPTION 'autonomous_actions status may not move from % to %', OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.executed_at IS NOT NULL AND NEW.executed_at IS DISTINCT FROM OLD.executed_at THEN
        RAISE EXCEPTION 'autonomous_actions executed_at is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF (OLD.decided_at IS NOT NULL AND (NEW.decided_at, NEW.decided_by) IS DISTINCT FROM (OLD.decided_at, OLD.decided_by))
       OR (OLD.status_reason IS NOT NULL AND NEW.status_reason IS DISTINCT FROM OLD.status_reason) THEN
        RAISE EXCEPTION 'autonomous_actions decision and status reason are written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.actual_impact IS NOT NULL AND NEW.actual_impact IS DISTINCT FROM OLD.actual_impact THEN
        RAISE EXCEPTION 'autonomous_actions actual_impact is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.rolled_back_at IS NOT NULL AND (NEW.rolled_back_at, NEW.rolled_back_by, NEW.rollback_reason)
            IS DISTINCT FROM (OLD.rolled_back_at, OLD.rolled_back_by, OLD.rollback_reason) THEN
        RAISE EXCEPTION 'autonomous_actions rollback fields are written once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION autonomous_actions_append_only() IS
    'Guards the audit trail: refuses DELETE/TRUNCATE for everyone and any UPDATE other than moving status forward (proposed→pending|rejected|expired|failed, pending→executed|failed, executed→rolled_back) and filling executed_at, actual_impact, the decision (decided_at, decided_by), the status reason or the rollback fields once each (the rollback fields only with status rolled_back, a CHECK).';

CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION touch_updated_at() IS 'Keeps updated_at equal to the time of the last UPDATE of a row.';

CREATE OR REPLACE FUNCTION campaigns_set_started_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' AND NEW.started_at IS NULL THEN
        NEW.started_at := now();
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION campaigns_set_started_at() IS
    'Sets started_at when a campaign first becomes active, so hours_running has a start.';

-- The trigger's argument names what is refused.
CREATE OR REPLACE FUNCTION ao_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % is not allowed', TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'restrict_violation', HINT = 'nothing is deleted: change a status instead';
END;
$$;
COMMENT ON FUNCTION ao_refuse_change() IS
    'Refuses a DELETE, a TRUNCATE or a change of id on a table whose rows others refer to (campaigns, cycles, rules, a campaign''s account, an opportunity''s campaign): nothing is deleted, so a reference checked once stays good.';

-- An anti-join per reference over all of a statement's rows, not a check per row: a cycle writes tens of
-- thousands of actions at once. The references of an action never change (autonomous_actions_append_only).
CREATE OR REPLACE FUNCTION autonomous_actions_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A cycle's actions share one cycle and a few rules: each is checked once.
    -- the two arrays from one pass over the rows, so the i-th campaign sits beside its account
    PERFORM _ao_raise_missing_reference('autonomous_actions', 'campaign_id',
        (SELECT _ao_missing_campaign(array_agg(n.campaign_id), array_agg(n.account_id)) FROM new_rows n),
        'campaigns');
    PERFORM _ao_raise_missing_reference('autonomous_actions', 'cycle_id',
        (SELECT min(n.id::text)
           FROM (SELECT DISTINCT cycle_id AS id FROM new_rows WHERE cycle_id IS NOT NULL) n
          WHERE NOT EXISTS (SELECT 1 FROM autonomous_cycles y WHERE y.id = n.id)), 'autonomous_cycles');
    PERFORM _ao_raise_missing_reference('autonomous_actions', 'rule_id',
        (SELECT min(n.id::text)
           FROM (SELECT DISTINCT rule_id AS id FROM new_rows WHERE rule_id IS NOT NULL) n
          WHERE NOT EXISTS (SELECT 1 FROM autonomous_rules r WHERE r.id = n.id)), 'autonomous_rules');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION autonomous_actions_check_references() IS
    'Checks, once per INSERT statement, that every campaign (of the row''s account), cycle and rule its new audit rows name exists (23503 under the foreign-key names otherwise): a set-based foreign key, sound because those rows are never deleted nor renumbered.';

CREATE OR REPLACE FUNCTION optimization_opportunities_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- the two arrays from one pass over the rows, so the i-th campaign sits beside its account
    PERFORM _ao_raise_missing_reference('optimization_opportunities', 'campaign_id',
        (SELECT _ao_missing_campaign(array_agg(n.campaign_id), array_agg(n.account_id)) FROM new_rows n),
        'campaigns');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION optimization_opportunities_check_references() IS
    'Checks, once per INSERT statement, that every campaign its new opportunities name exists in the opportunity''s account (23503 under the foreign-key name otherwise); an opportunity''s campaign never changes afterwards.';

-- The pass reads the table itself: right after a cycle's pauses and scales most campaign pages are not
-- all-visible, and an index-only scan would visit the heap once per campaign anyway.
CREATE OR REPLACE FUNCTION _ao_missing_campaign_hashed(p_ids uuid[], p_accounts uuid[]) RETURNS text
LANGUAGE sql STABLE SET enable_indexonlyscan = off SET enable_indexscan = off SET enable_bitmapscan = off AS $$
    SELECT min(n.id::text) FROM unnest(p_ids, p_accounts) n(id, account_id)
     WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.id AND c.account_id = n.account_id)
$$;
COMMENT ON FUNCTION _ao_missing_campaign_hashed(uuid[], uuid[]) IS
    'The first of many campaign ids that names no campaign of the account beside it, found in one hashed pass over the campaigns table (no per-campaign heap visits).';

CREATE OR REPLACE FUNCTION _ao_missing_campaign(p_ids uuid[], p_accounts uuid[]) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN cardinality(p_ids) > 1000 THEN _ao_missing_campaign_hashed(p_ids, p_accounts)
                ELSE (SELECT min(n.id::text) FROM unnest(p_ids, p_accounts) n(id, account_id)
                       WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.id AND c.account_id = n.account_id)) END
$$;
COMMENT ON FUNCTION _ao_missing_campaign(uuid[], uuid[]) IS
    'The first of the campaign ids that names no campaign of the account beside it (NULL when all do), for the set-based reference checks: one hashed pass over the campaigns for many ids, index probes for a few.';

CREATE OR REPLACE FUNCTION _ao_raise_missing_reference(p_table text, p_column text, p_value text, p_referenced text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_value IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', p_table,
            p_table || '_' || p_column || '_fkey'
            USING ERRCODE = 'foreign_key_violation', TABLE = p_table, COLUMN = p_column,
                  CONSTRAINT = p_table || '_' || p_column || '_fkey',
                  DETAIL = format('Key (%s)=(%s) is not present in table "%s".', p_column, p_value, p_referenced);
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_raise_missing_reference(text, text, text, text) IS
    'Raises the error a foreign key would (23503, constraint <table>_<column>_fkey, the key in its detail) for the key a set-based check found missing; nothing when it found none (NULL).';

-- Fires only for a row inserted without its account (WHEN NEW.account_id IS NULL): the functions write it.
-- It looks past row-level security, so that a role the policies refuse the row is told so by them.
CREATE OR REPLACE FUNCTION ao_fill_account_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    SELECT c.account_id INTO NEW.account_id FROM campaigns c WHERE c.id = NEW.campaign_id;
    IF NEW.account_id IS NULL THEN
        PERFORM _ao_raise_missing_reference(TG_ARGV[0], 'campaign_id', NEW.campaign_id::text, 'campaigns');
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION ao_fill_account_id() IS
    'Gives a row inserted without an account_id its campaign''s (the trigger''s argument names the table, for the foreign-key error when no campaign has the id).';
