-- 012_backtests.sql: backtests of the rules over the metrics history. A backtest is asked for (queued),
-- run by one runner at a time in the background, and keeps its result; nothing it replays touches the
-- live campaigns, actions, rules or settings.

CREATE TABLE backtests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status        text NOT NULL DEFAULT 'queued',
    from_at       timestamptz NOT NULL,
    to_at         timestamptz NOT NULL,
    step          text NOT NULL DEFAULT 'day',
    rules         jsonb NOT NULL DEFAULT '"active"',
    settings      jsonb NOT NULL DEFAULT '{}',
    steps_total   integer NOT NULL,
    progress      numeric(5, 4) NOT NULL DEFAULT 0,
    result        jsonb,
    error         text,
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    heartbeat_at  timestamptz,
    finished_at   timestamptz,
    CONSTRAINT backtests_status_check CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    CONSTRAINT backtests_range_check CHECK (to_at > from_at AND to_at - from_at <= interval '400 days'),
    CONSTRAINT backtests_step_check CHECK (step IN ('day', 'hour')),
    CONSTRAINT backtests_rules_check CHECK (jsonb_typeof(rules) IN ('string', 'array')),
    CONSTRAINT backtests_settings_check CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT backtests_progress_check CHECK (progress BETWEEN 0 AND 1),
    CONSTRAINT backtests_steps_check CHECK (steps_total BETWEEN 1 AND 9600),
    CONSTRAINT backtests_error_check CHECK (length(error) <= 2000)
);
COMMENT ON TABLE backtests IS
    'Backtests of the rules over the metrics history: what was asked (range, step, rules, settings overrides), progress, and the result (decisions, money saved, estimated added profit, regrets, a daily timeline).';
COMMENT ON CONSTRAINT backtests_range_check ON backtests IS
    '{"field": "to", "message": "must be after from, and at most 400 days after it"}';
COMMENT ON CONSTRAINT backtests_step_check ON backtests IS
    '{"field": "step", "message": "must be day or hour"}';
COMMENT ON CONSTRAINT backtests_rules_check ON backtests IS
    '{"field": "rules", "message": "must be \"active\", a list of rule ids, or a list of rule bodies"}';
COMMENT ON CONSTRAINT backtests_settings_check ON backtests IS
    '{"field": "settings", "message": "must be an object of setting overrides"}';
COMMENT ON CONSTRAINT backtests_steps_check ON backtests IS
    '{"field": "to", "message": "the range must hold from 1 to 9600 steps"}';
CREATE INDEX backtests_created_idx ON backtests (created_at DESC, id DESC);
CREATE INDEX backtests_waiting_idx ON backtests (created_at) WHERE status IN ('queued', 'running');

ALTER TABLE backtests ENABLE ROW LEVEL SECURITY;
CREATE POLICY backtests_privileged ON backtests FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON backtests TO ao_app;
