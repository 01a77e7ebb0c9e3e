-- 020_rule_accounts.sql: a rule applies to every ad account, or to the ones it lists.
ALTER TABLE autonomous_rules
    ADD COLUMN account_ids uuid[],
    ADD CONSTRAINT autonomous_rules_account_ids_check
        CHECK (account_ids IS NULL OR cardinality(account_ids) BETWEEN 1 AND 200);
COMMENT ON COLUMN autonomous_rules.account_ids IS
    'The ad accounts the rule applies to; NULL: every account.';
COMMENT ON CONSTRAINT autonomous_rules_account_ids_check ON autonomous_rules IS
    '{"field": "account_ids", "message": "must list 1 to 200 ad account ids, or be null for every account"}';
