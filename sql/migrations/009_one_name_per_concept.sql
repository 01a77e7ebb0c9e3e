-- 009_one_name_per_concept.sql: one name per concept, the record of applied function files, the
-- words of every check the API reports, and what the functions now share as types.

-- ---------------------------------------------------------------------------------------------
-- X is "x" (it was "twitter"); the API still takes "twitter" as an alias. The audit trail keeps the
-- names its rows were written with.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE social_accounts DROP CONSTRAINT social_accounts_platform_check;
ALTER TABLE social_posts DROP CONSTRAINT social_posts_platform_check;
ALTER TABLE campaign_schedules DROP CONSTRAINT campaign_schedules_platforms_check;

UPDATE social_accounts SET platform = 'x' WHERE platform = 'twitter';
UPDATE social_posts SET platform = 'x' WHERE platform = 'twitter';
UPDATE campaign_schedules
   SET platforms = array_replace(platforms, 'twitter', 'x'),
       content = CASE WHEN content -> 'links' ? 'twitter'
                      THEN jsonb_set(content #- '{links,twitter}', '{links,x}', content -> 'links' -> 'twitter')
                      ELSE content END
 WHERE 'twitter' = ANY (platforms) OR content -> 'links' ? 'twitter';

ALTER TABLE social_accounts ADD CONSTRAINT social_accounts_platform_check
    CHECK (platform IN ('instagram', 'facebook', 'x'));
ALTER TABLE social_posts ADD CONSTRAINT social_posts_platform_check
    CHECK (platform IN ('instagram', 'facebook', 'x'));
ALTER TABLE campaign_schedules ADD CONSTRAINT campaign_schedules_platforms_check
    CHECK (cardinality(platforms) >= 1 AND platforms <@ ARRAY['instagram', 'facebook', 'x']);

-- ---------------------------------------------------------------------------------------------
-- A scale is "scale" everywhere: the rule type, its action ({"type": "scale", "factor": F}; it was
-- "scale_budget", still taken as an alias) and the logged action.
-- ---------------------------------------------------------------------------------------------

ALTER TABLE autonomous_rules DROP CONSTRAINT autonomous_rules_action_check;
-- The validation in force until the functions are re-applied knows only the former name.
ALTER TABLE autonomous_rules DISABLE TRIGGER autonomous_rules_validate;
UPDATE autonomous_rules SET action = jsonb_set(action, '{type}', '"scale"') WHERE action ->> 'type' = 'scale_budget';
ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_validate;
ALTER TABLE autonomous_rules ADD CONSTRAINT autonomous_rules_action_check
    CHECK (jsonb_typeof(action) = 'object' AND action ->> 'type' = rule_type);

-- ---------------------------------------------------------------------------------------------
-- Functions: no longer used, and the record of the function files applied
-- ---------------------------------------------------------------------------------------------

DROP FUNCTION IF EXISTS campaign_window_stats();

-- The function files of sql/functions/ are applied after the migrations whenever one changed; this is
-- what was applied last (readiness compares it with the files the service ships).
CREATE TABLE schema_functions (
    file        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE schema_functions ENABLE ROW LEVEL SECURITY;  -- no policy: the API role never reads it

-- What each opportunity detector finds.
CREATE TYPE ao_opportunity_finding AS (
    campaign_id       uuid,
    opportunity_type  text,
    severity          text,
    description       text,
    suggested_action  text,
    confidence_score  numeric,
    evidence          jsonb
);

-- ---------------------------------------------------------------------------------------------
-- The words of each check and unique key the API reports as a field error (a 422, or 409 for a key):
-- {"field", "message"} in the constraint's comment, the one place they are written.
-- ---------------------------------------------------------------------------------------------

COMMENT ON CONSTRAINT campaigns_external_id_key ON campaigns IS
    '{"field": "external_id", "message": "a campaign with this external_id exists"}';
COMMENT ON CONSTRAINT campaigns_external_id_check ON campaigns IS
    '{"field": "external_id", "message": "must be 1 to 200 characters, not blank"}';
COMMENT ON CONSTRAINT campaigns_external_id_text_check ON campaigns IS
    '{"field": "external_id", "message": "must not contain control characters"}';
COMMENT ON CONSTRAINT campaigns_title_check ON campaigns IS
    '{"field": "title", "message": "must be 1 to 500 characters, not blank"}';
COMMENT ON CONSTRAINT campaigns_title_text_check ON campaigns IS
    '{"field": "title", "message": "must not contain control characters (tab and newline are allowed)"}';
COMMENT ON CONSTRAINT campaigns_description_check ON campaigns IS
    '{"field": "description", "message": "must be at most 10,000 characters without control characters"}';
COMMENT ON CONSTRAINT campaigns_cta_label_check ON campaigns IS
    '{"field": "cta_label", "message": "must be at most 100 characters without control characters"}';
COMMENT ON CONSTRAINT campaigns_image_url_check ON campaigns IS
    '{"field": "image_url", "message": "must be an http(s) URL of at most 2,048 characters"}';
COMMENT ON CONSTRAINT campaigns_landing_url_check ON campaigns IS
    '{"field": "landing_url", "message": "must be an http(s) URL of at most 2,048 characters"}';
COMMENT ON CONSTRAINT campaigns_status_check ON campaigns IS
    '{"field": "status", "message": "must be one of draft, active, paused, completed"}';
COMMENT ON CONSTRAINT campaigns_daily_budget_check ON campaigns IS
    '{"field": "daily_budget", "message": "must be >= 0 and < 1000000000000"}';
COMMENT ON CONSTRAINT campaigns_max_budget_bounds_check ON campaigns IS
    '{"field": "max_budget", "message": "must be >= 0 and < 1000000000000"}';
COMMENT ON CONSTRAINT campaigns_max_budget_check ON campaigns IS
    '{"field": "max_budget", "message": "must be empty or >= daily_budget"}';
COMMENT ON CONSTRAINT campaign_metrics_period_check ON campaign_metrics IS
    '{"field": "period_end", "message": "must be after period_start"}';
COMMENT ON CONSTRAINT campaign_metrics_counts_check ON campaign_metrics IS
    '{"field": "rows", "message": "counts must be whole numbers from 0 to 9007199254740991"}';
COMMENT ON CONSTRAINT campaign_metrics_money_check ON campaign_metrics IS
    '{"field": "rows", "message": "spend and revenue must be >= 0 and < 1000000000000"}';
COMMENT ON CONSTRAINT autonomous_rules_name_key ON autonomous_rules IS
    '{"field": "name", "message": "a rule with this name exists"}';
COMMENT ON CONSTRAINT autonomous_rules_name_check ON autonomous_rules IS
    '{"field": "name", "message": "must be 1 to 200 characters, not blank"}';
COMMENT ON CONSTRAINT autonomous_rules_name_text_check ON autonomous_rules IS
    '{"field": "name", "message": "must not contain control characters (tab and newline are allowed)"}';
COMMENT ON CONSTRAINT autonomous_rules_description_check ON autonomous_rules IS
    '{"field": "description", "message": "must be at most 2,000 characters without control characters"}';
COMMENT ON CONSTRAINT social_accounts_platform_account_key ON social_accounts IS
    '{"field": "account_id", "message": "this account is already connected"}';
COMMENT ON CONSTRAINT social_accounts_account_id_check ON social_accounts IS
    '{"field": "account_id", "message": "must be 1 to 200 letters, digits or _ . : -"}';
COMMENT ON CONSTRAINT social_accounts_display_name_check ON social_accounts IS
    '{"field": "display_name", "message": "must be at most 200 characters without control characters"}';
COMMENT ON CONSTRAINT autonomous_actions_rollback_reason_check ON autonomous_actions IS
    '{"field": "reason", "message": "must be at most 1,000 characters without control characters"}';
