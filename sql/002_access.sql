-- 002_access.sql: defence in depth (SPEC §6), the PostgREST/Supabase way.
-- Every API request runs in a transaction that sets request.jwt.claims and switches to ao_app,
-- a role without superuser or BYPASSRLS; row-level security lets only admin or service claims
-- read or write. Nothing is granted DELETE.

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

CREATE OR REPLACE FUNCTION app_auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
COMMENT ON FUNCTION app_auth.jwt() IS
    'The claims of the current request''s JWT, as set per transaction by the API; {} when none.';

CREATE OR REPLACE FUNCTION app_auth.is_admin() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(app_auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
$$;
COMMENT ON FUNCTION app_auth.is_admin() IS
    'True when the request''s token carries app_metadata.role = admin (Supabase convention).';

CREATE OR REPLACE FUNCTION app_auth.is_service() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(app_auth.jwt() ->> 'role' = 'service_role', false)
$$;
COMMENT ON FUNCTION app_auth.is_service() IS
    'True when the request''s token is a machine caller''s (role = service_role).';

CREATE OR REPLACE FUNCTION app_auth.is_privileged() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT app_auth.is_admin() OR app_auth.is_service()
$$;
COMMENT ON FUNCTION app_auth.is_privileged() IS
    'Decides who may read or write any Autonomous Ops table: admins and service callers, nobody else.';

CREATE OR REPLACE FUNCTION app_auth.actor() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(app_auth.jwt() ->> 'email', app_auth.jwt() ->> 'sub',
                    nullif(app_auth.jwt() ->> 'role', ''), current_user::text)
$$;
COMMENT ON FUNCTION app_auth.actor() IS
    'Who is acting, for audit columns: the token''s email or subject, else the database user (psql, cron).';

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
