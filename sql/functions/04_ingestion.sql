-- 04_ingestion.sql: metric rows in, set-based and all or nothing. A batch is checked (bounds, known
-- campaigns, one row per campaign and period) before it is written, and the lifetime totals of the
-- campaigns it touches are recomputed from the facts, so re-sending a period never double-counts.

CREATE OR REPLACE FUNCTION _ao_metric_row_out_of_bounds(p_rows jsonb, OUT idx bigint, OUT field text)
LANGUAGE sql STABLE AS $$
    SELECT x.idx, x.field
      FROM (SELECT r.idx - 1 AS idx,
                   CASE WHEN r.period_start IS NULL OR r.period_start < '2000-01-01T00:00:00Z'
                             OR r.period_start > now() + interval '1 day' THEN 'period_start'
                        WHEN r.period_end - r.period_start <= interval '1 hour'
                             AND r.period_start < ao_hourly_kept_from(now(), (SELECT hourly_retention_days FROM autonomous_settings))
                             THEN 'hour'
                        WHEN r.period_end IS NULL OR r.period_end <= r.period_start THEN 'period_end'
                        WHEN NOT ao_is_count(coalesce(r.impressions, 0)) THEN 'impressions'
                        WHEN NOT ao_is_count(r.reach) THEN 'reach'
                        WHEN NOT ao_is_count(coalesce(r.clicks, 0)) THEN 'clicks'
                        WHEN NOT ao_is_count(coalesce(r.conversions, 0)) THEN 'conversions'
                        WHEN NOT ao_is_money(coalesce(r.spend, 0)) THEN 'spend'
                        WHEN NOT ao_is_money(coalesce(r.revenue, 0)) THEN 'revenue' END AS field
              FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (
                       period_start timestamptz, period_end timestamptz, impressions numeric, reach numeric,
                       clicks numeric, conversions numeric, spend numeric, revenue numeric))
                   WITH ORDINALITY AS r(period_start, period_end, impressions, reach, clicks, conversions,
                                        spend, revenue, idx)) x
     WHERE x.field IS NOT NULL
     ORDER BY x.idx
     LIMIT 1
$$;
COMMENT ON FUNCTION _ao_metric_row_out_of_bounds(jsonb) IS
    'Finds the first metric row of a batch whose period or numbers are out of bounds (docs/api.md, "Bounds"), and the field, before anything is written (hour: a period_start that is an hour older than the hourly retention).';

CREATE OR REPLACE FUNCTION _ao_metric_row_campaigns(p_rows jsonb)
RETURNS TABLE (idx bigint, campaign_id uuid, account_id uuid)
-- PL/pgSQL: a database split by account (Citus) plans no SQL function with parameters over its tables
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT r.idx - 1, coalesce(c1.id, c2.id), coalesce(c1.account_id, c2.account_id)
      FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text, account_id uuid))
           WITH ORDINALITY AS r(campaign_id, external_id, account_id, idx)
      LEFT JOIN campaigns c1 ON c1.id = r.campaign_id
      LEFT JOIN campaigns c2 ON r.campaign_id IS NULL AND c2.external_id = r.external_id
                            AND c2.account_id = coalesce(r.account_id, (SELECT ao_manual_account_id()));
END;
$$;
COMMENT ON FUNCTION _ao_metric_row_campaigns(jsonb) IS
    'Resolves each metric row of a batch to its campaign (and the campaign''s account), by campaign_id or else by external_id within the row''s account_id (the manual account when none is named); NULL when no campaign matches.';

