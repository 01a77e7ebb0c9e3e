-- 017_ad_accounts.sql: the ad accounts campaigns belong to (Meta, Google Ads, or manual: data pushed or
-- imported by an operator), their syncs, and the revisions of the days a sync re-reads.

-- ISO 4217's currencies (the active codes, without the precious metals, the funds and the test codes).
CREATE OR REPLACE FUNCTION ao_is_currency(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p = ANY ('{AED,AFN,ALL,AMD,ANG,AOA,ARS,AUD,AWG,AZN,BAM,BBD,BDT,BGN,BHD,BIF,BMD,BND,BOB,BRL,BSD,BTN,
        BWP,BYN,BZD,CAD,CDF,CHF,CLP,CNY,COP,CRC,CUP,CVE,CZK,DJF,DKK,DOP,DZD,EGP,ERN,ETB,EUR,FJD,FKP,GBP,GEL,
        GHS,GIP,GMD,GNF,GTQ,GYD,HKD,HNL,HTG,HUF,IDR,ILS,INR,IQD,IRR,ISK,JMD,JOD,JPY,KES,KGS,KHR,KMF,KPW,KRW,
        KWD,KYD,KZT,LAK,LBP,LKR,LRD,LSL,LYD,MAD,MDL,MGA,MKD,MMK,MNT,MOP,MRU,MUR,MVR,MWK,MXN,MYR,MZN,NAD,NGN,
        NIO,NOK,NPR,NZD,OMR,PAB,PEN,PGK,PHP,PKR,PLN,PYG,QAR,RON,RSD,RUB,RWF,SAR,SBD,SCR,SDG,SEK,SGD,SHP,SLE,
        SOS,SRD,SSP,STN,SVC,SYP,SZL,THB,TJS,TMT,TND,TOP,TRY,TTD,TWD,TZS,UAH,UGX,USD,UYU,UZS,VES,VND,VUV,WST,
        XAF,XCD,XCG,XOF,XPF,YER,ZAR,ZMW,ZWG}'::text[])
$$;
COMMENT ON FUNCTION ao_is_currency(text) IS
    'True for an ISO 4217 currency code in use (e.g. USD, JPY), the currencies an ad account can have.';

CREATE TABLE ad_accounts (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    platform              text NOT NULL,
    external_id           text NOT NULL,
    name                  text NOT NULL,
    currency              text NOT NULL,
    timezone              text NOT NULL,
    credentials_encrypted bytea,
    credentials_last4     text,
    mode                  text NOT NULL DEFAULT 'observe',
    status                text NOT NULL DEFAULT 'active',
    is_sandbox            boolean NOT NULL DEFAULT false,
    last_sync_at          timestamptz,
    last_error            text,
    next_sync_at          timestamptz,
    sync_claimed_by       text,
    sync_claimed_until    timestamptz,
    created_by            text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ad_accounts_platform_check CHECK (platform IN ('meta', 'google', 'manual')),
    CONSTRAINT ad_accounts_external_id_check CHECK (
        (platform = 'meta' AND external_id ~ '^act_[0-9]{1,20}$')
        OR (platform = 'google' AND external_id ~ '^[0-9]{10}$')
        OR (platform = 'manual' AND length(external_id) BETWEEN 1 AND 100 AND ao_is_clean_text(external_id))),
    CONSTRAINT ad_accounts_name_check CHECK (length(btrim(name)) >= 1 AND length(btrim(name)) <= 200 AND ao_is_clean_text(name)),
    CONSTRAINT ad_accounts_currency_check CHECK (ao_is_currency(currency)),
    CONSTRAINT ad_accounts_timezone_check CHECK (length(timezone) <= 64 AND timezone ~ '^[A-Za-z][A-Za-z0-9_+/-]*$'),
    CONSTRAINT ad_accounts_mode_check CHECK (mode IN ('observe', 'approve', 'autopilot')),
    CONSTRAINT ad_accounts_status_check CHECK (status IN ('active', 'error', 'revoked')),
    CONSTRAINT ad_accounts_credentials_check CHECK (
        (platform = 'manual' OR is_sandbox) = (credentials_encrypted IS NULL)),
    CONSTRAINT ad_accounts_last_error_check CHECK (length(last_error) <= 2000),
    CONSTRAINT ad_accounts_platform_external_id_key UNIQUE (platform, external_id)
);
COMMENT ON TABLE ad_accounts IS
    'The ad accounts campaigns belong to: a Meta ad account (act_<digits>), a Google Ads customer (10 digits), or a manual one (data pushed or imported by an operator); currency and time zone are the platform''s, credentials encrypted.';
COMMENT ON CONSTRAINT ad_accounts_platform_check ON ad_accounts IS
    '{"field": "platform", "message": "must be meta, google or manual"}';
COMMENT ON CONSTRAINT ad_accounts_external_id_check ON ad_accounts IS
    '{"field": "external_id", "message": "must be the platform''s account id: act_ and digits for Meta (e.g. act_1234567890), 10 digits for Google Ads (e.g. 123-456-7890, dashes dropped), a name of 1 to 100 characters for a manual account"}';
COMMENT ON CONSTRAINT ad_accounts_name_check ON ad_accounts IS
    '{"field": "name", "message": "must be 1 to 200 characters without control characters"}';
COMMENT ON CONSTRAINT ad_accounts_currency_check ON ad_accounts IS
    '{"field": "currency", "message": "must be an ISO 4217 code, e.g. USD"}';
COMMENT ON CONSTRAINT ad_accounts_timezone_check ON ad_accounts IS
    '{"field": "timezone", "message": "must be an IANA time zone, e.g. America/Los_Angeles"}';
COMMENT ON CONSTRAINT ad_accounts_mode_check ON ad_accounts IS
    '{"field": "mode", "message": "must be observe, approve or autopilot"}';
COMMENT ON CONSTRAINT ad_accounts_status_check ON ad_accounts IS
    '{"field": "status", "message": "must be active, error or revoked"}';
COMMENT ON CONSTRAINT ad_accounts_platform_external_id_key ON ad_accounts IS
    '{"field": "external_id", "message": "this account is connected already"}';
CREATE INDEX ad_accounts_due_idx ON ad_accounts (next_sync_at)
    WHERE status = 'active' AND platform <> 'manual';
-- The time zone is checked against the database's own list of IANA zones (a trigger: a CHECK may not
-- read a catalog); the body is in sql/functions/24_ad_accounts.sql.
CREATE OR REPLACE FUNCTION ad_accounts_validate() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER ad_accounts_validate BEFORE INSERT OR UPDATE OF timezone ON ad_accounts
    FOR EACH ROW EXECUTE FUNCTION ad_accounts_validate();
