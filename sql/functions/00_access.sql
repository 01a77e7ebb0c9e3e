-- 00_access.sql: who the caller is. Each API request sets request.jwt.claims and SET LOCAL ROLE ao_app;
-- these helpers read the claims (Supabase's shape), and the row-level security policies of every table
-- ask app_auth.is_privileged().

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

-- A list naming no account scopes to nothing (the API refuses such a token with 403 before any query).
CREATE OR REPLACE FUNCTION app_auth.account_scope() RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN jsonb_typeof(app_auth.jwt() -> 'app_metadata' -> 'accounts') = 'array'
                THEN nullif(ARRAY(SELECT e::uuid
                                    FROM jsonb_array_elements_text(app_auth.jwt() -> 'app_metadata' -> 'accounts') e
                                   WHERE e ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'), '{}')
           END
$$;
COMMENT ON FUNCTION app_auth.account_scope() IS
    'Decides which ad accounts a scoped token (app_metadata.accounts) reads and acts on: their ids; NULL for a token whose list names none, and for a token without a list (admins, service callers, anyone else): such a token sees no account''s rows.';
