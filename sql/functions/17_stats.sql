-- 17_stats.sql: the dashboard's stats row without counting a million rows per request: counters per
-- action type and status and per opportunity status, kept in step by statement-level triggers.

CREATE OR REPLACE FUNCTION autonomous_counters_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'autonomous_actions' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO autonomous_counters AS c (kind, key, n)
            SELECT 'action', action_type || ':' || status, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 2
            ON CONFLICT (kind, key) DO UPDATE SET n = c.n + EXCLUDED.n;
        ELSE
            INSERT INTO autonomous_counters AS c (kind, key, n)
            SELECT 'action', k, sum(d) FROM (
                SELECT action_type || ':' || status AS k, 1 AS d FROM new_rows
                UNION ALL
                SELECT action_type || ':' || status, -1 FROM old_rows) x
            GROUP BY k HAVING sum(d) <> 0 ORDER BY k
            ON CONFLICT (kind, key) DO UPDATE SET n = c.n + EXCLUDED.n;
        END IF;
    ELSE
        IF TG_OP = 'INSERT' THEN
            INSERT INTO autonomous_counters AS c (kind, key, n)
            SELECT 'opportunity', status, count(*) FROM new_rows GROUP BY 2 ORDER BY 2
            ON CONFLICT (kind, key) DO UPDATE SET n = c.n + EXCLUDED.n;
        ELSE
            INSERT INTO autonomous_counters AS c (kind, key, n)
            SELECT 'opportunity', k, sum(d) FROM (
                SELECT status AS k, 1 AS d FROM new_rows
                UNION ALL
                SELECT status, -1 FROM old_rows) x
            GROUP BY k HAVING sum(d) <> 0 ORDER BY k
            ON CONFLICT (kind, key) DO UPDATE SET n = c.n + EXCLUDED.n;
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION autonomous_counters_bump() IS
    'Keeps autonomous_counters equal to the counts of actions by type and status and of opportunities by status, one set-based upsert per statement.';

-- PL/pgSQL, not SQL: its two queries are planned once per session instead of on every call.
CREATE OR REPLACE FUNCTION autonomous_stats() RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_stats jsonb;
BEGIN
    SELECT jsonb_build_object(
        'total_actions', coalesce(sum(n) FILTER (WHERE kind = 'action'), 0),
        'paused', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'pause:executed'), 0),
        'scaled', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'scale:executed'), 0),
        'posted', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'post:executed'), 0),
        'rolled_back', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key LIKE '%:rolled_back'), 0),
        'open_opportunities', coalesce(sum(n) FILTER (WHERE kind = 'opportunity' AND key IN ('open', 'in_progress')), 0))
      INTO v_stats
      FROM autonomous_counters;
    RETURN v_stats || jsonb_build_object('last_cycle',
        (SELECT jsonb_build_object('id', id, 'status', status, 'trigger', trigger, 'dry_run', dry_run,
                                   'started_at', started_at, 'finished_at', finished_at)
           FROM autonomous_cycles WHERE status <> 'skipped'
          ORDER BY started_at DESC, id DESC LIMIT 1));
END;
$$;
COMMENT ON FUNCTION autonomous_stats() IS
    'The dashboard''s stats row: actions in all, pauses/scales/posts in force (executed, not rolled back), rollbacks, open or in-progress opportunities, and the last cycle that ran; read from counters, not by counting rows.';
