-- 001_schema.sql: the data model: campaigns and their metrics, rules, settings, cycles, the audit
-- trail, opportunities, social accounts, schedules and deliveries. Nothing here is deleted by the
-- service: rows change state, and autonomous_actions refuses DELETE outright.
--
-- Trigger functions are created here as placeholders, so that the triggers can be; their code lives
-- in sql/functions/ (applied after the migrations).

CREATE TABLE campaigns (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    external_id   text NOT NULL,
    title         text NOT NULL,
    description   text,
    image_url     text,
    cta_label     text,
    landing_url   text,
    status        text NOT NULL DEFAULT 'draft',
    daily_budget  numeric(14, 2) NOT NULL DEFAULT 0,
    max_budget    numeric(14, 2),
    started_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    impressions   bigint NOT NULL DEFAULT 0,
    reach         bigint NOT NULL DEFAULT 0,
    clicks        bigint NOT NULL DEFAULT 0,
    conversions   bigint NOT NULL DEFAULT 0,
    spend         numeric(16, 4) NOT NULL DEFAULT 0,
    revenue       numeric(16, 4) NOT NULL DEFAULT 0,
    CONSTRAINT campaigns_external_id_key UNIQUE (external_id),
    CONSTRAINT campaigns_external_id_check CHECK (length(btrim(external_id)) BETWEEN 1 AND 200),
    CONSTRAINT campaigns_title_check CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    CONSTRAINT campaigns_status_check CHECK (status IN ('draft', 'active', 'paused', 'completed')),
    CONSTRAINT campaigns_daily_budget_check CHECK (daily_budget >= 0),
    CONSTRAINT campaigns_max_budget_check CHECK (max_budget IS NULL OR max_budget >= daily_budget),
    CONSTRAINT campaigns_totals_check CHECK (
        impressions >= 0 AND reach >= 0 AND clicks >= 0 AND conversions >= 0
        AND spend >= 0 AND revenue >= 0)
);
CREATE INDEX campaigns_status_idx ON campaigns (status);
CREATE INDEX campaigns_created_idx ON campaigns (created_at DESC, id DESC);

CREATE TABLE campaign_metrics (
    campaign_id   uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    impressions   bigint NOT NULL DEFAULT 0,
    reach         bigint,
    clicks        bigint NOT NULL DEFAULT 0,
    conversions   bigint NOT NULL DEFAULT 0,
    spend         numeric(16, 4) NOT NULL DEFAULT 0,
    revenue       numeric(16, 4) NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_metrics_pkey PRIMARY KEY (campaign_id, period_start),
    CONSTRAINT campaign_metrics_period_check CHECK (period_end > period_start),
    CONSTRAINT campaign_metrics_counts_check CHECK (
        impressions >= 0 AND (reach IS NULL OR reach >= 0) AND clicks >= 0 AND conversions >= 0),
    CONSTRAINT campaign_metrics_money_check CHECK (spend >= 0 AND revenue >= 0)
);
-- Window queries scan one campaign's recent periods: the primary key serves them.
CREATE INDEX campaign_metrics_period_idx ON campaign_metrics (period_start);

