-- 010_cycle_at_scale.sql: what keeps a cycle's cost flat whatever the portfolio and the history.

-- A cycle reads only the metric periods that end inside its longest window: an index on period_end
-- makes that read independent of how much history is kept (rows arrive oldest day first, so the
-- recent ones sit together at the end of the table).
CREATE INDEX campaign_metrics_period_end_idx ON campaign_metrics (period_end);

-- Pauses and scales rewrite campaign rows: room on each page lets them be updated in place (HOT), and
-- no index on status is kept for it to maintain (nearly every campaign a cycle reads is active, so
-- the index never served a cycle; lists filter on it after the created_at order).
DROP INDEX campaigns_status_idx;
ALTER TABLE campaigns SET (fillfactor = 85);

-- The guardrails look back only as far as a post spacing; the impact of an action is measured once.
CREATE INDEX campaign_schedules_created_idx ON campaign_schedules (created_at);
CREATE INDEX autonomous_actions_impact_due_idx ON autonomous_actions (executed_at)
    WHERE actual_impact IS NULL AND action_type IN ('pause', 'scale') AND status IN ('executed', 'rolled_back');

-- Replaying an idempotency key now knows the trigger (scheduled slots are a namespace of their own);
-- the function files define the new signature.
DROP FUNCTION IF EXISTS _ao_idempotent_replay(text, boolean);
