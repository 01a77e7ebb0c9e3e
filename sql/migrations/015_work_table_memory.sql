-- A cycle plans in temporary work tables (window sums, matches, decisions, the plan, the findings):
-- about 150 MB of them at 100,000 campaigns. At PostgreSQL's default temp_buffers (8 MB) most of their
-- pages go out to the operating system and are read back within the same cycle. Every session of this
-- database may keep up to 256 MB of temporary pages in its own memory instead; a session takes that
-- memory only as its temporary tables grow. A database default, so psql callers get it too. Set only
-- by a role allowed to (the database's owner or a superuser), and never lowered: an operator who set
-- more keeps it, and one whose migrating role may not set it is told (README, "Configuration").
DO $$
BEGIN
    IF pg_size_bytes(current_setting('temp_buffers')) >= pg_size_bytes('256MB') THEN
        RETURN;
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER') THEN
        EXECUTE format('ALTER DATABASE %I SET temp_buffers = %L', current_database(), '256MB');
    ELSE
        RAISE NOTICE 'temp_buffers left at %: only the owner of database % may set it; set it to 256MB '
                     'for the cycle''s work tables to stay in memory', current_setting('temp_buffers'),
                     current_database();
    END IF;
END;
$$;