CREATE TABLE autonomous_settings (
    id                              boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_spend                       numeric NOT NULL DEFAULT 50 CHECK (min_spend >= 0),
    max_scale_factor                numeric NOT NULL DEFAULT 2.0 CHECK (max_scale_factor > 1 AND max_scale_factor <= 10),
    min_scale_confidence            numeric NOT NULL DEFAULT 0.75 CHECK (min_scale_confidence BETWEEN 0 AND 1),
    post_spacing_hours              integer NOT NULL DEFAULT 24 CHECK (post_spacing_hours >= 0),
    post_lead_minutes               integer NOT NULL DEFAULT 5 CHECK (post_lead_minutes >= 0),
    impact_window_hours             integer NOT NULL DEFAULT 72 CHECK (impact_window_hours > 0),
    rollback_quiet_hours            integer NOT NULL DEFAULT 168 CHECK (rollback_quiet_hours >= 0),
    opportunity_quiet_days          integer NOT NULL DEFAULT 7 CHECK (opportunity_quiet_days >= 0),
    low_conversion_min_clicks       integer NOT NULL DEFAULT 200 CHECK (low_conversion_min_clicks > 0),
    low_conversion_max_rate         numeric NOT NULL DEFAULT 0.01 CHECK (low_conversion_max_rate BETWEEN 0 AND 1),
    high_traffic_click_quantile     numeric NOT NULL DEFAULT 0.9 CHECK (high_traffic_click_quantile BETWEEN 0 AND 1),
    high_traffic_rate_ratio         numeric NOT NULL DEFAULT 0.5 CHECK (high_traffic_rate_ratio BETWEEN 0 AND 1),
    decline_ratio                   numeric NOT NULL DEFAULT 0.7 CHECK (decline_ratio BETWEEN 0 AND 1),
    decline_min_clicks              integer NOT NULL DEFAULT 100 CHECK (decline_min_clicks > 0),
    under_delivery_ratio            numeric NOT NULL DEFAULT 0.5 CHECK (under_delivery_ratio BETWEEN 0 AND 1),
    audience_high_ctr               numeric NOT NULL DEFAULT 0.02 CHECK (audience_high_ctr BETWEEN 0 AND 1),
    audience_low_conversion_rate    numeric NOT NULL DEFAULT 0.005 CHECK (audience_low_conversion_rate BETWEEN 0 AND 1),
    audience_low_ctr                numeric NOT NULL DEFAULT 0.005 CHECK (audience_low_ctr BETWEEN 0 AND 1),
    audience_min_impressions        integer NOT NULL DEFAULT 10000 CHECK (audience_min_impressions > 0),
    fatigue_min_frequency           numeric NOT NULL DEFAULT 3 CHECK (fatigue_min_frequency > 0),
    fatigue_ctr_drop                numeric NOT NULL DEFAULT 0.2 CHECK (fatigue_ctr_drop BETWEEN 0 AND 1),
    timing_min_ratio                numeric NOT NULL DEFAULT 2.0 CHECK (timing_min_ratio >= 1),
    timing_min_clicks               integer NOT NULL DEFAULT 100 CHECK (timing_min_clicks > 0),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    updated_by                      text
);
INSERT INTO autonomous_settings DEFAULT VALUES;

CREATE TABLE autonomous_rules (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL,
    description     text,
    rule_type       text NOT NULL,
    priority        integer NOT NULL DEFAULT 50,
    is_active       boolean NOT NULL DEFAULT true,
    is_builtin      boolean NOT NULL DEFAULT false,
    conditions      jsonb NOT NULL,
    action          jsonb NOT NULL,
    min_confidence  numeric NOT NULL DEFAULT 0,
    cooldown_hours  integer NOT NULL DEFAULT 24,
    created_by      text,
    updated_by      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT autonomous_rules_name_key UNIQUE (name),
    CONSTRAINT autonomous_rules_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT autonomous_rules_rule_type_check CHECK (rule_type IN ('pause', 'scale', 'post')),
    CONSTRAINT autonomous_rules_priority_check CHECK (priority BETWEEN 0 AND 1000),
    CONSTRAINT autonomous_rules_min_confidence_check CHECK (min_confidence BETWEEN 0 AND 1),
    CONSTRAINT autonomous_rules_cooldown_hours_check CHECK (cooldown_hours BETWEEN 0 AND 8760),
    CONSTRAINT autonomous_rules_conditions_check CHECK (jsonb_typeof(conditions) = 'object'),
    CONSTRAINT autonomous_rules_action_check CHECK (
        jsonb_typeof(action) = 'object'
        AND action ->> 'type' = CASE rule_type WHEN 'pause' THEN 'pause'
                                               WHEN 'scale' THEN 'scale_budget'
                                               ELSE 'post' END)
);
CREATE INDEX autonomous_rules_priority_idx ON autonomous_rules (priority DESC, name);

INSERT INTO autonomous_rules
    (name, description, rule_type, priority, is_builtin, conditions, action, min_confidence, cooldown_hours, created_by)
VALUES
    ('Critical ROI Pause', 'Pause at once a campaign returning under half its spend.', 'pause', 100, true,
     '{"all": [{"metric": "roi", "op": "lt", "value": 0.5, "window": "lifetime"},
               {"metric": "spend", "op": "gte", "value": 50, "window": "lifetime"}]}',
     '{"type": "pause"}', 0, 24, 'system'),
    ('Low ROI Pause', 'Pause a campaign losing money over its life and the last 48 hours.', 'pause', 90, true,
     '{"all": [{"metric": "roi", "op": "lt", "value": 1.0, "window": "lifetime"},
               {"metric": "roi", "op": "lt", "value": 1.0, "window": "last_48h"},
               {"metric": "spend", "op": "gte", "value": 50, "window": "lifetime"},
               {"metric": "hours_running", "op": "gte", "value": 48, "window": "lifetime"}]}',
     '{"type": "pause"}', 0, 24, 'system'),
    ('Aggressive Scale', 'Double the budget of an elite performer.', 'scale', 85, true,
     '{"all": [{"metric": "roi", "op": "gte", "value": 4.0, "window": "lifetime"},
               {"metric": "conversions", "op": "gte", "value": 10, "window": "lifetime"},
               {"metric": "hours_running", "op": "gte", "value": 24, "window": "lifetime"}]}',
     '{"type": "scale_budget", "factor": 2.0}', 0.75, 24, 'system'),
    ('High ROI Scale', 'Raise the budget of a profitable campaign by half.', 'scale', 80, true,
     '{"all": [{"metric": "roi", "op": "gte", "value": 3.0, "window": "lifetime"},
               {"metric": "conversions", "op": "gte", "value": 10, "window": "lifetime"},
               {"metric": "hours_running", "op": "gte", "value": 24, "window": "lifetime"}]}',
     '{"type": "scale_budget", "factor": 1.5}', 0.75, 24, 'system'),
    ('High CTR Auto-Post', 'Schedule a social post of a campaign people click.', 'post', 50, true,
     '{"all": [{"metric": "ctr", "op": "gt", "value": 0.02, "window": "lifetime"},
               {"metric": "conversions", "op": "gte", "value": 1, "window": "lifetime"},
               {"metric": "days_running", "op": "gte", "value": 7, "window": "lifetime"}]}',
     '{"type": "post"}', 0, 24, 'system');

