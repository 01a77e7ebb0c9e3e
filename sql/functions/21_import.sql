-- 21_import.sql: a platform's report (Meta Ads Manager, Google Ads, or the generic columns), already
-- read into rows by the importer (app/services/imports.py), into campaigns and metrics. Campaigns are
-- created on first sight, the rows go through the one ingestion function, all or nothing.

-- external_id is the platform's campaign id, else its name; an imported report's campaigns are the manual
-- account's.
CREATE OR REPLACE FUNCTION import_campaign_report(p_campaigns jsonb, p_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_created integer;
    v_ingested jsonb;
BEGIN
    IF jsonb_typeof(p_campaigns) IS DISTINCT FROM 'array' THEN
        PERFORM ao_raise_422('campaigns', 'must be an array');
    END IF;
    IF jsonb_typeof(p_rows) IS DISTINCT FROM 'array' THEN
        PERFORM ao_raise_422('rows', 'must be an array');
    END IF;
    WITH named AS (
        SELECT DISTINCT ON (n.external_id) n.external_id, left(coalesce(nullif(btrim(n.title), ''), n.external_id), 500) AS title
          FROM jsonb_to_recordset(p_campaigns) AS n(external_id text, title text)
         WHERE n.external_id IS NOT NULL
    ), first_rows AS (
        SELECT r.external_id, min(r.period_start) AS started_at
          FROM jsonb_to_recordset(p_rows) AS r(external_id text, period_start timestamptz)
         GROUP BY r.external_id
    ), created AS (
        INSERT INTO campaigns (external_id, title, status, started_at)
        SELECT n.external_id, n.title, 'draft', f.started_at
          FROM named n LEFT JOIN first_rows f ON f.external_id = n.external_id
         ORDER BY n.external_id
        ON CONFLICT (account_id, external_id) DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO v_created FROM created;
    v_ingested := ingest_campaign_metrics(p_rows);
    RETURN v_ingested || jsonb_build_object(
        'campaigns_created', v_created,
        'date_from', (SELECT min(period_start) FROM jsonb_to_recordset(p_rows) AS r(period_start timestamptz)),
        'date_to', (SELECT max(period_end) FROM jsonb_to_recordset(p_rows) AS r(period_end timestamptz)));
END;
$$;
COMMENT ON FUNCTION import_campaign_report(jsonb, jsonb) IS
    'Imports a platform report: creates the campaigns it names that do not exist (drafts, started at their first row, so no cycle acts on them until activated), then ingests its rows through ingest_campaign_metrics; all or nothing. Returns {rows, campaigns, campaigns_created, date_from, date_to}.';