CREATE OR REPLACE FUNCTION _ao_upsert_metric_rows(p_rows jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint;
    v_bad_index bigint;
BEGIN
    WITH upserted AS (
        INSERT INTO campaign_metrics AS m
            (campaign_id, account_id, period_start, period_end, impressions, reach, clicks, conversions, spend, revenue,
             updated_at)
        SELECT c.campaign_id, c.account_id, i.period_start, i.period_end, coalesce(i.impressions, 0), i.reach,
               coalesce(i.clicks, 0), coalesce(i.conversions, 0), coalesce(i.spend, 0), coalesce(i.revenue, 0), now()
          FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (
                   period_start timestamptz, period_end timestamptz, impressions bigint, reach bigint,
                   clicks bigint, conversions bigint, spend numeric, revenue numeric))
               WITH ORDINALITY AS i(period_start, period_end, impressions, reach, clicks, conversions,
                                    spend, revenue, idx)
          JOIN _ao_metric_row_campaigns(p_rows) c ON c.idx = i.idx - 1
        ON CONFLICT ON CONSTRAINT campaign_metrics_pkey DO UPDATE
           SET period_end = EXCLUDED.period_end, impressions = EXCLUDED.impressions,
               reach = EXCLUDED.reach, clicks = EXCLUDED.clicks, conversions = EXCLUDED.conversions,
               spend = EXCLUDED.spend, revenue = EXCLUDED.revenue, updated_at = EXCLUDED.updated_at
        RETURNING 1
    )
    SELECT count(*) INTO v_count FROM upserted;
    RETURN v_count;
EXCEPTION WHEN cardinality_violation THEN
    SELECT min(d.idx) INTO v_bad_index
      FROM (SELECT c.idx, row_number() OVER (PARTITION BY c.campaign_id, r.period_start ORDER BY c.idx) AS n
              FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (period_start timestamptz))
                   WITH ORDINALITY AS r(period_start, idx)
              JOIN _ao_metric_row_campaigns(p_rows) c ON c.idx = r.idx - 1) d
     WHERE d.n > 1;
    PERFORM ao_raise_422(format('rows[%s].period_start', v_bad_index),
                         'duplicate of an earlier row for the same campaign and period_start');
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION _ao_upsert_metric_rows(jsonb) IS
    'Writes a batch of metric rows, one per campaign and period_start (a re-sent period replaces the old row); refuses the same campaign and period_start twice in one batch (AO422 naming the second row).';

