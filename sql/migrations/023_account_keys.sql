-- 023_account_keys.sql: every row that belongs to a campaign carries its campaign's ad account
-- (account_id), so that a table can be split by account (Citus distributes by it, docs/scaling.md) and a
-- token scoped to accounts is checked against the row's own column instead of a look-up in campaigns.
-- The pair (account_id, campaign_id) references campaigns (account_id, id): an account_id that is not
-- the campaign's is refused. The functions write account_id; a row inserted without one (psql, a
-- fixture) gets its campaign's from a trigger that fires only then. Existing rows are filled here.

ALTER TABLE campaigns ADD CONSTRAINT campaigns_account_campaign_key UNIQUE (account_id, id);

ALTER TABLE campaign_metrics ADD COLUMN account_id uuid;
ALTER TABLE metric_revisions ADD COLUMN account_id uuid;
ALTER TABLE autonomous_actions ADD COLUMN account_id uuid;
ALTER TABLE optimization_opportunities ADD COLUMN account_id uuid;
ALTER TABLE campaign_schedules ADD COLUMN account_id uuid;
ALTER TABLE metric_trigger_queue ADD COLUMN account_id uuid;

-- The fill is no change of the rows' history: the guards of the append-only tables and the
-- update-time triggers sleep through it, and wake as they were.
CREATE TEMP TABLE _ao_sleeping_triggers ON COMMIT DROP AS
SELECT c.relname AS tab, t.tgname AS name, t.tgenabled AS enabled
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relname IN ('metric_revisions', 'autonomous_actions', 'optimization_opportunities', 'campaign_schedules')
   AND c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal AND t.tgenabled <> 'D'
   AND (t.tgtype & 16) <> 0;  -- fires on UPDATE
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM _ao_sleeping_triggers LOOP
        EXECUTE format('ALTER TABLE %I DISABLE TRIGGER %I', t.tab, t.name);
    END LOOP;
END;
$$;

UPDATE campaign_metrics m SET account_id = c.account_id FROM campaigns c WHERE c.id = m.campaign_id;
UPDATE metric_revisions m SET account_id = c.account_id FROM campaigns c WHERE c.id = m.campaign_id;
UPDATE autonomous_actions a SET account_id = c.account_id FROM campaigns c WHERE c.id = a.campaign_id;
UPDATE optimization_opportunities o SET account_id = c.account_id FROM campaigns c WHERE c.id = o.campaign_id;
UPDATE campaign_schedules s SET account_id = c.account_id FROM campaigns c WHERE c.id = s.campaign_id;
UPDATE metric_trigger_queue q SET account_id = c.account_id FROM campaigns c WHERE c.id = q.campaign_id;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM _ao_sleeping_triggers LOOP
        EXECUTE format('ALTER TABLE %I ENABLE %s TRIGGER %I', t.tab,
                       CASE t.enabled WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END, t.name);
    END LOOP;
END;
$$;

ALTER TABLE campaign_metrics ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE metric_revisions ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE autonomous_actions ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE optimization_opportunities ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE campaign_schedules ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE metric_trigger_queue ALTER COLUMN account_id SET NOT NULL;

-- The foreign keys to a campaign become keys to the campaign of that account (same names, so an error
-- reads as before). Actions and opportunities keep their set-based checks (migration 014), which now
-- compare the pair.
ALTER TABLE campaign_metrics DROP CONSTRAINT campaign_metrics_campaign_id_fkey,
    ADD CONSTRAINT campaign_metrics_campaign_id_fkey FOREIGN KEY (account_id, campaign_id)
        REFERENCES campaigns (account_id, id) ON DELETE RESTRICT;
ALTER TABLE metric_revisions DROP CONSTRAINT metric_revisions_campaign_id_fkey,
    ADD CONSTRAINT metric_revisions_campaign_id_fkey FOREIGN KEY (account_id, campaign_id)
        REFERENCES campaigns (account_id, id) ON DELETE RESTRICT;
ALTER TABLE campaign_schedules DROP CONSTRAINT campaign_schedules_campaign_id_fkey,
    ADD CONSTRAINT campaign_schedules_campaign_id_fkey FOREIGN KEY (account_id, campaign_id)
        REFERENCES campaigns (account_id, id) ON DELETE RESTRICT;
ALTER TABLE metric_trigger_queue DROP CONSTRAINT metric_trigger_queue_campaign_id_fkey,
    ADD CONSTRAINT metric_trigger_queue_campaign_id_fkey FOREIGN KEY (account_id, campaign_id)
        REFERENCES campaigns (account_id, id) ON DELETE RESTRICT;
