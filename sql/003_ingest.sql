-- 003_ingest.sql: metric ingestion, set-based and all or nothing.
--
-- Errors raised for callers use SQLSTATEs of class AO, which the API maps to HTTP problems:
--   AO422 bad input (DETAIL: {"field": ..., "message": ...}), AO404 not found, AO409 conflict.

CREATE OR REPLACE FUNCTION ingest_campaign_metrics(p_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_ids        uuid[];
    v_bad_index  bigint;
    v_count      bigint;
BEGIN
    IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'rows must be an array' USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', 'rows', 'message', 'must be an array')::text;
    END IF;

    -- Resolve every row to a campaign (by id, else by external_id) and lock those campaigns in a
    -- fixed order, so that concurrent batches for one campaign serialize and its totals stay exact.
    WITH input AS (
        SELECT r.idx - 1 AS idx, r.campaign_id, r.external_id
        FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text))
             WITH ORDINALITY AS r(campaign_id, external_id, idx)
    ), resolved AS (
        SELECT i.idx, coalesce(c1.id, c2.id) AS id
        FROM input i
        LEFT JOIN campaigns c1 ON c1.id = i.campaign_id
        LEFT JOIN campaigns c2 ON i.campaign_id IS NULL AND c2.external_id = i.external_id
    )
    SELECT min(idx) FILTER (WHERE id IS NULL), array_agg(DISTINCT id) FILTER (WHERE id IS NOT NULL)
      INTO v_bad_index, v_ids
    FROM resolved;

    IF v_bad_index IS NOT NULL THEN
        RAISE EXCEPTION 'rows[%]: unknown campaign', v_bad_index USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', format('rows[%s].campaign_id', v_bad_index),
                                        'message', 'no campaign has this campaign_id or external_id')::text;
    END IF;

    PERFORM 1 FROM campaigns WHERE id = ANY (v_ids) ORDER BY id FOR UPDATE;

    BEGIN
        WITH input AS (
            SELECT r.*
            FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (
                     campaign_id uuid, external_id text, period_start timestamptz, period_end timestamptz,
                     impressions bigint, reach bigint, clicks bigint, conversions bigint,
                     spend numeric, revenue numeric))
                 WITH ORDINALITY AS r(campaign_id, external_id, period_start, period_end, impressions,
                                      reach, clicks, conversions, spend, revenue, idx)
        ), upserted AS (
            INSERT INTO campaign_metrics AS m
                (campaign_id, period_start, period_end, impressions, reach, clicks, conversions, spend, revenue)
            SELECT coalesce(c1.id, c2.id), i.period_start, i.period_end, coalesce(i.impressions, 0), i.reach,
                   coalesce(i.clicks, 0), coalesce(i.conversions, 0), coalesce(i.spend, 0), coalesce(i.revenue, 0)
            FROM input i
            LEFT JOIN campaigns c1 ON c1.id = i.campaign_id
            LEFT JOIN campaigns c2 ON i.campaign_id IS NULL AND c2.external_id = i.external_id
            ON CONFLICT (campaign_id, period_start) DO UPDATE
               SET period_end = EXCLUDED.period_end, impressions = EXCLUDED.impressions,
                   reach = EXCLUDED.reach, clicks = EXCLUDED.clicks, conversions = EXCLUDED.conversions,
                   spend = EXCLUDED.spend, revenue = EXCLUDED.revenue, updated_at = now()
            RETURNING 1
        )
        SELECT count(*) INTO v_count FROM upserted;
    EXCEPTION WHEN cardinality_violation THEN
        -- The same (campaign, period_start) twice in one batch: name the second occurrence.
        WITH input AS (
            SELECT r.idx - 1 AS idx, coalesce(c1.id, c2.id) AS id, r.period_start
            FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (campaign_id uuid, external_id text, period_start timestamptz))
                 WITH ORDINALITY AS r(campaign_id, external_id, period_start, idx)
            LEFT JOIN campaigns c1 ON c1.id = r.campaign_id
            LEFT JOIN campaigns c2 ON r.campaign_id IS NULL AND c2.external_id = r.external_id
        )
        SELECT min(idx) INTO v_bad_index
        FROM (SELECT idx, row_number() OVER (PARTITION BY id, period_start ORDER BY idx) AS n FROM input) d
        WHERE n > 1;
        RAISE EXCEPTION 'rows[%]: the same campaign and period_start appear twice in the batch', v_bad_index
            USING ERRCODE = 'AO422',
            DETAIL = jsonb_build_object('field', format('rows[%s].period_start', v_bad_index),
                                        'message', 'duplicate of an earlier row for the same campaign and period_start')::text;
    END;

    -- Totals are recomputed from the facts, so re-sending a period replaces its contribution.
    UPDATE campaigns c
       SET impressions = s.impressions, reach = s.reach, clicks = s.clicks,
           conversions = s.conversions, spend = s.spend, revenue = s.revenue
      FROM (SELECT campaign_id, sum(impressions) AS impressions, coalesce(sum(reach), 0) AS reach,
                   sum(clicks) AS clicks, sum(conversions) AS conversions,
                   sum(spend) AS spend, sum(revenue) AS revenue
              FROM campaign_metrics
             WHERE campaign_id = ANY (v_ids)
             GROUP BY campaign_id) s
     WHERE c.id = s.campaign_id;

    RETURN jsonb_build_object('rows', v_count, 'campaigns', coalesce(cardinality(v_ids), 0));
END;
$$;
COMMENT ON FUNCTION ingest_campaign_metrics(jsonb) IS
    'Upserts a batch of metric rows (one per campaign and period_start; a re-sent period replaces the old row) and recomputes the lifetime totals of the campaigns touched. All or nothing: an unknown campaign or a duplicated period rejects the batch with AO422 naming the row index.';
