-- 022_metric_partitions.sql: campaign_metrics range-partitioned by period_start, one partition per UTC
-- month (campaign_metrics_pYYYY_MM), so that a window's read prunes to the months it spans and old hours
-- are rolled up by replacing their month's partition whole (sql/functions/03_metric_partitions.sql).
-- Every row is copied into the partitions and counted; the old table is then dropped. The months made
-- here: those the rows are in, and from last month to two months ahead (the worker keeps that lead).

ALTER TABLE autonomous_settings
    ADD COLUMN hourly_retention_days integer NOT NULL DEFAULT 90,
    ADD CONSTRAINT autonomous_settings_hourly_retention_days_check CHECK (hourly_retention_days BETWEEN 30 AND 36500);
COMMENT ON CONSTRAINT autonomous_settings_hourly_retention_days_check ON autonomous_settings IS
    '{"field": "hourly_retention_days", "message": "must be a whole number of days from 30 (the longest window the rules read) to 36500"}';

ALTER TABLE campaign_metrics RENAME TO campaign_metrics_unpartitioned;
ALTER INDEX campaign_metrics_pkey RENAME TO campaign_metrics_unpartitioned_pkey;
ALTER INDEX campaign_metrics_hourly_idx RENAME TO campaign_metrics_unpartitioned_hourly_idx;
ALTER INDEX campaign_metrics_period_end_idx RENAME TO campaign_metrics_unpartitioned_period_end_idx;
ALTER INDEX campaign_metrics_period_idx RENAME TO campaign_metrics_unpartitioned_period_idx;

CREATE TABLE campaign_metrics (
    campaign_id  uuid NOT NULL,
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    impressions  bigint NOT NULL DEFAULT 0,
    reach        bigint,
    clicks       bigint NOT NULL DEFAULT 0,
    conversions  bigint NOT NULL DEFAULT 0,
    spend        numeric(16,4) NOT NULL DEFAULT 0,
    revenue      numeric(16,4) NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_metrics_pkey PRIMARY KEY (campaign_id, period_start),
    CONSTRAINT campaign_metrics_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns(id) ON DELETE RESTRICT,
    CONSTRAINT campaign_metrics_period_check CHECK (period_end > period_start),
    CONSTRAINT campaign_metrics_counts_check CHECK (ao_is_count(impressions) AND ao_is_count(reach)
                                                    AND ao_is_count(clicks) AND ao_is_count(conversions)),
    CONSTRAINT campaign_metrics_money_check CHECK (ao_is_money(spend) AND ao_is_money(revenue))
) PARTITION BY RANGE (period_start);
COMMENT ON CONSTRAINT campaign_metrics_period_check ON campaign_metrics IS
    '{"field": "period_end", "message": "must be after period_start"}';
COMMENT ON CONSTRAINT campaign_metrics_counts_check ON campaign_metrics IS
    '{"field": "rows", "message": "counts must be whole numbers from 0 to 9007199254740991"}';
COMMENT ON CONSTRAINT campaign_metrics_money_check ON campaign_metrics IS
    '{"field": "rows", "message": "spend and revenue must be >= 0 and < 1000000000000"}';
CREATE INDEX campaign_metrics_hourly_idx ON campaign_metrics (period_start)
    WHERE period_end - period_start <= interval '1 hour';
CREATE INDEX campaign_metrics_period_end_idx ON campaign_metrics (period_end);
CREATE INDEX campaign_metrics_period_idx ON campaign_metrics (period_start);

-- A partition is read through its parent only: row-level security on, no policy, nothing granted.
DO $$
DECLARE
    v_month timestamp;
    v_name text;
BEGIN
    FOR v_month IN
        SELECT DISTINCT date_trunc('month', period_start AT TIME ZONE 'UTC') FROM campaign_metrics_unpartitioned
        UNION
        SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month',
                               date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months', interval '1 month')
    LOOP
        v_name := 'campaign_metrics_p' || to_char(v_month, 'YYYY_MM');
        EXECUTE format('CREATE TABLE %I PARTITION OF campaign_metrics FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_month AT TIME ZONE 'UTC', (v_month + interval '1 month') AT TIME ZONE 'UTC');
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', v_name);
    END LOOP;
END;
$$;

INSERT INTO campaign_metrics SELECT * FROM campaign_metrics_unpartitioned;
DO $$
BEGIN
    IF (SELECT count(*) FROM campaign_metrics) <> (SELECT count(*) FROM campaign_metrics_unpartitioned) THEN
        RAISE EXCEPTION 'campaign_metrics: the partitions do not hold every row of the old table';
    END IF;
END;
$$;
DROP TABLE campaign_metrics_unpartitioned;

ALTER TABLE campaign_metrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY campaign_metrics_privileged ON campaign_metrics FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
CREATE POLICY campaign_metrics_scoped ON campaign_metrics FOR SELECT TO ao_app
    USING ((SELECT app_auth.account_scope()) IS NOT NULL
           AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.account_id = ANY ((SELECT app_auth.account_scope())::uuid[])));
GRANT SELECT, INSERT, UPDATE, DELETE ON campaign_metrics TO ao_app;
CREATE TRIGGER campaign_metrics_guard_delete BEFORE DELETE ON campaign_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_metrics_guard_delete();
ALTER TABLE campaign_metrics ENABLE ALWAYS TRIGGER campaign_metrics_guard_delete;
CREATE TRIGGER campaign_metrics_no_truncate BEFORE TRUNCATE ON campaign_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
ALTER TABLE campaign_metrics ENABLE ALWAYS TRIGGER campaign_metrics_no_truncate;

-- What each roll-up did: the month, the hours it read and the days it wrote, with their totals (equal).
CREATE TABLE metric_rollups (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month         date NOT NULL,
    rolled_at     timestamptz NOT NULL DEFAULT now(),
    retention_days integer NOT NULL,
    hours         bigint NOT NULL,
    days          bigint NOT NULL,
    impressions   numeric NOT NULL,
    clicks        numeric NOT NULL,
    conversions   numeric NOT NULL,
    spend         numeric NOT NULL,
    revenue       numeric NOT NULL
);
CREATE TRIGGER metric_rollups_append_only BEFORE UPDATE OR DELETE ON metric_rollups
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('UPDATE or DELETE');
CREATE TRIGGER metric_rollups_no_truncate BEFORE TRUNCATE ON metric_rollups
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
ALTER TABLE metric_rollups ENABLE ROW LEVEL SECURITY;
CREATE POLICY metric_rollups_privileged ON metric_rollups FOR SELECT TO ao_app
    USING ((SELECT app_auth.is_privileged()));
GRANT SELECT ON metric_rollups TO ao_app;