CREATE TRIGGER ad_accounts_touch BEFORE UPDATE ON ad_accounts FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER ad_accounts_refuse_delete BEFORE DELETE ON ad_accounts
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('DELETE');
ALTER TABLE ad_accounts ENABLE ALWAYS TRIGGER ad_accounts_refuse_delete;

-- The account of every campaign that has none of its own: today's campaigns, and those pushed or
-- imported without an account.
INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, mode, created_by)
VALUES ('manual', 'manual', 'Manual', 'USD', 'UTC', 'autopilot', 'migration 017');

CREATE OR REPLACE FUNCTION ao_manual_account_id() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT id FROM ad_accounts WHERE platform = 'manual' AND external_id = 'manual' $$;
COMMENT ON FUNCTION ao_manual_account_id() IS
    'The manual account campaigns go to when none is named (created by migration 017).';

ALTER TABLE campaigns
    ADD COLUMN account_id uuid REFERENCES ad_accounts (id) ON DELETE RESTRICT;
UPDATE campaigns SET account_id = ao_manual_account_id();
-- What the platform showed at the last sync (NULL for a campaign no platform has): the next wave's
-- writes compare with it before they change anything.
ALTER TABLE campaigns
    ADD COLUMN platform_status text,
    ADD COLUMN platform_daily_budget numeric(14, 2),
    ADD COLUMN platform_seen_at timestamptz;