CREATE OR REPLACE FUNCTION _ao_recompute_totals(p_ids uuid[], p_rows jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_bad_index bigint;
BEGIN
    UPDATE campaigns c
       SET impressions = s.impressions, reach = s.reach, clicks = s.clicks,
           conversions = s.conversions, spend = s.spend, revenue = s.revenue
      FROM (SELECT campaign_id, sum(impressions) AS impressions, coalesce(sum(reach), 0) AS reach,
                   sum(clicks) AS clicks, sum(conversions) AS conversions,
                   sum(spend) AS spend, sum(revenue) AS revenue
              FROM campaign_metrics
             WHERE campaign_id = ANY (p_ids)
             GROUP BY campaign_id) s
     WHERE c.id = s.campaign_id;
EXCEPTION WHEN numeric_value_out_of_range THEN
    -- Only this rare path pays for finding the campaign whose total overflows.
    SELECT min(c.idx) INTO v_bad_index
      FROM _ao_metric_row_campaigns(p_rows) c
      JOIN (SELECT campaign_id FROM campaign_metrics WHERE campaign_id = ANY (p_ids) GROUP BY campaign_id
            HAVING sum(impressions) > 9223372036854775807 OR sum(reach) > 9223372036854775807
                OR sum(clicks) > 9223372036854775807 OR sum(conversions) > 9223372036854775807
                OR sum(spend) >= 1e12 OR sum(revenue) >= 1e12) t ON t.campaign_id = c.campaign_id;
    PERFORM ao_raise_422(format('rows[%s]', v_bad_index),
        'would take the campaign''s lifetime totals past their bounds (counts within bigint, money < 1000000000000)');
END;
$$;
COMMENT ON FUNCTION _ao_recompute_totals(uuid[], jsonb) IS
    'Keeps a campaign''s lifetime totals equal to the sums of its metric rows; refuses (AO422 naming the row) a batch that would take them past their bounds.';

CREATE OR REPLACE FUNCTION ingest_campaign_metrics(p_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_bad record;
    v_ids uuid[];
    v_count bigint;
BEGIN
    IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
        PERFORM ao_raise_422('rows', 'must be an array');
    END IF;
    SELECT * INTO v_bad FROM _ao_metric_row_out_of_bounds(p_rows);
    IF v_bad.field IS NOT NULL THEN
        PERFORM ao_raise_422(format('rows[%s].%s', v_bad.idx, CASE v_bad.field WHEN 'hour' THEN 'period_start' ELSE v_bad.field END),
            CASE v_bad.field
                WHEN 'period_start' THEN 'is required, from 2000-01-01 and at most a day from now'
                WHEN 'hour' THEN format('is an hour before %s: hours older than hourly_retention_days (%s days) are kept as days only; send the day',
                                        to_char(ao_hourly_kept_from(now(), (SELECT hourly_retention_days FROM autonomous_settings)) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                                        (SELECT hourly_retention_days FROM autonomous_settings))
                WHEN 'period_end' THEN 'is required and must be after period_start'
                WHEN 'spend' THEN 'must be a number >= 0 and < 1000000000000'
                WHEN 'revenue' THEN 'must be a number >= 0 and < 1000000000000'
                ELSE 'must be a whole number from 0 to 9007199254740991' END);
    END IF;
    SELECT min(idx) FILTER (WHERE campaign_id IS NULL),
           array_agg(DISTINCT campaign_id) FILTER (WHERE campaign_id IS NOT NULL)
      INTO v_bad.idx, v_ids
      FROM _ao_metric_row_campaigns(p_rows);
    IF v_bad.idx IS NOT NULL THEN
        PERFORM ao_raise_422(format('rows[%s].campaign_id', v_bad.idx),
                             'no campaign has this campaign_id, nor this external_id in the account named (the manual account when none is)');
    END IF;
    -- Concurrent batches for one campaign serialize on it (a fixed order), so its totals stay exact;
    -- a running cycle that merely refers to the campaign (its audit rows, its opportunities) does not
    -- hold the batch up (NO KEY UPDATE).
    PERFORM _ao_lock_campaigns(v_ids);
    PERFORM ao_make_metric_partitions(ARRAY(SELECT DISTINCT date_trunc('month', r.period_start)
                                              FROM jsonb_to_recordset(p_rows) AS r(period_start timestamptz)));
    v_count := _ao_upsert_metric_rows(p_rows);
    PERFORM _ao_recompute_totals(v_ids, p_rows);
    PERFORM _ao_queue_for_triggers(v_ids);
    RETURN jsonb_build_object('rows', v_count, 'campaigns', coalesce(cardinality(v_ids), 0));
END;
$$;
COMMENT ON FUNCTION ingest_campaign_metrics(jsonb) IS
    'Upserts a batch of metric rows (one per campaign and period_start; a re-sent period replaces the old row), making the monthly partitions they need, recomputes the lifetime totals of the campaigns touched and queues them for the trigger rules. All or nothing: a value out of bounds, a period_start before 2000 or more than a day ahead, an hour older than the hourly retention, an unknown campaign, a duplicated period or totals that would overflow reject the batch with AO422 naming the row index.';

CREATE OR REPLACE FUNCTION campaign_metrics_guard_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ao.folding_hours', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'campaign_metrics: DELETE is not allowed'
            USING ERRCODE = 'restrict_violation', HINT = 'nothing is deleted: a re-sent period replaces its row';
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION campaign_metrics_guard_delete() IS
    'Refuses a DELETE of metric rows, except the hours of a day that its daily row replaces: those of a synced day (record_ad_account_sync, their sum kept in metric_revisions) and those a roll-up moved into a day (ao_roll_up_metrics); each sets ao.folding_hours for that one statement.';
