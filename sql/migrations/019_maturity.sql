-- 019_maturity.sql: late attribution. A day's conversions and revenue arrive over the days after it;
-- each ad account's maturity curve F(k) (the share of a day's final figures reported k whole days after
-- it ended) is learned from metric_revisions, with a default curve in the settings until the account has
-- maturity_min_days days to learn from.

-- The default curve, F(0), F(1), …: non-decreasing in (0, 1], ending at 1, at most 28 days (checked with
-- the position named by ao_maturity_curve_problem, in sql/functions/26_maturity.sql).
CREATE OR REPLACE FUNCTION ao_maturity_curve_problem(p_curve numeric[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT NULL::text[] $$;
ALTER TABLE autonomous_settings
    ADD COLUMN maturity_default_curve numeric[] NOT NULL DEFAULT '{0.6, 0.8, 0.9, 0.95, 1}',
    ADD COLUMN maturity_min_days integer NOT NULL DEFAULT 14,
    ADD CONSTRAINT autonomous_settings_maturity_default_curve_check
        CHECK (ao_maturity_curve_problem(maturity_default_curve) IS NULL),
    ADD CONSTRAINT autonomous_settings_maturity_min_days_check CHECK (maturity_min_days BETWEEN 1 AND 365);
COMMENT ON CONSTRAINT autonomous_settings_maturity_default_curve_check ON autonomous_settings IS
    '{"field": "maturity_default_curve", "message": "must be 1 to 28 shares in (0, 1], never decreasing, the last 1"}';
COMMENT ON CONSTRAINT autonomous_settings_maturity_min_days_check ON autonomous_settings IS
    '{"field": "maturity_min_days", "message": "must be a whole number of days from 1 to 365"}';

-- Each account's learned curve: one row, replaced when it is learned again (a sync).
CREATE TABLE account_maturity (
    account_id   uuid PRIMARY KEY REFERENCES ad_accounts (id) ON DELETE RESTRICT,
    conversions  numeric[] NOT NULL,      -- F(0), F(1), …, 1
    revenue      numeric[] NOT NULL,
    days         integer NOT NULL,        -- the days it was learned from
    clamped      boolean NOT NULL DEFAULT false,
    note         text,
    learned_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_maturity_days_check CHECK (days >= 0),
    CONSTRAINT account_maturity_note_check CHECK (length(note) <= 500)
);
COMMENT ON TABLE account_maturity IS
    'The maturity curve learned for each connected ad account from what its syncs saw of each day (metric_revisions): the share of the final conversions and revenue reported k whole days after the day ended; clamped (and saying so) where revisions contradict themselves.';
ALTER TABLE account_maturity ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_maturity_privileged ON account_maturity FOR ALL TO ao_app
    USING ((SELECT app_auth.is_privileged())) WITH CHECK ((SELECT app_auth.is_privileged()));
GRANT SELECT, INSERT, UPDATE ON account_maturity TO ao_app;

-- How a rule reads the young days of connected accounts: as they will show (matured, the default) or
-- as reported so far.
ALTER TABLE autonomous_rules
    ADD COLUMN reading text NOT NULL DEFAULT 'matured',
    ADD CONSTRAINT autonomous_rules_reading_check CHECK (reading IN ('matured', 'as_reported'));
COMMENT ON CONSTRAINT autonomous_rules_reading_check ON autonomous_rules IS
    '{"field": "reading", "message": "must be matured (young days read as they will show) or as_reported"}';
