-- 02_basics.sql: errors meant for callers, the formatting of money, rates and URL values in texts, the
-- decisions' clock, and the names other processes share with the database (notify channels, advisory
-- lock keys).
--
-- Errors for callers use SQLSTATEs of class AO, which the API maps to HTTP problems: AO422 bad input
-- (DETAIL: {"field": ..., "message": ...}), AO404 not found, AO409 conflict.

CREATE OR REPLACE FUNCTION ao_raise_422(p_field text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: %', p_field, p_message USING ERRCODE = 'AO422',
        DETAIL = jsonb_build_object('field', p_field, 'message', p_message)::text;
END;
$$;
COMMENT ON FUNCTION ao_raise_422(text, text) IS
    'Raises a bad-input error (SQLSTATE AO422) naming the field, which the API turns into a 422 problem.';

-- STABLE, as to_char is (it reads the locale settings): an IMMUTABLE function over a STABLE one is never
-- inlined, and a call that is not inlined costs four times the formatting, on every reason and
-- description a cycle writes.
CREATE OR REPLACE FUNCTION ao_money(p numeric) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT to_char(coalesce(p, 0), 'FM$999,999,999,990.00') $$;
COMMENT ON FUNCTION ao_money(numeric) IS 'An amount of money with two decimals, for descriptions.';

-- An account's money in its own currency: the symbol where it is unambiguous, else the ISO code after
-- the amount; no decimals for the currencies that have none.
CREATE OR REPLACE FUNCTION ao_money(p numeric, p_currency text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE coalesce(p_currency, 'USD')
               WHEN 'USD' THEN to_char(coalesce(p, 0), 'FM$999,999,999,990.00')
               WHEN 'EUR' THEN to_char(coalesce(p, 0), 'FM€999,999,999,990.00')
               WHEN 'GBP' THEN to_char(coalesce(p, 0), 'FM£999,999,999,990.00')
               WHEN 'JPY' THEN to_char(round(coalesce(p, 0)), 'FM¥999,999,999,999,990')
               WHEN 'KRW' THEN to_char(round(coalesce(p, 0)), 'FM999,999,999,999,990') || ' KRW'
               ELSE to_char(coalesce(p, 0), 'FM999,999,999,990.00') || ' ' || p_currency END
$$;
COMMENT ON FUNCTION ao_money(numeric, text) IS
    'An amount of money in its currency, for descriptions: $1,234.50, €1,234.50, £1,234.50, ¥1,235, else 1,234.50 CHF.';

CREATE OR REPLACE FUNCTION ao_pct(p numeric) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT CASE WHEN p IS NULL THEN 'n/a' ELSE to_char(p * 100, 'FM999,990.00') || '%' END $$;
COMMENT ON FUNCTION ao_pct(numeric) IS 'A rate as a percentage with two decimals, for descriptions.';

-- RFC 3986 unreserved characters are kept.
CREATE OR REPLACE FUNCTION ao_urlencode(p text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(
        CASE WHEN ch ~ '^[A-Za-z0-9._~-]$' THEN ch
             ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END,
        '' ORDER BY i), '')
    FROM regexp_split_to_table(p, '') WITH ORDINALITY AS t(ch, i)
$$;
COMMENT ON FUNCTION ao_urlencode(text) IS 'Percent-encodes a query value, for UTM tags built in SQL.';

-- A second evaluation in one transaction (an analytics call, then a cycle) starts clean.
CREATE OR REPLACE FUNCTION _ao_drop_work_table(p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- a work view over a work table (_ao_detect over _ao_stats) goes with it
    IF to_regclass('pg_temp.' || quote_ident(p_name)) IS NOT NULL THEN
        EXECUTE format('DROP %s pg_temp.%I CASCADE',
                       CASE (SELECT relkind FROM pg_class WHERE oid = to_regclass('pg_temp.' || quote_ident(p_name)))
                            WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, p_name);
    END IF;
END;
$$;
COMMENT ON FUNCTION _ao_drop_work_table(text) IS
    'Drops a transaction-local work table (or work view) of the cycle if it exists, with the work views over it, so that the step that makes it can make it afresh.';

-- The clock of the decisions. A backtest replays them as of past moments: it sets ao.as_of (for its
-- transaction only) and ao.replay, and every decision step reads its "now" and its state through these,
-- so the replay runs the very functions a cycle runs.
CREATE OR REPLACE FUNCTION ao_as_of() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('ao.as_of', true), '')::timestamptz $$;
COMMENT ON FUNCTION ao_as_of() IS
    'The moment a backtest replays the decisions at (ao.as_of, transaction-local), or NULL in a live cycle.';

CREATE OR REPLACE FUNCTION ao_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT coalesce(ao_as_of(), now()) $$;
COMMENT ON FUNCTION ao_now() IS
    'The decisions'' "now": the transaction''s start in a cycle, the replayed moment in a backtest.';

CREATE OR REPLACE FUNCTION ao_cycle_account() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('ao.cycle_account', true), '')::uuid $$;
COMMENT ON FUNCTION ao_cycle_account() IS
    'The one ad account a cycle decides for (ao.cycle_account, transaction-local, set by run_account_cycle), or NULL in a cycle of every account.';

CREATE OR REPLACE FUNCTION ao_replaying() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT coalesce(current_setting('ao.replay', true), '') <> '' $$;
COMMENT ON FUNCTION ao_replaying() IS
    'True inside a backtest''s replay: the decision steps then read and write the replay''s work tables (_ao_replay_campaigns, _ao_replay_actions, _ao_replay_rules, _ao_replay_settings) instead of the live ones.';

-- 'campaigns' is what the steps read (status, budget and lifetime totals as of the clock), 'campaign
-- states' what they write (status and budget): the same live table, two relations in a replay.
CREATE OR REPLACE FUNCTION ao_state_table(p_kind text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN ao_replaying() THEN
               CASE p_kind WHEN 'campaigns' THEN '_ao_replay_campaigns_at' WHEN 'campaign states' THEN '_ao_replay_campaigns'
                           WHEN 'actions' THEN '_ao_replay_actions' WHEN 'rules' THEN '_ao_replay_rules'
                           WHEN 'settings' THEN '_ao_replay_settings' END
           ELSE
               CASE p_kind WHEN 'campaigns' THEN 'campaigns' WHEN 'campaign states' THEN 'campaigns'
                           WHEN 'actions' THEN 'autonomous_actions' WHEN 'rules' THEN 'autonomous_rules'
                           WHEN 'settings' THEN 'autonomous_settings' END
           END
$$;
COMMENT ON FUNCTION ao_state_table(text) IS
    'Which relation holds campaigns (as read, with lifetime totals), campaign states (as written), actions, rules or settings for the decision steps: the live table, or in a backtest the replay''s transaction-local copy (a whitelist: no other name can come out).';

CREATE OR REPLACE FUNCTION ao_duration(p interval) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p IS NULL THEN NULL
        WHEN p < interval '1 minute' THEN 'just now'
        WHEN p < interval '1 hour' THEN floor(extract(epoch FROM p) / 60)::int || ' min'
        WHEN p < interval '1 day' THEN floor(extract(epoch FROM p) / 3600)::int || ' h'
             || CASE WHEN floor(extract(epoch FROM p) / 60)::int % 60 > 0
                     THEN ' ' || floor(extract(epoch FROM p) / 60)::int % 60 || ' min' ELSE '' END
        ELSE floor(extract(epoch FROM p) / 86400)::int || ' d'
             || CASE WHEN floor(extract(epoch FROM p) / 3600)::int % 24 > 0
                     THEN ' ' || floor(extract(epoch FROM p) / 3600)::int % 24 || ' h' ELSE '' END
    END
$$;
COMMENT ON FUNCTION ao_duration(interval) IS
    'A duration in words for people ("just now", "12 min", "3 h 10 min", "2 d 4 h").';

-- The background loops listen on these (app/background/__init__.py names the same; a test holds the
-- two together).
CREATE OR REPLACE FUNCTION ao_channels() RETURNS TABLE (kind text, channel text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('posts', 'ao_posts'), ('metrics', 'ao_metrics'), ('webhooks', 'ao_webhooks'),
           ('backtests', 'ao_backtests'), ('syncs', 'ao_syncs'), ('changes', 'ao_changes')
$$;
COMMENT ON FUNCTION ao_channels() IS
    'The NOTIFY channel of each kind of work the database announces at commit: posts due, metrics for the trigger rules, webhook deliveries, backtests queued, ad account syncs asked for, platform changes to send.';

CREATE OR REPLACE FUNCTION ao_channel(p_kind text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT channel FROM ao_channels() WHERE kind = p_kind $$;
COMMENT ON FUNCTION ao_channel(text) IS 'The NOTIFY channel of one kind of work (ao_channels).';

-- The migration lock is taken before any function exists: app/db/migrations.py holds its key too, and
-- a test holds the two together.
CREATE OR REPLACE FUNCTION ao_lock_keys() RETURNS TABLE (name text, key bigint)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('migrations', 7415002::bigint), ('cycle', 7415003::bigint), ('evaluation', 7415004::bigint),
           ('backtest runner', 7415005::bigint), ('metric roll-up', 7415006::bigint)
$$;
COMMENT ON FUNCTION ao_lock_keys() IS
    'Every advisory lock key the service takes: migrations (one migrator at a time), cycle (one cycle at a time), evaluation (a cycle and a scoped evaluation of new metrics never overlap), backtest runner (one backtest runs at a time), metric roll-up (one roll-up at a time).';

CREATE OR REPLACE FUNCTION ao_lock_key(p_name text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT key FROM ao_lock_keys() WHERE name = p_name $$;
COMMENT ON FUNCTION ao_lock_key(text) IS 'The advisory lock key of one of the service''s locks (ao_lock_keys).';

-- One order everywhere: by account, then by id. A lock per account is one statement per account's
-- campaigns, the form a database split by account (Citus) can lock rows in.
CREATE OR REPLACE FUNCTION _ao_lock_campaigns(p_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_account uuid;
    v_ids uuid[];
BEGIN
    FOR v_account, v_ids IN
        SELECT c.account_id, array_agg(c.id ORDER BY c.id) FROM campaigns c WHERE c.id = ANY (p_ids)
         GROUP BY c.account_id ORDER BY c.account_id LOOP
        PERFORM 1 FROM campaigns c WHERE c.account_id = v_account AND c.id = ANY (v_ids)
         ORDER BY c.id FOR NO KEY UPDATE;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION _ao_lock_campaigns(uuid[]) IS
    'Locks the campaigns (NO KEY UPDATE: their totals, status and budget change, never their key) in the one order every writer takes them in: by account, then by id.';
