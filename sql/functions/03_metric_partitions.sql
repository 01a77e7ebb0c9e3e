-- 03_metric_partitions.sql: the months of campaign_metrics. The table is range-partitioned by
-- period_start, one partition per UTC month (campaign_metrics_pYYYY_MM). The worker makes them two months
-- ahead and ingestion makes those its rows need. Hours older than hourly_retention_days are rolled up
-- into one row per campaign and day of its account's time zone, and each month they touch is replaced
-- whole by a partition holding the days: no row is deleted from a partition that stays, and every sum
-- is kept (a cycle's windows, a campaign's lifetime totals and a day's figures are what they were).

CREATE OR REPLACE FUNCTION ao_metric_partition(p_month timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'campaign_metrics_p' || to_char(date_trunc('month', p_month AT TIME ZONE 'UTC'), 'YYYY_MM')
$$;
COMMENT ON FUNCTION ao_metric_partition(timestamptz) IS
    'The name of the partition of campaign_metrics that holds the periods starting in this UTC month.';

-- A partition is read through its parent only: row-level security on, no policy, nothing granted.
CREATE OR REPLACE FUNCTION _ao_attach_metric_month(p_table text, p_month timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE campaign_metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   p_table, p_month, p_month + interval '1 month');
END;
$$;
COMMENT ON FUNCTION _ao_attach_metric_month(text, timestamptz) IS
    'Attaches a table as the partition of campaign_metrics for the UTC month starting at p_month, with row-level security on and nothing granted.';

-- As the owner: a partition is a table of the owner's, whoever's rows needed it.
CREATE OR REPLACE FUNCTION ao_make_metric_partitions(p_months timestamptz[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_month timestamp;
    v_name text;
    v_made integer := 0;
BEGIN
    FOR v_month IN SELECT DISTINCT date_trunc('month', m AT TIME ZONE 'UTC') FROM unnest(p_months) m
                    WHERE m IS NOT NULL ORDER BY 1 LOOP
        v_name := ao_metric_partition(v_month AT TIME ZONE 'UTC');
        CONTINUE WHEN to_regclass(v_name) IS NOT NULL;
        -- two batches needing the same new month: the second waits here for the first (the mode
        -- conflicts with itself, not with readers and writers) and, the lock taken, sees it made
        LOCK TABLE campaign_metrics IN SHARE UPDATE EXCLUSIVE MODE;
        CONTINUE WHEN to_regclass(v_name) IS NOT NULL;
        -- made apart and attached: attaching locks the parent less than CREATE ... PARTITION OF
        EXECUTE format('CREATE TABLE %I (LIKE campaign_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
        PERFORM _ao_attach_metric_month(v_name, v_month AT TIME ZONE 'UTC');
        v_made := v_made + 1;
    END LOOP;
    RETURN v_made;
END;
$$;
COMMENT ON FUNCTION ao_make_metric_partitions(timestamptz[]) IS
    'Makes the partitions of campaign_metrics for these UTC months that do not exist yet; returns how many it made.';

CREATE OR REPLACE FUNCTION ao_metric_partitions()
RETURNS TABLE (name text, month date, rows_estimate bigint, hourly boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           (substring(c.relname FROM '_p(\d{4}_\d{2})$') || '_01')::date,
           greatest(c.reltuples, 0)::bigint,
           EXISTS (SELECT 1 FROM campaign_metrics m
                    WHERE m.period_start >= (substring(c.relname FROM '_p(\d{4}_\d{2})$') || '_01')::date::timestamp AT TIME ZONE 'UTC'
                      AND m.period_start < ((substring(c.relname FROM '_p(\d{4}_\d{2})$') || '_01')::date + interval '1 month') AT TIME ZONE 'UTC'
                      AND m.period_end - m.period_start <= interval '1 hour')
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'campaign_metrics'::regclass
     ORDER BY 2
$$;
COMMENT ON FUNCTION ao_metric_partitions() IS
    'The partitions of campaign_metrics: name, UTC month, the planner''s row estimate, and whether it still holds hourly rows.';

-- The first moment whose hours are kept: the start of the UTC month in which falls the day 2 days before
-- the retention edge. Every day of any time zone that starts before it has ended by the edge, and the
-- edge is at least 30 days back, so no window a cycle reads (30 days at most) sees a rolled-up day.
CREATE OR REPLACE FUNCTION ao_hourly_kept_from(p_now timestamptz, p_retention_days integer) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('month', (p_now - make_interval(days => p_retention_days + 2)) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
COMMENT ON FUNCTION ao_hourly_kept_from(timestamptz, integer) IS
    'From when hourly metric rows are kept, for a retention in days at a moment: a UTC month start at least retention + 2 days back.';

-- An hourly replay reads the hours of its longest window (30 days) before its first step; a retention
-- shorter than that would have rolled them up.
CREATE OR REPLACE FUNCTION ao_hourly_retention_needed(p_from timestamptz, p_now timestamptz DEFAULT now()) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT greatest(30, ceil(extract(epoch FROM p_now - (p_from - interval '30 days')) / 86400)::integer - 1)
$$;
COMMENT ON FUNCTION ao_hourly_retention_needed(timestamptz, timestamptz) IS
    'The hourly_retention_days an hourly backtest from p_from needs: its hours from 30 days (the longest window) before it must not be rolled up.';

-- The hours of every day (of its account's zone) that starts before the kept edge become one row for
-- the day: the sums of its hours, from its first hour's start to its last hour's end. Each month those
-- days start in, or their hours were in, is rebuilt: its rows that are not hours, and its days. The few hours of such a day that fall in the first
-- month kept (zones behind UTC) are deleted from it, their sums being in the day. Holds a lock so that
-- two workers never roll up at once, waits at most lock_timeout for readers of the table, and checks
-- that the days hold exactly what the hours held before it commits.
CREATE OR REPLACE FUNCTION ao_roll_up_metrics(p_now timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '30s' AS $$
DECLARE
    v_retention integer := (SELECT hourly_retention_days FROM autonomous_settings);
    v_kept timestamptz := ao_hourly_kept_from(p_now, v_retention);
    v_month timestamptz;
    v_name text;
    v_new text;
    v_hours bigint;
    v_days bigint;
    v_months date[] := '{}';
    v_unequal text;
    c_sums CONSTANT text := 'count(*) AS n, coalesce(sum(impressions), 0) AS impressions, coalesce(sum(reach), 0) AS reach, '
        'coalesce(sum(clicks), 0) AS clicks, coalesce(sum(conversions), 0) AS conversions, '
        'coalesce(sum(spend), 0) AS spend, coalesce(sum(revenue), 0) AS revenue';
BEGIN
    IF NOT pg_try_advisory_xact_lock(ao_lock_key('metric roll-up')) THEN
        RETURN jsonb_build_object('rolled_up', '[]'::jsonb, 'busy', true, 'kept_from', v_kept);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM campaign_metrics
                    WHERE period_start < v_kept + interval '1 day' AND period_end - period_start <= interval '1 hour') THEN
        RETURN jsonb_build_object('rolled_up', '[]'::jsonb, 'busy', false, 'kept_from', v_kept);
    END IF;
    PERFORM _ao_drop_work_table('_ao_rollup_hours');
    CREATE TEMP TABLE _ao_rollup_hours ON COMMIT DROP AS
    SELECT m.campaign_id, m.account_id, m.period_start, m.period_end, m.impressions, m.reach, m.clicks,
           m.conversions, m.spend, m.revenue, m.updated_at,
           date_trunc('day', m.period_start AT TIME ZONE a.timezone) AT TIME ZONE a.timezone AS day_start
      FROM campaign_metrics m
      JOIN ad_accounts a ON a.id = m.account_id
     WHERE m.period_start < v_kept + interval '1 day' AND m.period_end - m.period_start <= interval '1 hour';
    DELETE FROM _ao_rollup_hours WHERE day_start >= v_kept;
    IF NOT EXISTS (SELECT 1 FROM _ao_rollup_hours) THEN
        RETURN jsonb_build_object('rolled_up', '[]'::jsonb, 'busy', false, 'kept_from', v_kept);
    END IF;
    PERFORM _ao_drop_work_table('_ao_rollup_days');
    CREATE TEMP TABLE _ao_rollup_days ON COMMIT DROP AS
    SELECT campaign_id, account_id, min(period_start) AS period_start, max(period_end) AS period_end,
           sum(impressions) AS impressions, sum(reach) AS reach, sum(clicks) AS clicks,
           sum(conversions) AS conversions, sum(spend) AS spend, sum(revenue) AS revenue,
           max(updated_at) AS updated_at, count(*) AS hours
      FROM _ao_rollup_hours
     GROUP BY campaign_id, account_id, day_start;
    ANALYZE _ao_rollup_hours;
    ANALYZE _ao_rollup_days;
    SELECT coalesce(sum(hours), 0), count(*) INTO v_hours, v_days FROM _ao_rollup_days;
    -- the sums of every month replaced and of the hours deleted, before and after
    PERFORM _ao_drop_work_table('_ao_rollup_sums');
    EXECUTE format('CREATE TEMP TABLE _ao_rollup_sums ON COMMIT DROP AS SELECT true AS before, %s
                      FROM _ao_rollup_hours WHERE period_start >= $1', c_sums) USING v_kept;

    FOR v_month IN SELECT date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                     FROM (SELECT period_start FROM _ao_rollup_hours WHERE period_start < v_kept
                           UNION SELECT period_start FROM _ao_rollup_days) x(t)
                    GROUP BY 1 ORDER BY 1 LOOP
        PERFORM ao_make_metric_partitions(ARRAY[v_month]);
        v_name := ao_metric_partition(v_month);
        v_new := v_name || '_rolled';
        -- no row may reach the month between its copy and its replacement
        EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', v_name);
        EXECUTE format('INSERT INTO _ao_rollup_sums SELECT true, %s FROM %I', c_sums, v_name);
        EXECUTE format('CREATE TABLE %I (LIKE campaign_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_new);
        -- the month's rows that are not hours, then its days (a day starts where its first hour did,
        -- so no other row starts there)
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE NOT (period_end - period_start <= interval ''1 hour'')',
                       v_new, v_name);
        EXECUTE format($q$
            INSERT INTO %I (campaign_id, account_id, period_start, period_end, impressions, reach, clicks,
                            conversions, spend, revenue, updated_at)
            SELECT campaign_id, account_id, period_start, period_end, impressions, reach, clicks, conversions,
                   spend, revenue, updated_at
              FROM _ao_rollup_days
             WHERE period_start >= $1 AND period_start < $1 + interval '1 month'
            $q$, v_new) USING v_month;
        EXECUTE format('INSERT INTO _ao_rollup_sums SELECT false, %s FROM %I', c_sums, v_new);
        EXECUTE format('ALTER TABLE campaign_metrics DETACH PARTITION %I', v_name);
        EXECUTE format('DROP TABLE %I', v_name);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', v_new, v_name);
        PERFORM _ao_attach_metric_month(v_name, v_month);
        EXECUTE format('ANALYZE %I', v_name);
        v_months := v_months || (v_month AT TIME ZONE 'UTC')::date;
    END LOOP;
    -- the hours, in the first month kept, of a day that started before it
    PERFORM set_config('ao.folding_hours', 'on', true);
    DELETE FROM campaign_metrics m
     USING _ao_rollup_hours h
     WHERE h.period_start >= v_kept AND m.campaign_id = h.campaign_id AND m.period_start = h.period_start;
    PERFORM set_config('ao.folding_hours', 'off', true);

    ANALYZE _ao_rollup_sums;
    SELECT string_agg(format('%s: before %s, after %s', f, b, a), '; ') INTO v_unequal
      FROM (SELECT f, sum(v) FILTER (WHERE before) AS b, sum(v) FILTER (WHERE NOT before) AS a
              FROM _ao_rollup_sums s,
                   LATERAL (VALUES ('impressions', s.impressions), ('reach', s.reach), ('clicks', s.clicks),
                                   ('conversions', s.conversions), ('spend', s.spend), ('revenue', s.revenue)) x(f, v)
             GROUP BY f) t
     WHERE a IS DISTINCT FROM b;
    IF v_unequal IS NOT NULL THEN
        RAISE EXCEPTION 'metric roll-up: the months replaced would not hold the same sums (%)', v_unequal;
    END IF;
    INSERT INTO metric_rollups (month, retention_days, hours, days, impressions, clicks, conversions, spend, revenue)
    SELECT date_trunc('month', d.period_start AT TIME ZONE 'UTC')::date, v_retention, sum(d.hours),
           count(*), sum(d.impressions), sum(d.clicks), sum(d.conversions), sum(d.spend), sum(d.revenue)
      FROM _ao_rollup_days d
     GROUP BY 1;
    RETURN jsonb_build_object('rolled_up', to_jsonb(v_months), 'busy', false, 'kept_from', v_kept,
                              'hours', v_hours, 'days', v_days);
END;
$$;
COMMENT ON FUNCTION ao_roll_up_metrics(timestamptz) IS
    'Rolls the hourly metric rows older than hourly_retention_days up into days of their account''s time zone, replacing each month touched by a partition that holds the days; checks the sums, records each month in metric_rollups; returns {rolled_up: [months], kept_from, hours, days, busy}.';

-- A roll-up that waited longer than its lock_timeout for the table is left to the next pass. Autovacuum
-- analyzes each partition but never the partitioned table itself, whose statistics the planner reads
-- for the table as a whole (joins, groupings): the pass analyzes it when it changed the months, and at
-- least once a day.
CREATE OR REPLACE FUNCTION ao_maintain_metric_partitions(p_now timestamptz DEFAULT now()) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_made integer;
    v_done jsonb;
    v_analyzed boolean;
BEGIN
    v_made := ao_make_metric_partitions(ARRAY(
        SELECT generate_series(p_now, p_now + interval '2 months', interval '1 month')));
    BEGIN
        v_done := ao_roll_up_metrics(p_now);
    EXCEPTION WHEN lock_not_available THEN  -- a long cycle held the table: the next pass tries again
        v_done := jsonb_build_object('rolled_up', '[]'::jsonb, 'busy', true,
                                     'kept_from', ao_hourly_kept_from(p_now, (SELECT hourly_retention_days FROM autonomous_settings)));
    END;
    v_analyzed := v_made > 0 OR jsonb_array_length(v_done -> 'rolled_up') > 0
                  OR coalesce((SELECT greatest(last_analyze, last_autoanalyze) FROM pg_stat_user_tables
                                WHERE relid = 'campaign_metrics'::regclass), '-infinity') < now() - interval '1 day';
    IF v_analyzed THEN
        ANALYZE campaign_metrics;
    END IF;
    RETURN jsonb_build_object('made', v_made, 'analyzed', v_analyzed) || v_done;
END;
$$;
COMMENT ON FUNCTION ao_maintain_metric_partitions(timestamptz) IS
    'The worker''s pass over campaign_metrics: the partitions of this month and the next two, the roll-up of the hours past retention, and the table''s statistics when the months changed or a day has passed; returns {made, analyzed, rolled_up, kept_from, …}.';