ALTER TABLE campaigns
    ALTER COLUMN account_id SET DEFAULT ao_manual_account_id(),
    ALTER COLUMN account_id SET NOT NULL,
    DROP CONSTRAINT campaigns_external_id_key,
    ADD CONSTRAINT campaigns_account_external_id_key UNIQUE (account_id, external_id),
    ADD CONSTRAINT campaigns_platform_status_check CHECK (platform_status ~ '^[A-Z_]{1,40}$'),
    ADD CONSTRAINT campaigns_platform_daily_budget_check CHECK (ao_is_money(platform_daily_budget));
COMMENT ON CONSTRAINT campaigns_account_external_id_key ON campaigns IS
    '{"field": "external_id", "message": "a campaign of this account has this external_id"}';
COMMENT ON CONSTRAINT campaigns_platform_status_check ON campaigns IS
    '{"field": "platform_status", "message": "must be the platform''s status word, e.g. ACTIVE"}';
COMMENT ON CONSTRAINT campaigns_platform_daily_budget_check ON campaigns IS
    '{"field": "platform_daily_budget", "message": "must be >= 0 and < 1000000000000"}';
CREATE INDEX campaigns_account_idx ON campaigns (account_id);
COMMENT ON CONSTRAINT campaigns_account_id_fkey ON campaigns IS
    '{"field": "account_id", "message": "no ad account has this id"}';

-- The view's columns so far, then the account and what its platform showed.
CREATE OR REPLACE VIEW campaigns_with_kpis WITH (security_invoker = true) AS
SELECT c.id, c.external_id, c.title, c.description, c.image_url, c.cta_label, c.landing_url, c.status,
       c.daily_budget, c.max_budget, c.started_at, c.created_at, c.updated_at, c.impressions, c.reach,
       c.clicks, c.conversions, c.spend, c.revenue,
       round(c.revenue / NULLIF(c.spend, 0), 6)                  AS roi,
       round(c.clicks::numeric / NULLIF(c.impressions, 0), 6)     AS ctr,
       round(c.conversions::numeric / NULLIF(c.clicks, 0), 6)     AS conversion_rate,
       round(c.spend / NULLIF(c.conversions, 0), 4)               AS cpa,
       c.account_id, c.platform_status, c.platform_daily_budget, c.platform_seen_at
FROM campaigns c;

-- The syncs of an account: when, what was read, what was revised, how long the platform held it back.
CREATE TABLE ad_account_syncs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id        uuid NOT NULL REFERENCES ad_accounts (id) ON DELETE RESTRICT,
    trigger           text NOT NULL DEFAULT 'schedule',
    status            text NOT NULL DEFAULT 'running',
    started_at        timestamptz NOT NULL DEFAULT now(),
    claimed_at        timestamptz,
    claimed_by        text,
    finished_at       timestamptz,
    date_from         date,
    date_to           date,
    campaigns_read    integer NOT NULL DEFAULT 0,
    rows_read         integer NOT NULL DEFAULT 0,
    rows_revised      integer NOT NULL DEFAULT 0,
    requests          integer NOT NULL DEFAULT 0,
    throttled_seconds numeric(12, 3) NOT NULL DEFAULT 0,
    error             text,
    created_by        text,
    CONSTRAINT ad_account_syncs_trigger_check CHECK (trigger IN ('schedule', 'api', 'cli', 'connect')),
    CONSTRAINT ad_account_syncs_status_check CHECK (status IN ('running', 'succeeded', 'failed')),
    CONSTRAINT ad_account_syncs_counts_check CHECK (
        campaigns_read >= 0 AND rows_read >= 0 AND rows_revised >= 0 AND requests >= 0 AND throttled_seconds >= 0),
    CONSTRAINT ad_account_syncs_error_check CHECK (length(error) <= 2000)
);
COMMENT ON TABLE ad_account_syncs IS
    'Each sync of an account: started, finished, the days read, campaigns and rows read, rows revised, requests made, seconds the platform''s rate limits held it back, and the error of one that failed.';