CREATE TABLE autonomous_cycles (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trigger       text NOT NULL,
    triggered_by  text,
    dry_run       boolean NOT NULL DEFAULT false,
    status        text NOT NULL DEFAULT 'running',
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    summary       jsonb,
    error         text,
    idempotency_key text,
    CONSTRAINT autonomous_cycles_trigger_check CHECK (trigger IN ('api', 'cron', 'sql', 'cli')),
    CONSTRAINT autonomous_cycles_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    CONSTRAINT autonomous_cycles_idempotency_key_key UNIQUE (idempotency_key)
);
CREATE INDEX autonomous_cycles_started_idx ON autonomous_cycles (started_at DESC, id DESC);

CREATE TABLE autonomous_actions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cycle_id         uuid REFERENCES autonomous_cycles (id) ON DELETE RESTRICT,
    campaign_id      uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    rule_id          uuid REFERENCES autonomous_rules (id) ON DELETE RESTRICT,
    action_type      text NOT NULL,
    reason           text NOT NULL,
    previous_state   jsonb NOT NULL DEFAULT '{}',
    new_state        jsonb NOT NULL DEFAULT '{}',
    confidence       numeric NOT NULL DEFAULT 0,
    expected_impact  jsonb NOT NULL DEFAULT '{}',
    actual_impact    jsonb,
    status           text NOT NULL DEFAULT 'pending',
    created_at       timestamptz NOT NULL DEFAULT now(),
    executed_at      timestamptz,
    rolled_back_at   timestamptz,
    rolled_back_by   text,
    rollback_reason  text,
    created_by       text,
    CONSTRAINT autonomous_actions_action_type_check CHECK (action_type IN ('pause', 'scale', 'post', 'optimize')),
    CONSTRAINT autonomous_actions_status_check CHECK (status IN ('pending', 'executed', 'rolled_back', 'failed')),
    CONSTRAINT autonomous_actions_confidence_check CHECK (confidence BETWEEN 0 AND 1)
);
CREATE INDEX autonomous_actions_created_idx ON autonomous_actions (created_at DESC, id DESC);
CREATE INDEX autonomous_actions_campaign_idx ON autonomous_actions (campaign_id, action_type, created_at DESC);
CREATE INDEX autonomous_actions_cycle_idx ON autonomous_actions (cycle_id);
CREATE INDEX autonomous_actions_status_idx ON autonomous_actions (status, created_at DESC);

-- Append-only audit trail: DELETE and TRUNCATE are refused for every role, superusers included;
-- UPDATE may move status forward and fill actual_impact and the rollback fields, nothing else.
CREATE OR REPLACE FUNCTION autonomous_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;

CREATE TRIGGER autonomous_actions_no_delete BEFORE DELETE ON autonomous_actions
    FOR EACH ROW EXECUTE FUNCTION autonomous_actions_append_only();
CREATE TRIGGER autonomous_actions_no_truncate BEFORE TRUNCATE ON autonomous_actions
    FOR EACH STATEMENT EXECUTE FUNCTION autonomous_actions_append_only();
CREATE TRIGGER autonomous_actions_forward_only BEFORE UPDATE ON autonomous_actions
    FOR EACH ROW EXECUTE FUNCTION autonomous_actions_append_only();

