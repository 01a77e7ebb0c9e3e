-- 014_set_based_references.sql: a cycle that acts on most of a portfolio writes tens of thousands of
-- audit rows and opportunities in a few statements. Their references (campaign, cycle, rule) are checked
-- once per statement by an anti-join instead of once per row by a foreign key; this is sound because
-- the rows they refer to are never deleted, truncated or renumbered (refused below, for everyone).
-- Campaign rows, rewritten every hour by ingestion and by cycles, keep half of each page free so that
-- those updates stay on their page (no index writes).

-- What the database never lets anyone do to a row others refer to (deletes, truncation, a new id): a
-- trigger names what is refused in its argument. Nothing is deleted (state changes only), and the audit
-- trail's references are checked once per statement (below) on the strength of it.
CREATE OR REPLACE FUNCTION ao_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % is not allowed', TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'restrict_violation', HINT = 'nothing is deleted: change a status instead';
END;
$$;
COMMENT ON FUNCTION ao_refuse_change() IS
    'Refuses a DELETE, a TRUNCATE or a change of id on a table whose rows others refer to (campaigns, cycles, rules, opportunities'' campaign): nothing is deleted, so a reference checked once stays good.';

-- The references of the rows one statement wrote into the audit trail: every campaign, cycle and rule
-- named must exist. Checked once per statement over all its rows (an anti-join each), not once per row:
-- a cycle writes tens of thousands of actions at once. Sound because none of the rows referred to can be
-- deleted or change its id (ao_refuse_change), and the references of an action never change
-- (autonomous_actions_append_only). Raises what a foreign key would (23503, the same constraint names).
CREATE OR REPLACE FUNCTION autonomous_actions_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_missing text;
BEGIN
    SELECT n.campaign_id::text INTO v_missing FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.campaign_id) LIMIT 1;
    IF FOUND THEN
        PERFORM _ao_raise_missing_reference('autonomous_actions', 'campaign_id', v_missing, 'campaigns');
    END IF;
    SELECT n.cycle_id::text INTO v_missing FROM new_rows n
     WHERE n.cycle_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM autonomous_cycles y WHERE y.id = n.cycle_id) LIMIT 1;
    IF FOUND THEN
        PERFORM _ao_raise_missing_reference('autonomous_actions', 'cycle_id', v_missing, 'autonomous_cycles');
    END IF;
    SELECT n.rule_id::text INTO v_missing FROM new_rows n
     WHERE n.rule_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM autonomous_rules r WHERE r.id = n.rule_id) LIMIT 1;
    IF FOUND THEN
        PERFORM _ao_raise_missing_reference('autonomous_actions', 'rule_id', v_missing, 'autonomous_rules');
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION autonomous_actions_check_references() IS
    'Checks, once per INSERT statement, that every campaign, cycle and rule its new audit rows name exists (23503 under the foreign-key names otherwise): a set-based foreign key, sound because those rows are never deleted nor renumbered.';

CREATE OR REPLACE FUNCTION optimization_opportunities_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_missing text;
BEGIN
    SELECT n.campaign_id::text INTO v_missing FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.campaign_id) LIMIT 1;
    IF FOUND THEN
        PERFORM _ao_raise_missing_reference('optimization_opportunities', 'campaign_id', v_missing, 'campaigns');
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION optimization_opportunities_check_references() IS
    'Checks, once per INSERT statement, that every campaign its new opportunities name exists (23503 under the foreign-key name otherwise); an opportunity''s campaign never changes afterwards.';

-- The error a foreign key raises, for the set-based checks above.
CREATE OR REPLACE FUNCTION _ao_raise_missing_reference(p_table text, p_column text, p_value text, p_referenced text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', p_table,
        p_table || '_' || p_column || '_fkey'
        USING ERRCODE = 'foreign_key_violation', TABLE = p_table, COLUMN = p_column,
              CONSTRAINT = p_table || '_' || p_column || '_fkey',
              DETAIL = format('Key (%s)=(%s) is not present in table "%s".', p_column, p_value, p_referenced);
END;
$$;
COMMENT ON FUNCTION _ao_raise_missing_reference(text, text, text, text) IS
    'Raises the error a foreign key would (23503, constraint <table>_<column>_fkey, the key in its detail) for a reference the set-based checks found missing.';

ALTER TABLE autonomous_actions
    DROP CONSTRAINT autonomous_actions_campaign_id_fkey,
    DROP CONSTRAINT autonomous_actions_cycle_id_fkey,
    DROP CONSTRAINT autonomous_actions_rule_id_fkey;
ALTER TABLE optimization_opportunities DROP CONSTRAINT optimization_opportunities_campaign_id_fkey;

CREATE TRIGGER autonomous_actions_references AFTER INSERT ON autonomous_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION autonomous_actions_check_references();
CREATE TRIGGER optimization_opportunities_references AFTER INSERT ON optimization_opportunities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION optimization_opportunities_check_references();
CREATE TRIGGER optimization_opportunities_campaign_fixed BEFORE UPDATE OF campaign_id ON optimization_opportunities
    FOR EACH ROW WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
    EXECUTE FUNCTION ao_refuse_change('changing campaign_id');

CREATE TRIGGER campaigns_no_delete BEFORE DELETE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('DELETE');
CREATE TRIGGER campaigns_no_truncate BEFORE TRUNCATE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
CREATE TRIGGER campaigns_id_fixed BEFORE UPDATE OF id ON campaigns
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ao_refuse_change('changing id');
CREATE TRIGGER autonomous_cycles_no_delete BEFORE DELETE ON autonomous_cycles
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('DELETE');
CREATE TRIGGER autonomous_cycles_no_truncate BEFORE TRUNCATE ON autonomous_cycles
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
CREATE TRIGGER autonomous_cycles_id_fixed BEFORE UPDATE OF id ON autonomous_cycles
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ao_refuse_change('changing id');
CREATE TRIGGER autonomous_rules_no_delete BEFORE DELETE ON autonomous_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('DELETE');
CREATE TRIGGER autonomous_rules_no_truncate BEFORE TRUNCATE ON autonomous_rules
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
CREATE TRIGGER autonomous_rules_id_fixed BEFORE UPDATE OF id ON autonomous_rules
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ao_refuse_change('changing id');

-- The refusals hold with session_replication_role = replica too, like the audit trail's own guards.
ALTER TABLE optimization_opportunities ENABLE ALWAYS TRIGGER optimization_opportunities_campaign_fixed;
ALTER TABLE campaigns ENABLE ALWAYS TRIGGER campaigns_no_delete;
ALTER TABLE campaigns ENABLE ALWAYS TRIGGER campaigns_no_truncate;
ALTER TABLE campaigns ENABLE ALWAYS TRIGGER campaigns_id_fixed;
ALTER TABLE autonomous_cycles ENABLE ALWAYS TRIGGER autonomous_cycles_no_delete;
ALTER TABLE autonomous_cycles ENABLE ALWAYS TRIGGER autonomous_cycles_no_truncate;
ALTER TABLE autonomous_cycles ENABLE ALWAYS TRIGGER autonomous_cycles_id_fixed;
ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_no_delete;
ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_no_truncate;
ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_id_fixed;

-- Pages written from now on keep half their room for updates of their own rows.
ALTER TABLE campaigns SET (fillfactor = 50);