ALTER TABLE platform_changes DROP CONSTRAINT platform_changes_campaign_id_fkey,
    ADD CONSTRAINT platform_changes_campaign_id_fkey FOREIGN KEY (account_id, campaign_id)
        REFERENCES campaigns (account_id, id) ON DELETE RESTRICT;
COMMENT ON CONSTRAINT campaign_metrics_campaign_id_fkey ON campaign_metrics IS
    '{"field": "campaign_id", "message": "no campaign of this account has this id"}';
COMMENT ON CONSTRAINT metric_revisions_campaign_id_fkey ON metric_revisions IS
    '{"field": "campaign_id", "message": "no campaign of this account has this id"}';
COMMENT ON CONSTRAINT campaign_schedules_campaign_id_fkey ON campaign_schedules IS
    '{"field": "campaign_id", "message": "no campaign of this account has this id"}';
COMMENT ON CONSTRAINT metric_trigger_queue_campaign_id_fkey ON metric_trigger_queue IS
    '{"field": "campaign_id", "message": "no campaign of this account has this id"}';
COMMENT ON CONSTRAINT platform_changes_campaign_id_fkey ON platform_changes IS
    '{"field": "campaign_id", "message": "no campaign of this account has this id"}';

-- replaced by forms that take the accounts too (sql/functions/)
DROP FUNCTION IF EXISTS _ao_metric_row_campaigns(jsonb);
DROP FUNCTION IF EXISTS _ao_missing_campaign(uuid[]);
DROP FUNCTION IF EXISTS _ao_missing_campaign_hashed(uuid[]);

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
CREATE TRIGGER campaign_metrics_account BEFORE INSERT ON campaign_metrics
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('campaign_metrics');
CREATE TRIGGER metric_revisions_account BEFORE INSERT ON metric_revisions
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('metric_revisions');
CREATE TRIGGER autonomous_actions_account BEFORE INSERT ON autonomous_actions
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('autonomous_actions');
CREATE TRIGGER optimization_opportunities_account BEFORE INSERT ON optimization_opportunities
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('optimization_opportunities');
CREATE TRIGGER campaign_schedules_account BEFORE INSERT ON campaign_schedules
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('campaign_schedules');
CREATE TRIGGER metric_trigger_queue_account BEFORE INSERT ON metric_trigger_queue
    FOR EACH ROW WHEN (NEW.account_id IS NULL) EXECUTE FUNCTION ao_fill_account_id('metric_trigger_queue');
-- the account of an opportunity, like its campaign, never changes (an action's: its guard)
DROP TRIGGER optimization_opportunities_campaign_fixed ON optimization_opportunities;
CREATE TRIGGER optimization_opportunities_campaign_fixed BEFORE UPDATE OF campaign_id, account_id ON optimization_opportunities
    FOR EACH ROW WHEN ((OLD.campaign_id, OLD.account_id) IS DISTINCT FROM (NEW.campaign_id, NEW.account_id))
    EXECUTE FUNCTION ao_refuse_change('changing campaign_id or account_id');
ALTER TABLE optimization_opportunities ENABLE ALWAYS TRIGGER optimization_opportunities_campaign_fixed;

-- A campaign's account is fixed, like its id: its rows name the pair (and Citus keeps a campaign on the
-- node of its account).
CREATE TRIGGER campaigns_account_fixed BEFORE UPDATE OF account_id ON campaigns
    FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id) EXECUTE FUNCTION ao_refuse_change('changing account_id');
ALTER TABLE campaigns ENABLE ALWAYS TRIGGER campaigns_account_fixed;

-- A scoped token reads the rows of its accounts by the rows' own account_id.
DROP POLICY campaign_metrics_scoped ON campaign_metrics;
CREATE POLICY campaign_metrics_scoped ON campaign_metrics FOR SELECT TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
DROP POLICY metric_revisions_scoped ON metric_revisions;
CREATE POLICY metric_revisions_scoped ON metric_revisions FOR SELECT TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
DROP POLICY autonomous_actions_scoped ON autonomous_actions;
CREATE POLICY autonomous_actions_scoped ON autonomous_actions FOR ALL TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]))
    WITH CHECK (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
DROP POLICY optimization_opportunities_scoped ON optimization_opportunities;
CREATE POLICY optimization_opportunities_scoped ON optimization_opportunities FOR ALL TO ao_app
    USING (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]))
    WITH CHECK (account_id = ANY ((SELECT app_auth.account_scope())::uuid[]));
