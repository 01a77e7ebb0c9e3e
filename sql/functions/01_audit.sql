-- 01_audit.sql: what the database guards by itself, whoever writes: the append-only audit trail,
-- updated_at, and the clock of a campaign that goes live.

CREATE OR REPLACE FUNCTION autonomous_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.cycle_id, NEW.campaign_id, NEW.rule_id, NEW.action_type, NEW.reason,
        NEW.previous_state, NEW.new_state, NEW.confidence, NEW.expected_impact, NEW.created_at,
        NEW.created_by)
       IS DISTINCT FROM
       (OLD.id, OLD.cycle_id, OLD.campaign_id, OLD.rule_id, OLD.action_type, OLD.reason,
        OLD.previous_state, OLD.new_state, OLD.confidence, OLD.expected_impact, OLD.created_at,
        OLD.created_by) THEN
        RAISE EXCEPTION 'autonomous_actions is append-only: only status, executed_at, actual_impact and rollback fields may change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'pending' AND NEW.status IN ('executed', 'failed'))
        OR (OLD.status = 'executed' AND NEW.status = 'rolled_back')) THEN
        RAISE EXCEPTION 'autonomous_actions status may not move from % to %', OLD.status, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.executed_at IS NOT NULL AND NEW.executed_at IS DISTINCT FROM OLD.executed_at THEN
        RAISE EXCEPTION 'autonomous_actions executed_at is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.actual_impact IS NOT NULL AND NEW.actual_impact IS DISTINCT FROM OLD.actual_impact THEN
        RAISE EXCEPTION 'autonomous_actions actual_impact is written once' USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.rolled_back_at IS NOT NULL AND (NEW.rolled_back_at, NEW.rolled_back_by, NEW.rollback_reason)
            IS DISTINCT FROM (OLD.rolled_back_at, OLD.rolled_back_by, OLD.rollback_reason) THEN
        RAISE EXCEPTION 'autonomous_actions rollback fields are written once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION autonomous_actions_append_only() IS
    'Guards the audit trail: refuses DELETE/TRUNCATE for everyone and any UPDATE other than moving status forward (pending→executed|failed, executed→rolled_back) and filling executed_at, actual_impact or the rollback fields once each (the rollback fields only with status rolled_back, a CHECK).';

-- updated_at follows every UPDATE, whoever writes it.
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION touch_updated_at() IS 'Keeps updated_at equal to the time of the last UPDATE of a row.';

-- A campaign that goes live for the first time starts its clock.
CREATE OR REPLACE FUNCTION campaigns_set_started_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'active' AND NEW.started_at IS NULL THEN
        NEW.started_at := now();
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION campaigns_set_started_at() IS
    'Sets started_at when a campaign first becomes active, so hours_running has a start.';