CREATE TABLE optimization_opportunities (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id       uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    opportunity_type  text NOT NULL,
    severity          text NOT NULL,
    description       text NOT NULL,
    suggested_action  text NOT NULL,
    confidence_score  numeric NOT NULL DEFAULT 0,
    evidence          jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'open',
    detected_at       timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    resolved_by       text,
    CONSTRAINT optimization_opportunities_type_check CHECK (opportunity_type IN (
        'low_conversion', 'high_traffic_low_conversion', 'declining_performance', 'budget_inefficiency',
        'audience_mismatch', 'creative_fatigue', 'timing_optimization')),
    CONSTRAINT optimization_opportunities_severity_check CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    CONSTRAINT optimization_opportunities_status_check CHECK (status IN ('open', 'in_progress', 'resolved', 'dismissed')),
    CONSTRAINT optimization_opportunities_confidence_check CHECK (confidence_score BETWEEN 0 AND 1)
);
-- At most one open or in-progress opportunity per campaign and type.
CREATE UNIQUE INDEX optimization_opportunities_live_key ON optimization_opportunities (campaign_id, opportunity_type)
    WHERE status IN ('open', 'in_progress');
CREATE INDEX optimization_opportunities_status_idx ON optimization_opportunities (status, detected_at DESC, id DESC);

CREATE TABLE social_accounts (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    platform                 text NOT NULL,
    account_id               text NOT NULL,
    display_name             text,
    access_token_encrypted   bytea NOT NULL,
    refresh_token_encrypted  bytea,
    token_last4              text,
    token_expires_at         timestamptz,
    status                   text NOT NULL DEFAULT 'active',
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT social_accounts_platform_check CHECK (platform IN ('instagram', 'facebook', 'twitter')),
    CONSTRAINT social_accounts_status_check CHECK (status IN ('active', 'expired', 'revoked')),
    CONSTRAINT social_accounts_platform_account_key UNIQUE (platform, account_id)
);

CREATE TABLE campaign_schedules (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id    uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    action_id      uuid REFERENCES autonomous_actions (id) ON DELETE RESTRICT,
    scheduled_for  timestamptz NOT NULL,
    platforms      text[] NOT NULL,
    content        jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'pending',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaign_schedules_status_check CHECK (status IN ('pending', 'posting', 'posted', 'failed', 'cancelled')),
    CONSTRAINT campaign_schedules_platforms_check CHECK (
        cardinality(platforms) >= 1 AND platforms <@ ARRAY['instagram', 'facebook', 'twitter'])
);
CREATE INDEX campaign_schedules_due_idx ON campaign_schedules (scheduled_for) WHERE status IN ('pending', 'posting');
CREATE INDEX campaign_schedules_campaign_idx ON campaign_schedules (campaign_id, created_at DESC);

CREATE TABLE social_posts (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    schedule_id        uuid NOT NULL REFERENCES campaign_schedules (id) ON DELETE RESTRICT,
    platform           text NOT NULL,
    account_id         uuid REFERENCES social_accounts (id) ON DELETE RESTRICT,
    status             text NOT NULL DEFAULT 'pending',
    external_post_ids  text[] NOT NULL DEFAULT '{}',
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    last_error         text,
    posted_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT social_posts_platform_check CHECK (platform IN ('instagram', 'facebook', 'twitter')),
    CONSTRAINT social_posts_status_check CHECK (status IN ('pending', 'sending', 'posted', 'failed', 'unknown')),
    CONSTRAINT social_posts_attempts_check CHECK (attempts >= 0),
    CONSTRAINT social_posts_schedule_platform_key UNIQUE (schedule_id, platform)
);
CREATE INDEX social_posts_due_idx ON social_posts (next_attempt_at) WHERE status IN ('pending', 'sending');

-- updated_at follows every UPDATE, whoever writes it.
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;

CREATE TRIGGER campaigns_touch BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER autonomous_rules_touch BEFORE UPDATE ON autonomous_rules FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER autonomous_settings_touch BEFORE UPDATE ON autonomous_settings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER optimization_opportunities_touch BEFORE UPDATE ON optimization_opportunities FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER social_accounts_touch BEFORE UPDATE ON social_accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER campaign_schedules_touch BEFORE UPDATE ON campaign_schedules FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER social_posts_touch BEFORE UPDATE ON social_posts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A campaign that goes live for the first time starts its clock.
CREATE OR REPLACE FUNCTION campaigns_set_started_at() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER campaigns_started_at BEFORE INSERT OR UPDATE OF status ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaigns_set_started_at();

-- Derived ratios for reads; security_invoker so that row-level security of campaigns applies.
CREATE VIEW campaigns_with_kpis WITH (security_invoker = true) AS
SELECT c.*,
       round(c.revenue / NULLIF(c.spend, 0), 6)                  AS roi,
       round(c.clicks::numeric / NULLIF(c.impressions, 0), 6)     AS ctr,
       round(c.conversions::numeric / NULLIF(c.clicks, 0), 6)     AS conversion_rate,
       round(c.spend / NULLIF(c.conversions, 0), 4)               AS cpa
FROM campaigns c;
