-- 011_events.sql: acting as soon as metrics arrive (trigger rules and the queue of campaigns to
-- evaluate), and telling people (webhook endpoints, an outbox of events written in the same transaction
-- as what they report, deliveries with every attempt logged). Trigger functions start as placeholders;
-- their code lives in sql/functions/19_trigger_evaluation.sql and sql/functions/20_events.sql.

-- ---------------------------------------------------------------------------------------------
-- Trigger rules
-- ---------------------------------------------------------------------------------------------

ALTER TABLE autonomous_rules
    ADD COLUMN evaluation_type text NOT NULL DEFAULT 'schedule',
    ADD CONSTRAINT autonomous_rules_evaluation_type_check CHECK (evaluation_type IN ('schedule', 'trigger'));
COMMENT ON CONSTRAINT autonomous_rules_evaluation_type_check ON autonomous_rules IS
    '{"field": "evaluation_type", "message": "must be schedule (evaluated by cycles) or trigger (also as soon as new metrics arrive)"}';
-- A campaign burning money should not wait for the next cron slot.
UPDATE autonomous_rules SET evaluation_type = 'trigger' WHERE is_builtin AND name = 'Critical ROI Pause';

ALTER TABLE autonomous_cycles
    DROP CONSTRAINT autonomous_cycles_trigger_check,
    ADD CONSTRAINT autonomous_cycles_trigger_check CHECK (trigger IN ('api', 'cron', 'sql', 'cli', 'metrics')),
    ADD COLUMN scope integer,
    ADD CONSTRAINT autonomous_cycles_scope_check CHECK (scope >= 0 AND (scope IS NULL OR trigger = 'metrics'));

-- The campaigns whose metrics arrived since they were last evaluated by the trigger rules: one row per
-- campaign, its version bumped (under the row lock) by every ingest that touches it, so an ingest that
-- lands while an evaluation runs is never mistaken for evaluated.
CREATE TABLE metric_trigger_queue (
    campaign_id        uuid PRIMARY KEY REFERENCES campaigns (id) ON DELETE RESTRICT,
    version            bigint NOT NULL DEFAULT 1,
    evaluated_version  bigint NOT NULL DEFAULT 0,
    queued_at          timestamptz NOT NULL DEFAULT now(),
    evaluated_at       timestamptz,
    CONSTRAINT metric_trigger_queue_version_check CHECK (evaluated_version >= 0 AND evaluated_version <= version)
);
CREATE INDEX metric_trigger_queue_due_idx ON metric_trigger_queue (queued_at) WHERE version > evaluated_version;

-- ---------------------------------------------------------------------------------------------
-- Webhooks
-- ---------------------------------------------------------------------------------------------

CREATE TABLE webhook_endpoints (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url               text NOT NULL,
    description       text,
    event_types       text[] NOT NULL DEFAULT '{}',
    format            text NOT NULL DEFAULT 'standard',
    is_active         boolean NOT NULL DEFAULT true,
    secret_encrypted  bytea NOT NULL,
    secret_rotated_at timestamptz,
    created_by        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_url_check
        CHECK (length(url) <= 2048 AND url ~ '^https?://[^\x01-\x20\x7F]+$'),
    CONSTRAINT webhook_endpoints_description_check
        CHECK (length(description) <= 1000 AND ao_is_clean_text(description)),
    CONSTRAINT webhook_endpoints_event_types_check
        CHECK (cardinality(event_types) <= 20 AND event_types <@ ARRAY[
            'action.executed', 'action.rolled_back', 'cycle.failed', 'rule.error', 'opportunity.opened',
            'post.failed', 'post.unknown', 'social_account.expired']::text[]),
    CONSTRAINT webhook_endpoints_format_check CHECK (format IN ('standard', 'slack'))
);
COMMENT ON CONSTRAINT webhook_endpoints_url_check ON webhook_endpoints IS
    '{"field": "url", "message": "must be an http(s) URL of at most 2048 characters"}';
COMMENT ON CONSTRAINT webhook_endpoints_description_check ON webhook_endpoints IS
    '{"field": "description", "message": "must be at most 1000 characters without control characters"}';
