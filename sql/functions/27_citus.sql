-- 27_citus.sql: the layout on a Citus cluster, made once on its coordinator after the migrations
-- (docs/scaling.md, "Citus"): the rows of a campaign distributed by account_id and co-located, the
-- shared tables as reference tables on every node. Citus wants every unique key of a distributed table
-- to hold account_id, every foreign key between distributed tables too, and no key from a reference
-- table to a distributed one; its policies read the row's own columns, without subqueries.

CREATE OR REPLACE FUNCTION _ao_citus_distributed_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['campaigns', 'campaign_metrics', 'metric_revisions', 'autonomous_actions',
                 'optimization_opportunities', 'platform_changes', 'campaign_schedules', 'metric_trigger_queue']
$$;
COMMENT ON FUNCTION _ao_citus_distributed_tables() IS
    'The tables Citus distributes by account_id, co-located with campaigns: a campaign and all its rows on one node.';

-- In the order they are made: a table's triggers, run on every node as its rows are copied, read the
-- ones before it (a rule's validation reads the settings).
CREATE OR REPLACE FUNCTION _ao_citus_reference_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['autonomous_settings', 'ad_accounts', 'account_settings', 'account_maturity', 'autonomous_rules',
                 'social_accounts', 'autonomous_cycles', 'autonomous_counters', 'webhook_endpoints', 'webhook_events',
                 'webhook_deliveries', 'webhook_attempts', 'backtests', 'metric_rollups', 'ad_account_syncs',
                 'social_posts', 'platform_writes']
$$;
COMMENT ON FUNCTION _ao_citus_reference_tables() IS
    'The tables Citus copies whole to every node: what every account''s cycle reads (settings, rules, accounts) and what a cycle writes once (cycles, counters, events).';

-- (SELECT app_auth.f()) is evaluated once per statement on one node; Citus plans a policy on every
-- shard and refuses a subquery in it, so there the function is called as it is.
CREATE OR REPLACE FUNCTION _ao_citus_policy(p_expression text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(p_expression, '\(\s*SELECT (app_auth\.\w+\(\)) AS \w+\)', '\1', 'g')
$$;
COMMENT ON FUNCTION _ao_citus_policy(text) IS
    'A policy''s expression in the form Citus takes: each (SELECT app_auth.f() AS f) replaced by the call itself.';

-- PostgreSQL inlines a simple SQL function into the query that calls it; Citus plans the query before
-- that, and refuses one that turns out to read its tables only once inlined. A SET clause keeps a
-- function from being inlined: every SQL function that reads a table of the layout gets one, here
-- only (on a single node inlining is what makes them cheap). The function files re-applied by a
-- migration drop these settings: ao_citus_layout() gives them back after each upgrade.
CREATE OR REPLACE FUNCTION _ao_citus_function_settings() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    f regprocedure;
    n integer := 0;
BEGIN
    -- the cycle's entry points: one connection per node writes (a worker that locked a campaign row
    -- writes it over the same connection), and no node sends a cycle's work tables and views (its own,
    -- temporary) to the others
    ALTER FUNCTION run_account_cycle(uuid, boolean, text, text)
        SET citus.multi_shard_modify_mode = 'sequential' SET citus.enable_ddl_propagation = off;
    ALTER FUNCTION run_autonomous_operations_with_posting(boolean, text, text, text)
        SET citus.multi_shard_modify_mode = 'sequential' SET citus.enable_ddl_propagation = off;
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
              WHERE l.lanname = 'sql' AND p.proconfig IS NULL
                AND p.pronamespace IN ('public'::regnamespace, 'app_auth'::regnamespace)
                AND p.prosrc ~ ('\m(' || array_to_string(_ao_citus_distributed_tables() || _ao_citus_reference_tables(), '|') || ')\M')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION _ao_citus_function_settings() IS
    'The settings of the service''s functions on Citus, which re-applied function files drop: the cycle''s entry points with sequential writes and no DDL propagation, and a SET clause on each SQL function that reads a table of the layout, so it runs as a function of its own instead of being inlined where Citus cannot plan it; returns how many SQL functions it set.';

