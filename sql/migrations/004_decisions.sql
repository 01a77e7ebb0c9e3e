-- 004_decisions.sql: the decision engine added no table. Its functions live in sql/functions/; the
-- validation trigger of rules is created here (its function starts as a placeholder), so that every
-- rule written, by the API or in psql, is checked by the database.

CREATE OR REPLACE FUNCTION autonomous_rules_validate() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;

CREATE TRIGGER autonomous_rules_validate BEFORE INSERT OR UPDATE ON autonomous_rules
    FOR EACH ROW EXECUTE FUNCTION autonomous_rules_validate();
