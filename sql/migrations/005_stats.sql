-- 005_stats.sql: GET /stats without counting a million rows per request.
-- Counters per (action_type, status) and per opportunity status, kept in step by statement-level
-- triggers over transition tables (set-based: one upsert per statement, whatever its row count).

CREATE TABLE autonomous_counters (
    kind    text NOT NULL,          -- 'action' or 'opportunity'
    key     text NOT NULL,          -- '<action_type>:<status>' or '<status>'
    n       bigint NOT NULL DEFAULT 0,
    CONSTRAINT autonomous_counters_pkey PRIMARY KEY (kind, key)
);
ALTER TABLE autonomous_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY autonomous_counters_privileged ON autonomous_counters FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON autonomous_counters TO ao_app;

-- The counting function lives in sql/functions/; a placeholder lets the triggers be created here.
CREATE OR REPLACE FUNCTION autonomous_counters_bump() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;

CREATE TRIGGER autonomous_actions_count_insert AFTER INSERT ON autonomous_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION autonomous_counters_bump();
CREATE TRIGGER autonomous_actions_count_update AFTER UPDATE ON autonomous_actions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION autonomous_counters_bump();
CREATE TRIGGER optimization_opportunities_count_insert AFTER INSERT ON optimization_opportunities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION autonomous_counters_bump();
CREATE TRIGGER optimization_opportunities_count_update AFTER UPDATE ON optimization_opportunities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION autonomous_counters_bump();

-- Rows that exist before this migration are counted once, here.
INSERT INTO autonomous_counters (kind, key, n)
SELECT 'action', action_type || ':' || status, count(*) FROM autonomous_actions GROUP BY 1, 2
UNION ALL
SELECT 'opportunity', status, count(*) FROM optimization_opportunities GROUP BY 1, 2;