CREATE OR REPLACE FUNCTION ao_citus_layout() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_fks jsonb;
    v_dropped text[] := '{}';
    r record;
    v_t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the Citus layout needs the citus extension in this database'
            USING ERRCODE = 'AO409', HINT = 'CREATE EXTENSION citus on the coordinator and on every worker first';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'campaigns'::regclass) THEN
        RETURN jsonb_build_object('distributed', false, 'reason', 'already laid out',
                                  'functions_set', _ao_citus_function_settings());
    END IF;
    -- the guards and the set-based checks are triggers: Citus runs them on the shards
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    -- keys to reference tables are added in the transaction that made the shards: one connection per node
    PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

    -- Policies without subqueries, on the row's own columns.
    FOR r IN SELECT p.tablename, p.policyname, p.cmd, p.qual, p.with_check, p.roles
               FROM pg_policies p WHERE p.schemaname = 'public' LOOP
        EXECUTE format('DROP POLICY %I ON %I', r.policyname, r.tablename);
        EXECUTE format('CREATE POLICY %I ON %I FOR %s TO %s %s %s', r.policyname, r.tablename, r.cmd,
                       array_to_string(r.roles, ', '),
                       CASE WHEN r.qual IS NOT NULL THEN 'USING (' || _ao_citus_policy(r.qual) || ')' ELSE '' END,
                       CASE WHEN r.with_check IS NOT NULL THEN 'WITH CHECK (' || _ao_citus_policy(r.with_check) || ')' ELSE '' END);
    END LOOP;

    -- A statement trigger that reads its rows from a transition table (the set-based reference checks,
    -- the counters behind GET /stats, the webhook events) has nothing to read on Citus: it goes (the
    -- keys check the references; docs/scaling.md says what else is not kept there).
    FOR r IN SELECT t.tgrelid::regclass::text AS tab, t.tgname
               FROM pg_trigger t
              WHERE NOT t.tgisinternal AND (t.tgnewtable IS NOT NULL OR t.tgoldtable IS NOT NULL)
                AND t.tgrelid::regclass::text = ANY (_ao_citus_distributed_tables() || _ao_citus_reference_tables()) LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', r.tgname, r.tab);
        v_dropped := v_dropped || (r.tab || '.' || r.tgname);
    END LOOP;

    -- Every foreign key comes off while the tables move, and goes back in the form Citus takes.
    SELECT jsonb_agg(jsonb_build_object('tab', conrelid::regclass::text, 'name', conname,
                                        'def', pg_get_constraintdef(oid),
                                        'ref', confrelid::regclass::text))
      INTO v_fks
      FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND conparentid = 0;
    FOR r IN SELECT * FROM jsonb_to_recordset(v_fks) AS x(tab text, name text, def text, ref text) LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', r.tab, r.name);
    END LOOP;

    FOREACH v_t IN ARRAY _ao_citus_reference_tables() LOOP
        PERFORM create_reference_table(v_t);
    END LOOP;

    FOREACH v_t IN ARRAY _ao_citus_distributed_tables() LOOP
        -- each unique key holds account_id
        FOR r IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def
                   FROM pg_constraint c
                  WHERE c.conrelid = v_t::regclass AND c.contype IN ('p', 'u')
                    AND NOT (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = 'account_id') = ANY (c.conkey) LOOP
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', v_t, r.conname);
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', v_t, r.conname,
                           regexp_replace(r.def, '\)$', ', account_id)'));
        END LOOP;
        FOR r IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
                   FROM pg_index i
                  WHERE i.indrelid = v_t::regclass AND i.indisunique
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                    AND NOT (SELECT attnum FROM pg_attribute WHERE attrelid = i.indrelid AND attname = 'account_id') = ANY (i.indkey) LOOP
            EXECUTE format('DROP INDEX %s', r.name);
            EXECUTE regexp_replace(r.def, 'USING (\w+) \(([^)]*)\)', 'USING \1 (\2, account_id)');
        END LOOP;
        PERFORM create_distributed_table(v_t, 'account_id',
                                         colocate_with => CASE WHEN v_t = 'campaigns' THEN 'default' ELSE 'campaigns' END);
    END LOOP;

    -- Back: a key between two distributed tables through account_id as well; none from a reference
    -- table to a distributed one (Citus has no such key: the outbox rows name their parents unchecked).
    FOR r IN SELECT * FROM jsonb_to_recordset(v_fks) AS x(tab text, name text, def text, ref text) LOOP
        IF r.tab = ANY (_ao_citus_reference_tables()) AND r.ref = ANY (_ao_citus_distributed_tables()) THEN
            CONTINUE;
        END IF;
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', r.tab, r.name,
                       CASE WHEN r.tab = ANY (_ao_citus_distributed_tables()) AND r.ref = ANY (_ao_citus_distributed_tables())
                                 AND r.def !~ '\(account_id'
                            THEN regexp_replace(regexp_replace(r.def, '^FOREIGN KEY \(', 'FOREIGN KEY (account_id, '),
                                                'REFERENCES (\w+)\(', 'REFERENCES \1(account_id, ')
                            ELSE r.def END);
    END LOOP;
    -- The functions made before the tables moved live on the coordinator only: every one of ours goes
    -- to every node (Citus keeps them in step from now on); the cycle of one account runs on the node
    -- that holds the account's rows.
    FOR r IN SELECT p.oid::regprocedure AS f FROM pg_proc p
              WHERE p.pronamespace IN ('public'::regnamespace, 'app_auth'::regnamespace)
                AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
        PERFORM create_distributed_function(r.f);
    END LOOP;
    PERFORM create_distributed_function('run_account_cycle(uuid, boolean, text, text)'::regprocedure, 'p_account',
                                        colocate_with => 'campaigns');
    RETURN jsonb_build_object('distributed', true, 'functions_set', _ao_citus_function_settings(),
                              'triggers_dropped', to_jsonb(v_dropped),
                              'tables', (SELECT jsonb_object_agg(logicalrelid::text, CASE partmethod WHEN 'h' THEN 'distributed' ELSE 'reference' END)
                                           FROM pg_dist_partition));
END;
$$;
COMMENT ON FUNCTION ao_citus_layout() IS
    'Lays the database out on a Citus coordinator, once (a second call, after an upgrade, only gives the functions their Citus settings back): the rows of a campaign distributed by account_id and co-located, the shared tables as reference tables, keys with account_id, policies without subqueries, the transition-table triggers dropped, every function on every node, run_account_cycle delegated by its account; returns what it did. Refuses (409) a database without the citus extension.';
