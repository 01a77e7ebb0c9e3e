-- 003_ingest.sql: metric ingestion added no table; its function (ingest_campaign_metrics) lives in
-- sql/functions/.
SELECT 1;
