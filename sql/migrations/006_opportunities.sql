-- 006_opportunities.sql: the optimization-opportunity detectors read hourly rows through a partial
-- index (daily-only data costs nothing) and check recent dismissals through another. The detectors
-- and the lifecycle live in sql/functions/.

CREATE INDEX campaign_metrics_hourly_idx ON campaign_metrics (period_start)
    WHERE period_end - period_start <= interval '1 hour';

CREATE INDEX optimization_opportunities_dismissed_idx ON optimization_opportunities (campaign_id, opportunity_type, updated_at)
    WHERE status = 'dismissed';