COMMENT ON CONSTRAINT webhook_endpoints_event_types_check ON webhook_endpoints IS
    '{"field": "event_types", "message": "must list known event types: action.executed, action.rolled_back, cycle.failed, rule.error, opportunity.opened, post.failed, post.unknown, social_account.expired"}';
COMMENT ON CONSTRAINT webhook_endpoints_format_check ON webhook_endpoints IS
    '{"field": "format", "message": "must be standard or slack"}';
CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at DESC, id DESC);

-- The outbox: one row per event, written in the transaction of what it reports (a rolled-back cycle or a
-- dry run leaves none), and only when an active endpoint wants its type.
CREATE TABLE webhook_events (
    id          text PRIMARY KEY,          -- the webhook-id receivers deduplicate on
    type        text NOT NULL,
    payload     jsonb NOT NULL,            -- {"type", "timestamp", "data"}
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_events_type_check CHECK (type IN (
        'action.executed', 'action.rolled_back', 'cycle.failed', 'rule.error', 'opportunity.opened',
        'post.failed', 'post.unknown', 'social_account.expired', 'webhook.test'))
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id         text NOT NULL REFERENCES webhook_events (id) ON DELETE RESTRICT,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE RESTRICT,
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz,
    give_up_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0),
    CONSTRAINT webhook_deliveries_event_endpoint_key UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    delivery_id       uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE RESTRICT,
    attempt           integer NOT NULL,
    attempted_at      timestamptz NOT NULL DEFAULT now(),
    status_code       integer,
    latency_ms        integer,
    response_excerpt  text,
    error             text,
    CONSTRAINT webhook_attempts_excerpt_check CHECK (length(response_excerpt) <= 1024 AND length(error) <= 1000)
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

CREATE TRIGGER webhook_endpoints_touch BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER webhook_deliveries_touch BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Events from what changes: placeholders here, the code in sql/functions/19_events.sql. They fire in
-- every session_replication_role, like the audit guards: an event is never silently skipped.
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ao_events_from_actions() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION ao_events_from_opportunities() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION ao_events_from_posts() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION ao_events_from_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION ao_webhook_fan_out() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;

CREATE TRIGGER autonomous_actions_events_insert AFTER INSERT ON autonomous_actions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_actions();
CREATE TRIGGER autonomous_actions_events_update AFTER UPDATE ON autonomous_actions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_actions();
CREATE TRIGGER optimization_opportunities_events AFTER INSERT ON optimization_opportunities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_opportunities();
CREATE TRIGGER social_posts_events AFTER UPDATE ON social_posts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_posts();
CREATE TRIGGER social_accounts_events AFTER UPDATE ON social_accounts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_accounts();
CREATE TRIGGER webhook_events_fan_out AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_webhook_fan_out();
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_events_insert;
ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_events_update;
ALTER TABLE optimization_opportunities ENABLE ALWAYS TRIGGER optimization_opportunities_events;
ALTER TABLE social_posts ENABLE ALWAYS TRIGGER social_posts_events;
ALTER TABLE social_accounts ENABLE ALWAYS TRIGGER social_accounts_events;
ALTER TABLE webhook_events ENABLE ALWAYS TRIGGER webhook_events_fan_out;

-- ---------------------------------------------------------------------------------------------
-- Access: the API role reads and writes these under the same policy as every other table.
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['metric_trigger_queue', 'webhook_endpoints', 'webhook_events',
                             'webhook_deliveries', 'webhook_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO ao_app USING ((SELECT app_auth.is_privileged())) '
                       'WITH CHECK ((SELECT app_auth.is_privileged()))', t || '_privileged', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO ao_app', t);
    END LOOP;
END;
$$;

-- The scoped evaluation takes the campaigns it evaluates as a parameter, the plan the rules it runs:
-- the function files define the new signatures.
DROP FUNCTION IF EXISTS _ao_prepare_stats();
DROP FUNCTION IF EXISTS _ao_build_plan();
DROP FUNCTION IF EXISTS _ao_evaluate_rules(text[]);
