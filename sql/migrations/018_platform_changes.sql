-- 018_platform_changes.sql: decisions applied on the platforms. A pause or scale of a connected campaign
-- is proposed (observe, approve) or sent at once (autopilot) through an outbox of platform changes, each
-- read before it is written, never written twice nor over a person's edit.

-- An action's life on a connected campaign: proposed (waiting for a person, until expires_at), pending
-- (its platform change not applied yet), executed once applied; rejected, expired or failed (with the
-- reason) otherwise.
ALTER TABLE autonomous_actions
    DROP CONSTRAINT autonomous_actions_status_check,
    ADD CONSTRAINT autonomous_actions_status_check CHECK (
        status IN ('proposed', 'pending', 'executed', 'rolled_back', 'failed', 'rejected', 'expired')),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decided_by text,
    ADD COLUMN status_reason text,
    ADD CONSTRAINT autonomous_actions_decided_by_check CHECK (length(decided_by) <= 200 AND ao_is_clean_text(decided_by)),
    ADD CONSTRAINT autonomous_actions_status_reason_check CHECK (length(status_reason) <= 2000 AND ao_is_clean_text(status_reason));
COMMENT ON CONSTRAINT autonomous_actions_status_check ON autonomous_actions IS
    '{"field": "status", "message": "must be one of proposed, pending, executed, rolled_back, failed, rejected, expired"}';
COMMENT ON CONSTRAINT autonomous_actions_decided_by_check ON autonomous_actions IS
    '{"field": "decided_by", "message": "must be at most 200 characters without control characters"}';
COMMENT ON CONSTRAINT autonomous_actions_status_reason_check ON autonomous_actions IS
    '{"field": "status_reason", "message": "must be at most 2,000 characters without control characters"}';
CREATE INDEX autonomous_actions_open_idx ON autonomous_actions (campaign_id)
    WHERE status IN ('proposed', 'pending');
CREATE INDEX autonomous_actions_proposed_idx ON autonomous_actions (expires_at)
    WHERE status = 'proposed';

ALTER TABLE autonomous_settings
    ADD COLUMN approval_ttl_hours integer NOT NULL DEFAULT 24,
    ADD CONSTRAINT autonomous_settings_approval_ttl_hours_check CHECK (approval_ttl_hours BETWEEN 1 AND 720);
COMMENT ON CONSTRAINT autonomous_settings_approval_ttl_hours_check ON autonomous_settings IS
    '{"field": "approval_ttl_hours", "message": "must be a whole number of hours from 1 to 720"}';

-- A Google budget shared by several campaigns is never changed for one of them.
ALTER TABLE campaigns ADD COLUMN platform_budget_shared boolean NOT NULL DEFAULT false;

-- The outbox: one change per action to apply, and one per rollback of it.
CREATE TABLE platform_changes (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    action_id        uuid NOT NULL REFERENCES autonomous_actions (id) ON DELETE RESTRICT,
    purpose          text NOT NULL DEFAULT 'apply',
    campaign_id      uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    account_id       uuid NOT NULL REFERENCES ad_accounts (id) ON DELETE RESTRICT,
    kind             text NOT NULL,
    from_state       jsonb NOT NULL,
    to_state         jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,
    claimed_until    timestamptz,
    last_answer      text,
    seen_state       jsonb,
    objects          jsonb,
    requested_by     text,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT platform_changes_purpose_check CHECK (purpose IN ('apply', 'rollback')),
    CONSTRAINT platform_changes_kind_check CHECK (kind IN ('status', 'budget')),
    CONSTRAINT platform_changes_state_check CHECK (
        state IN ('pending', 'applying', 'applied', 'failed', 'conflict', 'unknown')),
    CONSTRAINT platform_changes_attempts_check CHECK (attempts >= 0),
    CONSTRAINT platform_changes_last_answer_check CHECK (length(last_answer) <= 2000),
    CONSTRAINT platform_changes_reason_check CHECK (length(reason) <= 1000 AND ao_is_clean_text(reason)),
    CONSTRAINT platform_changes_action_purpose_key UNIQUE (action_id, purpose)
);
COMMENT ON TABLE platform_changes IS
    'The outbox of writes to the ad platforms: a pause or scale of a connected campaign (or its rollback), from the state the engine last saw to the target; claimed with SKIP LOCKED and a lease, read before it is written: applied, failed (the platform refused, nothing changed), conflict (a person changed it: not overwritten) or unknown (the next attempt reads first).';
COMMENT ON CONSTRAINT platform_changes_state_check ON platform_changes IS
    '{"field": "state", "message": "must be one of pending, applying, applied, failed, conflict, unknown"}';
COMMENT ON CONSTRAINT platform_changes_action_purpose_key ON platform_changes IS
    '{"field": "action_id", "message": "this action already has its platform change"}';
CREATE INDEX platform_changes_due_idx ON platform_changes (next_attempt_at)
    WHERE state IN ('pending', 'applying', 'unknown');
CREATE INDEX platform_changes_account_idx ON platform_changes (account_id, created_at DESC, id DESC);
CREATE INDEX platform_changes_campaign_idx ON platform_changes (campaign_id);
CREATE TRIGGER platform_changes_touch BEFORE UPDATE ON platform_changes FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER platform_changes_refuse_delete BEFORE DELETE ON platform_changes
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('DELETE');
ALTER TABLE platform_changes ENABLE ALWAYS TRIGGER platform_changes_refuse_delete;

-- Every write sent to a platform, before it is sent: what a crashed sender leaves behind, and what the
-- limit of 4 budget changes per Meta ad set per hour is counted from.
CREATE TABLE platform_writes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    change_id  uuid NOT NULL REFERENCES platform_changes (id) ON DELETE RESTRICT,
    object_id  text NOT NULL,
    field      text NOT NULL,
    value      text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_writes_field_check CHECK (field IN ('status', 'daily_budget')),
    CONSTRAINT platform_writes_object_id_check CHECK (length(object_id) BETWEEN 1 AND 200)
);
COMMENT ON TABLE platform_writes IS
    'Each write sent to an ad platform (object, field, value), recorded before it is sent. Append-only.';
CREATE INDEX platform_writes_object_idx ON platform_writes (object_id, field, sent_at);
CREATE INDEX platform_writes_change_idx ON platform_writes (change_id);
CREATE TRIGGER platform_writes_append_only BEFORE UPDATE OR DELETE ON platform_writes
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('an update or a delete');
ALTER TABLE platform_writes ENABLE ALWAYS TRIGGER platform_writes_append_only;

ALTER TABLE platform_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_writes ENABLE ROW LEVEL SECURITY;
CREATE POLICY platform_changes_privileged ON platform_changes FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
CREATE POLICY platform_writes_privileged ON platform_writes FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON platform_changes TO ao_app;
GRANT SELECT, INSERT ON platform_writes TO ao_app;

-- platform_change.conflict and platform_change.failed (the statement trigger's body is in
-- sql/functions/25_platform_changes.sql), and action.proposed (a change waiting for a person).
CREATE OR REPLACE FUNCTION ao_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['action.executed', 'action.rolled_back', 'action.proposed', 'cycle.failed', 'cycle.held',
                 'cycle.limited', 'rule.error', 'opportunity.opened', 'post.failed', 'post.unknown',
                 'social_account.expired', 'ad_account.error', 'platform_change.conflict',
                 'platform_change.failed']
$$;
CREATE OR REPLACE FUNCTION ao_events_from_platform_changes() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER platform_changes_events AFTER UPDATE ON platform_changes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_platform_changes();
ALTER TABLE platform_changes ENABLE ALWAYS TRIGGER platform_changes_events;
