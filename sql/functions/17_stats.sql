-- 17_stats.sql: the dashboard's stats row without counting a million rows per request: counters per
-- action type and status and per opportunity status, kept in step by statement-level triggers.

-- As its owner: the counters are the service's, kept whoever changed the rows (a scoped token included).
CREATE OR REPLACE FUNCTION autonomous_counters_bump() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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

-- PL/pgSQL, not SQL: its queries are planned once per session instead of on every call. The counters
-- are the whole service's: for one account, or for a token scoped to accounts, the rows are counted.
CREATE OR REPLACE FUNCTION autonomous_stats(p_account_id uuid DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_stats jsonb;
    v_accounts uuid[];
BEGIN
    IF p_account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ad_accounts WHERE id = p_account_id) THEN
        RAISE EXCEPTION 'no ad account %', p_account_id USING ERRCODE = 'AO404';
    END IF;
    IF p_account_id IS NULL AND app_auth.account_scope() IS NULL THEN
        SELECT jsonb_build_object(
            'total_actions', coalesce(sum(n) FILTER (WHERE kind = 'action'), 0),
            'paused', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'pause:executed'), 0),
            'scaled', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'scale:executed'), 0),
            'posted', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key = 'post:executed'), 0),
            'rolled_back', coalesce(sum(n) FILTER (WHERE kind = 'action' AND key LIKE '%:rolled_back'), 0),
            'open_opportunities', coalesce(sum(n) FILTER (WHERE kind = 'opportunity' AND key IN ('open', 'in_progress')), 0))
          INTO v_stats
          FROM autonomous_counters;
    ELSE
        v_accounts := CASE WHEN p_account_id IS NULL THEN app_auth.account_scope() ELSE ARRAY[p_account_id] END;
        SELECT jsonb_build_object(
            'total_actions', count(*),
            'paused', count(*) FILTER (WHERE a.action_type = 'pause' AND a.status = 'executed'),
            'scaled', count(*) FILTER (WHERE a.action_type = 'scale' AND a.status = 'executed'),
            'posted', count(*) FILTER (WHERE a.action_type = 'post' AND a.status = 'executed'),
            'rolled_back', count(*) FILTER (WHERE a.status = 'rolled_back'),
            'open_opportunities', (SELECT count(*) FROM optimization_opportunities o
                                     JOIN campaigns c ON c.id = o.campaign_id AND c.account_id = ANY (v_accounts)
                                    WHERE o.status IN ('open', 'in_progress')))
          INTO v_stats
          FROM autonomous_actions a
          JOIN campaigns c ON c.id = a.campaign_id AND c.account_id = ANY (v_accounts);
    END IF;
    RETURN v_stats || jsonb_build_object(
        'last_cycle',
        (SELECT jsonb_build_object('id', id, 'status', status, 'trigger', trigger, 'dry_run', dry_run,
                                   'started_at', started_at, 'finished_at', finished_at)
           FROM autonomous_cycles WHERE status <> 'skipped'
          ORDER BY started_at DESC, id DESC LIMIT 1),
        -- money per currency, never added across: the active campaigns' daily budgets and the
        -- lifetime spend and revenue of the accounts' campaigns
        'money',
        (SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'currency', m.currency, 'accounts', m.accounts, 'active_campaigns', m.active_campaigns,
                    'daily_budget_active', m.daily_budget_active, 'spend', m.spend, 'revenue', m.revenue)
                  ORDER BY m.currency), '[]')
           FROM (SELECT a.currency, count(DISTINCT a.id) AS accounts,
                        count(*) FILTER (WHERE c.status = 'active') AS active_campaigns,
                        coalesce(sum(c.daily_budget) FILTER (WHERE c.status = 'active'), 0) AS daily_budget_active,
                        round(sum(c.spend), 2) AS spend, round(sum(c.revenue), 2) AS revenue
                   FROM campaigns c JOIN ad_accounts a ON a.id = c.account_id
                  WHERE p_account_id IS NULL OR a.id = p_account_id
                  GROUP BY a.currency) m));
END;
$$;
COMMENT ON FUNCTION autonomous_stats(uuid) IS
    'The dashboard''s stats row: actions in all, pauses/scales/posts in force (executed, not rolled back), rollbacks, open or in-progress opportunities (from counters for the whole service; counted for one account or a scoped token''s accounts), the last cycle that ran, and the money per currency (active daily budgets, lifetime spend and revenue), never added across currencies.';