CREATE INDEX ad_account_syncs_account_idx ON ad_account_syncs (account_id, started_at DESC, id DESC);
CREATE UNIQUE INDEX ad_account_syncs_one_running_idx ON ad_account_syncs (account_id) WHERE status = 'running';
CREATE TRIGGER ad_account_syncs_refuse_delete BEFORE DELETE ON ad_account_syncs
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('DELETE');
ALTER TABLE ad_account_syncs ENABLE ALWAYS TRIGGER ad_account_syncs_refuse_delete;

-- What each re-read day showed, and when: the first report of a period and every change after it.
CREATE TABLE metric_revisions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id   uuid NOT NULL REFERENCES campaigns (id) ON DELETE RESTRICT,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    observed_at   timestamptz NOT NULL DEFAULT now(),
    sync_id       uuid REFERENCES ad_account_syncs (id) ON DELETE RESTRICT,
    conversions   bigint NOT NULL,
    revenue       numeric(16, 4) NOT NULL,
    spend         numeric(16, 4) NOT NULL,
    CONSTRAINT metric_revisions_period_check CHECK (period_end > period_start)
);
COMMENT ON TABLE metric_revisions IS
    'What a synced period showed when it was read: its first report and each later report that differed (late conversions, revised spend). Append-only: what was known, when.';
CREATE INDEX metric_revisions_campaign_idx ON metric_revisions (campaign_id, period_start, observed_at);
CREATE TRIGGER metric_revisions_append_only BEFORE UPDATE OR DELETE ON metric_revisions
    FOR EACH ROW EXECUTE FUNCTION ao_refuse_change('an update or a delete');
ALTER TABLE metric_revisions ENABLE ALWAYS TRIGGER metric_revisions_append_only;

ALTER TABLE ad_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ad_account_syncs ENABLE ROW LEVEL SECURITY;
ALTER TABLE metric_revisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY ad_accounts_privileged ON ad_accounts FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
CREATE POLICY ad_account_syncs_privileged ON ad_account_syncs FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
CREATE POLICY metric_revisions_privileged ON metric_revisions FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON ad_accounts, ad_account_syncs TO ao_app;
GRANT SELECT, INSERT ON metric_revisions TO ao_app;

-- A new event: a platform refused an account's credentials (or the account failed to sync for good).
CREATE OR REPLACE FUNCTION ao_event_types() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['action.executed', 'action.rolled_back', 'cycle.failed', 'cycle.held', 'cycle.limited',
                 'rule.error', 'opportunity.opened', 'post.failed', 'post.unknown', 'social_account.expired',
                 'ad_account.error']
$$;

-- ad_account.error when an account's platform refuses its credentials; the body is in
-- sql/functions/24_ad_accounts.sql.
CREATE OR REPLACE FUNCTION ao_events_from_ad_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER ad_accounts_events AFTER UPDATE ON ad_accounts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ao_events_from_ad_accounts();
ALTER TABLE ad_accounts ENABLE ALWAYS TRIGGER ad_accounts_events;

-- A synced day read whole takes the place of the hours read while it was today: the one delete of
-- metric rows there is (their sum stays in metric_revisions), allowed only to that step. The guard's
-- body is in sql/functions/04_ingestion.sql.
CREATE OR REPLACE FUNCTION campaign_metrics_guard_delete() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER campaign_metrics_guard_delete BEFORE DELETE ON campaign_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_metrics_guard_delete();
ALTER TABLE campaign_metrics ENABLE ALWAYS TRIGGER campaign_metrics_guard_delete;
CREATE TRIGGER campaign_metrics_no_truncate BEFORE TRUNCATE ON campaign_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION ao_refuse_change('TRUNCATE');
ALTER TABLE campaign_metrics ENABLE ALWAYS TRIGGER campaign_metrics_no_truncate;
GRANT DELETE ON campaign_metrics TO ao_app;
