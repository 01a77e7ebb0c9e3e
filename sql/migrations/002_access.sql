-- 002_access.sql: defence in depth, the PostgREST/Supabase way.
-- Every API request runs in a transaction that sets request.jwt.claims and switches to ao_app,
-- a role without superuser or BYPASSRLS; row-level security lets only admin or service claims
-- read or write. Nothing is granted DELETE. The claims helpers (app_auth.*) live in
-- sql/functions/; the policies need app_auth.is_privileged() to exist, so it starts as a refusal.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ao_app') THEN
        CREATE ROLE ao_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    -- The service's login role must be able to SET ROLE ao_app (a superuser always can).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'ao_app', 'MEMBER') THEN
        EXECUTE format('GRANT ao_app TO %I', current_user);
    END IF;
END;
$$;

CREATE SCHEMA IF NOT EXISTS app_auth;
GRANT USAGE ON SCHEMA app_auth TO ao_app;
GRANT USAGE ON SCHEMA public TO ao_app;

CREATE OR REPLACE FUNCTION app_auth.is_privileged() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT false $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['campaigns', 'campaign_metrics', 'autonomous_rules', 'autonomous_cycles',
                             'autonomous_actions', 'optimization_opportunities', 'campaign_schedules',
                             'social_accounts', 'social_posts', 'autonomous_settings']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO ao_app USING ((SELECT app_auth.is_privileged())) '
                       'WITH CHECK ((SELECT app_auth.is_privileged()))', t || '_privileged', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO ao_app', t);
    END LOOP;
END;
$$;
GRANT SELECT ON campaigns_with_kpis TO ao_app;
