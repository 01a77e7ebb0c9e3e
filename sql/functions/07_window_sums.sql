-- 07_window_sums.sql: the one read of the metrics a cycle makes. Lifetime figures come from the
-- campaign totals (kept in step by ingestion); window figures (last 24 h, 48 h, 7, 14, 30 days, and
-- the 7 days before the last 7) are sums over the metric periods that end inside the window. Only the
-- sums the active rules and the detectors use are computed, in one pass, into the transaction-local
-- table _ao_stats that every rule query and detector scans.

CREATE OR REPLACE FUNCTION _ao_needed_sums() RETURNS TABLE (figure text, window_name text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- the rules: the live ones, or a backtest's (ao_state_table names the relation, from a whitelist)
    RETURN QUERY EXECUTE format($q$
    SELECT DISTINCT f, w
    FROM (SELECT leaf ->> 'metric' AS metric, coalesce(leaf ->> 'window', 'lifetime') AS w
            FROM %I, jsonb_path_query(conditions, 'strict $.**?(@.metric != null)') leaf
           WHERE is_active) l
    CROSS JOIN LATERAL unnest(CASE l.metric
        WHEN 'roi' THEN ARRAY['revenue', 'spend', 'conversions']
        WHEN 'ctr' THEN ARRAY['clicks', 'impressions']
        WHEN 'cpc' THEN ARRAY['spend', 'clicks']
        WHEN 'cpa' THEN ARRAY['spend', 'conversions']
        WHEN 'conversion_rate' THEN ARRAY['conversions', 'clicks']
        WHEN 'frequency' THEN ARRAY['impressions', 'reach']
        WHEN 'budget_utilization' THEN ARRAY['spend']
        WHEN 'hours_running' THEN ARRAY[]::text[]
        WHEN 'days_running' THEN ARRAY[]::text[]
        WHEN 'daily_budget' THEN ARRAY[]::text[]
        ELSE ARRAY[l.metric] END) f
    WHERE w <> 'lifetime' AND w = ANY (rule_windows()) AND f IN ('impressions', 'reach', 'clicks', 'conversions', 'spend', 'revenue')
    UNION
    -- detectors: this week and the week before (declining performance, creative fatigue, under-delivery);
    -- a backtest runs no detector and needs only the last 7 days' spend (the expected impacts)
    SELECT f, w FROM unnest(ARRAY['impressions', 'reach', 'clicks', 'conversions', 'spend', 'revenue']) f,
                     unnest(ARRAY['last_7d', 'prev_7d']) w
     WHERE NOT %L OR (f = 'spend' AND w = 'last_7d')
    $q$, ao_state_table('rules'), ao_replaying());
END;
$$;
COMMENT ON FUNCTION _ao_needed_sums() IS
    'Which window sums a cycle computes: those the active rules use (and the counts behind their confidence), and the last-7-day and previous-7-day sums the opportunity detectors and expected impacts use; lifetime comes from the campaign totals.';

-- p_campaign_ids narrows it to those campaigns (a scoped evaluation of new metrics); NULL reads them all.
-- In a backtest the windows end at the replayed moment (no metric period ending after it is read), and
-- the campaigns, with their lifetime totals up to that moment, come from the replay's work table.
CREATE OR REPLACE FUNCTION _ao_prepare_stats(p_campaign_ids uuid[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
-- work tables are analyzed on a 3,000-row sample: joins need counts, not fine histograms; JIT would
-- spend about 0.1 s compiling the one pass below, more than it saves; the scans and aggregates: below
SET default_statistics_target = 10 SET jit = off SET enable_hashagg = off SET enable_gathermerge = off SET random_page_cost = 20 AS $$
DECLARE
    v_cutoffs timestamptz[];   -- the window edges, most recent first
    v_bucket text;
    v_figures text;
    v_sums text;
    v_columns text;
    v_rows text;
    v_reported text;
    v_young text;
    v_matured text;
    v_now timestamptz := ao_now();
    v_as_of timestamptz := ao_as_of();
    v_account uuid := ao_cycle_account();
BEGIN
    PERFORM _ao_drop_work_table('_ao_stats');
    -- Each metric row falls in one bucket between consecutive window edges and is added once per
    -- figure, to the segment of buckets that holds its bucket (below). The edges are literals (the clock is
    -- fixed for the transaction, or for the replayed step). Figures and windows come from whitelists (_ao_needed_sums), never from a
    -- rule's text.
    SELECT array_agg(DISTINCT edge ORDER BY edge DESC) INTO v_cutoffs
      FROM _ao_needed_sums() n(f, w)
      CROSS JOIN LATERAL unnest(CASE w WHEN 'last_24h' THEN ARRAY[v_now - interval '24 hours']
                                       WHEN 'last_48h' THEN ARRAY[v_now - interval '48 hours']
                                       WHEN 'last_7d' THEN ARRAY[v_now - interval '7 days']
                                       WHEN 'prev_7d' THEN ARRAY[v_now - interval '7 days', v_now - interval '14 days']
                                       WHEN 'last_14d' THEN ARRAY[v_now - interval '14 days']
                                       ELSE ARRAY[v_now - interval '30 days'] END) edge;
    SELECT 'CASE ' || string_agg(format('WHEN m.period_end > %L::timestamptz THEN %s', e, k), ' ' ORDER BY k) || ' END'
      INTO v_bucket
      FROM unnest(v_cutoffs) WITH ORDINALITY AS c(e, k);
    SELECT string_agg(DISTINCT format('m.%s', f), ', ') INTO v_figures FROM _ao_needed_sums() n(f, w);
    -- Each window is a range of buckets [lo, hi]. A figure is summed once per segment: the fewest
    -- bucket ranges its own windows are made of (a figure no window splits at 48 h gets no 48 h sum);
    -- a window's sum adds up its segments.
    WITH windows AS (
        SELECT n.f, n.w, r.lo, r.hi
          FROM _ao_needed_sums() n(f, w)
          CROSS JOIN LATERAL (SELECT CASE n.w WHEN 'prev_7d' THEN array_position(v_cutoffs, v_now - interval '7 days') + 1
                                              ELSE 1 END AS lo,
                                     array_position(v_cutoffs, v_now - CASE n.w
                                         WHEN 'last_24h' THEN interval '24 hours' WHEN 'last_48h' THEN interval '48 hours'
                                         WHEN 'last_7d' THEN interval '7 days' WHEN 'prev_7d' THEN interval '14 days'
                                         WHEN 'last_14d' THEN interval '14 days' ELSE interval '30 days' END) AS hi) r
    ), starts AS (  -- a figure's segments start where one of its windows starts, or after one ends
        SELECT f, lo AS b FROM windows UNION SELECT f, hi + 1 FROM windows
    ), segments AS (
        SELECT f, b AS lo, lead(b) OVER (PARTITION BY f ORDER BY b) - 1 AS hi FROM starts
    ), used AS (
        SELECT s.f, s.lo, s.hi FROM segments s
         WHERE EXISTS (SELECT 1 FROM windows w WHERE w.f = s.f AND s.lo >= w.lo AND s.hi <= w.hi)
    )
    SELECT (SELECT string_agg(format('sum(m.%1$s) FILTER (WHERE m.k %4$s) AS %1$s_b%2$s_%3$s', u.f, u.lo, u.hi,
                                     CASE WHEN u.lo = u.hi THEN format('= %s', u.lo)
                                          ELSE format('BETWEEN %s AND %s', u.lo, u.hi) END), ', ' ORDER BY u.f, u.lo)
              FROM used u),
           (SELECT string_agg(format('%s AS %s_%s',
                      (SELECT string_agg(format('coalesce(a.%s_b%s_%s, 0)', u.f, u.lo, u.hi), ' + ' ORDER BY u.lo)
                         FROM used u WHERE u.f = w.f AND u.lo >= w.lo AND u.hi <= w.hi), w.f, w.w), ', '
                             ORDER BY w.f, w.w)
              FROM windows w),
           -- conversions and revenue as reported, beside the matured figures the young days' adjustment makes
           (SELECT string_agg(format('%s AS %s_%s_reported',
                      (SELECT string_agg(format('coalesce(a.%s_b%s_%s, 0)', u.f, u.lo, u.hi), ' + ' ORDER BY u.lo)
                         FROM used u WHERE u.f = w.f AND u.lo >= w.lo AND u.hi <= w.hi), w.f, w.w), ', '
                             ORDER BY w.f, w.w)
              FROM windows w WHERE w.f IN ('conversions', 'revenue'))
      INTO v_sums, v_columns, v_reported;
    -- The window sums of one set of campaigns: all, the scoped ones, or one half of them by id (the
    -- half's condition is the one %s left for a second format).
    v_rows := format('SELECT m.campaign_id, %s FROM (SELECT m.campaign_id, %s AS k, %s FROM campaign_metrics m
                       WHERE m.period_end > %L::timestamptz %s %s %%s) m GROUP BY m.campaign_id',
                     v_sums, v_bucket, v_figures, v_cutoffs[cardinality(v_cutoffs)],
                     CASE WHEN p_campaign_ids IS NOT NULL THEN 'AND m.campaign_id = ANY ($1)' ELSE '' END
                     || CASE WHEN v_account IS NOT NULL THEN format(' AND m.account_id = %L::uuid', v_account) ELSE '' END,
                     CASE WHEN v_as_of IS NOT NULL THEN format('AND m.period_end <= %L::timestamptz', v_as_of) ELSE '' END);
    -- The whole portfolio is summed in two halves by campaign id, each by one parallel worker (when the
    -- server has workers): one parallel plan over the whole table would sum every campaign in every
    -- worker and then merge the partial sums, which costs as much as the sums themselves. The halves are
    -- planned apart from the join (a materialized CTE), where the planner gives each half to a worker. A
    -- half is sorted by id into a group aggregate (a hash aggregate of numeric sums spills at the default
    -- work_mem and runs slower; no gather merge: each half whole in one worker) and reads the table, or
    -- the period_end index's range (rows arrive oldest first), in physical order. Reading the primary key
    -- in id order instead would save the sort but visit the heap at random once per row: with
    -- random_page_cost at 20 the planner prices that visit as what it costs when the table is not all in
    -- memory.
    IF p_campaign_ids IS NULL AND current_setting('max_parallel_workers_per_gather')::int > 0 THEN
        v_rows := format(v_rows, $h$AND m.campaign_id < '80000000-0000-0000-0000-000000000000'$h$)
                  || ' UNION ALL '
                  || format(v_rows, $h$AND m.campaign_id >= '80000000-0000-0000-0000-000000000000'$h$);
    ELSE
        v_rows := format(v_rows, '');
    END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE _ao_stats ON COMMIT DROP AS
        WITH a AS MATERIALIZED (%1$s)
        SELECT c.id AS campaign_id, c.account_id, acct.currency, c.title, c.external_id, c.daily_budget, c.max_budget,
               round(greatest(extract(epoch FROM %4$L::timestamptz - coalesce(c.started_at, %4$L::timestamptz)) / 3600.0, 0), 4)
                   AS hours_running,
               c.impressions::numeric AS impressions_lifetime, c.reach::numeric AS reach_lifetime,
               c.clicks::numeric AS clicks_lifetime, c.conversions::numeric AS conversions_lifetime,
               c.spend AS spend_lifetime, c.revenue AS revenue_lifetime, %2$s,
               c.conversions::numeric AS conversions_lifetime_reported, c.revenue AS revenue_lifetime_reported%6$s,
               false AS paused_in_cycle
        FROM %3$I c
        LEFT JOIN a ON a.campaign_id = c.id
        LEFT JOIN ad_accounts acct ON acct.id = c.account_id
        WHERE c.status = 'active' %5$s
    $q$, v_rows, v_columns, ao_state_table('campaigns'), v_now,
         CASE WHEN p_campaign_ids IS NOT NULL THEN 'AND c.id = ANY ($1)' ELSE '' END
         || CASE WHEN v_account IS NOT NULL THEN format(' AND c.account_id = %L::uuid', v_account) ELSE '' END,
         CASE WHEN v_reported IS NOT NULL THEN ', ' || v_reported ELSE '' END)
    USING p_campaign_ids;
    -- Young days of connected accounts read as what they will show: each day's conversions and revenue
    -- divided by its account's F(age) (sql/functions/26_maturity.sql), added to every window that holds
    -- it and to the lifetime totals; the reported figures stay beside them (the confidence's sample).
    -- In a backtest's replay a day reads as its syncs knew it at the replayed moment (its last revision
    -- seen by then; spend as stored), both as reported and, divided by F, as it would show. Manual
    -- accounts read as reported.
    IF EXISTS (SELECT 1 FROM ad_accounts WHERE platform <> 'manual') THEN
        WITH n AS (
            SELECT f, w FROM _ao_needed_sums() n(f, w) WHERE f IN ('conversions', 'revenue')
            UNION SELECT f, 'lifetime' FROM unnest(ARRAY['conversions', 'revenue']) f
        ), edges AS (
            SELECT n.*, CASE n.w
                WHEN 'lifetime' THEN ''
                WHEN 'prev_7d' THEN format('FILTER (WHERE y.period_end > %L::timestamptz AND y.period_end <= %L::timestamptz)',
                                           v_now - interval '14 days', v_now - interval '7 days')
                ELSE format('FILTER (WHERE y.period_end > %L::timestamptz)',
                            v_now - CASE n.w WHEN 'last_24h' THEN interval '24 hours' WHEN 'last_48h' THEN interval '48 hours'
                                             WHEN 'last_7d' THEN interval '7 days' WHEN 'last_14d' THEN interval '14 days'
                                             ELSE interval '30 days' END) END AS filter
              FROM n
        )
        SELECT string_agg(format('%1$s_%2$s = s.%1$s_%2$s + coalesce(y.%1$s_%2$s, 0), '
                                 '%1$s_%2$s_reported = s.%1$s_%2$s_reported + coalesce(y.%1$s_%2$s_r, 0)', f, w), ', '),
               string_agg(format('sum(y.add_%1$s) %3$s AS %1$s_%2$s, sum(y.seen_%1$s) %3$s AS %1$s_%2$s_r', f, w, filter), ', ')
          INTO v_matured, v_young
          FROM edges;
        EXECUTE format($q$
            UPDATE _ao_stats s SET %1$s
              FROM (SELECT y.campaign_id, %2$s
                      FROM (SELECT m.campaign_id, m.period_end,
                                   k.conversions - m.conversions AS seen_conversions,
                                   k.revenue - m.revenue AS seen_revenue,
                                   k.conversions / f.conversions - m.conversions AS add_conversions,
                                   k.revenue / f.revenue - m.revenue AS add_revenue
                              FROM campaign_metrics m
                              JOIN _ao_stats st ON st.campaign_id = m.campaign_id
                              JOIN ao_maturity_curves() mc ON mc.account_id = m.account_id
                              CROSS JOIN LATERAL (
                                  SELECT greatest(floor(extract(epoch FROM %3$L::timestamptz - m.period_end) / 86400), 0)::int + 1 AS i) age
                              CROSS JOIN LATERAL (
                                  SELECT mc.conversions[least(age.i, cardinality(mc.conversions))] AS conversions,
                                         mc.revenue[least(age.i, cardinality(mc.revenue))] AS revenue) f
                              %4$s
                             WHERE m.period_end > %3$L::timestamptz - make_interval(days => %6$s) %5$s) y
                     GROUP BY y.campaign_id) y
             WHERE s.campaign_id = y.campaign_id
        $q$, v_matured, v_young, v_now,
             CASE WHEN ao_replaying()
                  THEN $k$CROSS JOIN LATERAL (
                          SELECT coalesce(r.conversions, m.conversions)::numeric AS conversions, coalesce(r.revenue, m.revenue) AS revenue
                            FROM (SELECT 1) one
                            LEFT JOIN LATERAL (SELECT r.conversions, r.revenue FROM metric_revisions r
                                                WHERE r.campaign_id = m.campaign_id AND r.account_id = m.account_id
                                                  AND r.period_start = m.period_start
                                                  AND r.observed_at <= ao_now()
                                                ORDER BY r.observed_at DESC LIMIT 1) r ON true) k$k$
                  ELSE 'CROSS JOIN LATERAL (SELECT m.conversions::numeric AS conversions, m.revenue) k' END,
             CASE WHEN ao_replaying() THEN format('AND m.period_end <= %L::timestamptz', v_now)
                  ELSE 'AND (f.conversions < 1 OR f.revenue < 1)' END,
             -- the days a curve still reads as young (a replay: what syncs can still revise, 28 days)
             CASE WHEN ao_replaying() THEN 28
                  ELSE (SELECT coalesce(max(greatest(cardinality(mc.conversions), cardinality(mc.revenue))), 1)
                          FROM ao_maturity_curves() mc) END);
    END IF;
    -- Each step plans its joins on what a work table really holds, never on a guess.
    ANALYZE _ao_stats (campaign_id);
END;
$$;
COMMENT ON FUNCTION _ao_prepare_stats(uuid[]) IS
    'Reads the metrics once per cycle (or, given campaign ids, for those campaigns only; in a cycle of one account, its campaigns only) into a transaction-local table (lifetime totals plus the window sums the rules and detectors need) that every rule query and detector then scans; conversions and revenue of connected accounts'' young days read as what they will show (reported ÷ F(age)), the reported figures beside them.';
