-- 24_ad_accounts.sql: ad accounts and their syncs. A worker claims one due account at a time (SKIP
-- LOCKED, a lease), reads it from its platform (app/platforms/), and hands everything it read to
-- record_ad_account_sync in one transaction: the campaigns as the platform has them, the days of the
-- range in the account's time zone, the revisions of the days re-read. A sync that fails writes only its
-- failure, so what was stored before stays.

CREATE OR REPLACE FUNCTION ad_accounts_validate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = NEW.timezone AND name !~ '^(posix|right)/') THEN
        PERFORM ao_raise_422('timezone', 'must be an IANA time zone, e.g. America/Los_Angeles');
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION ad_accounts_validate() IS
    'Refuses an ad account whose time zone is not one of the IANA zones the database knows (its days are computed in it).';

CREATE OR REPLACE FUNCTION ao_ad_account_document(a ad_accounts) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', a.id, 'platform', a.platform, 'external_id', a.external_id, 'name', a.name,
        'currency', a.currency, 'timezone', a.timezone, 'mode', a.mode, 'status', a.status,
        'is_sandbox', a.is_sandbox, 'credentials_last4', a.credentials_last4, 'last_sync_at', a.last_sync_at,
        'next_sync_at', a.next_sync_at, 'last_error', a.last_error,
        'campaigns', (SELECT count(*) FROM campaigns c WHERE c.account_id = a.id),
        'created_at', a.created_at, 'updated_at', a.updated_at)
$$;
COMMENT ON FUNCTION ao_ad_account_document(ad_accounts) IS
    'An ad account as GET /ad-accounts/{id} returns it (never its credentials), for ad_account.error.';

CREATE OR REPLACE FUNCTION ao_events_from_ad_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM _ao_emit_all('ad_account.error',
        (SELECT array_agg(ao_ad_account_document(n) ORDER BY n.id)
           FROM new_rows n JOIN old_rows o ON o.id = n.id
          WHERE n.status = 'error' AND o.status IS DISTINCT FROM 'error'));
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION ao_events_from_ad_accounts() IS
    'Statement trigger on ad_accounts: ad_account.error when a platform refuses an account''s credentials (its syncs stop until they are rotated).';

CREATE OR REPLACE FUNCTION ao_account_today(p_timezone text) RETURNS date
LANGUAGE sql STABLE AS $$ SELECT (now() AT TIME ZONE p_timezone)::date $$;
COMMENT ON FUNCTION ao_account_today(text) IS 'Today in an account''s time zone: the day its hours are read for.';

-- A local hour h of a day starts at (day + h hours) in the zone; it ends where hour h + 1 starts, so the
-- hour a DST change repeats lasts two hours and the periods of a day meet end to end.
CREATE OR REPLACE FUNCTION ao_account_period(p_day date, p_hour integer, p_timezone text,
                                              OUT period_start timestamptz, OUT period_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_hour IS NULL THEN p_day::timestamp AT TIME ZONE p_timezone
                ELSE (p_day + make_interval(hours => p_hour)) AT TIME ZONE p_timezone END,
           CASE WHEN p_hour IS NULL THEN (p_day + 1)::timestamp AT TIME ZONE p_timezone
                ELSE (p_day + make_interval(hours => p_hour + 1)) AT TIME ZONE p_timezone END
$$;
COMMENT ON FUNCTION ao_account_period(date, integer, text) IS
    'The UTC period of an account''s day (p_hour NULL) or of one of its local hours: a day lasts 23, 24 or 25 hours across DST changes.';

-- ---------------------------------------------------------------------------------------------
-- Asking for, claiming and renewing a sync
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION request_ad_account_sync(p_account_id uuid, p_trigger text, p_by text)
RETURNS ad_account_syncs
LANGUAGE plpgsql AS $$
DECLARE
    v_account ad_accounts;
    v_sync ad_account_syncs;
BEGIN
    SELECT * INTO v_account FROM ad_accounts WHERE id = p_account_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no ad account %', p_account_id USING ERRCODE = 'AO404';
    END IF;
    IF v_account.platform = 'manual' THEN
        RAISE EXCEPTION 'a manual account has no platform to sync from: its data is pushed or imported'
            USING ERRCODE = 'AO409';
    END IF;
    IF v_account.status = 'revoked' THEN
        RAISE EXCEPTION 'the account is revoked: set its status to active to sync it again' USING ERRCODE = 'AO409';
    END IF;
    SELECT * INTO v_sync FROM ad_account_syncs WHERE account_id = p_account_id AND status = 'running';
    IF NOT FOUND THEN
        INSERT INTO ad_account_syncs (account_id, trigger, created_by)
        VALUES (p_account_id, p_trigger, p_by)
        RETURNING * INTO v_sync;
    END IF;
    -- An account in error is tried again when a person asks (e.g. after the platform restored access).
    UPDATE ad_accounts SET next_sync_at = now(), status = 'active' WHERE id = p_account_id;
    PERFORM pg_notify(ao_channel('syncs'), p_account_id::text);
    RETURN v_sync;
END;
$$;
COMMENT ON FUNCTION request_ad_account_sync(uuid, text, text) IS
    'Asks for a sync of a connected account now (the one already asked for or running, if any), and wakes the sync loops; refuses a manual account (AO409) and a revoked one.';

-- The oldest due account whose lease is free, locked past the other workers (SKIP LOCKED). A sync
-- whose worker let its lease lapse is closed as failed before a new one starts.
CREATE OR REPLACE FUNCTION claim_ad_account_sync(p_worker text, p_lease_seconds integer,
                                                 p_account_id uuid DEFAULT NULL)
RETURNS TABLE (sync_id uuid, account_id uuid, platform text, external_id text, currency text,
               timezone text, is_sandbox boolean, credentials_encrypted bytea, first_sync boolean,
               today date)
LANGUAGE plpgsql AS $$
DECLARE
    v_account ad_accounts;
    v_sync_id uuid;
BEGIN
    SELECT a.* INTO v_account
      FROM ad_accounts a
     WHERE a.platform <> 'manual' AND a.status = 'active' AND a.next_sync_at <= now()
       AND (a.sync_claimed_until IS NULL OR a.sync_claimed_until < now())
       AND (p_account_id IS NULL OR a.id = p_account_id)
     ORDER BY a.next_sync_at, a.id
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE ad_account_syncs s
       SET status = 'failed', finished_at = now(),
           error = 'the worker syncing it stopped before it finished (its lease lapsed); nothing it read was kept'
     WHERE s.account_id = v_account.id AND s.status = 'running' AND s.claimed_at IS NOT NULL;
    UPDATE ad_account_syncs s SET claimed_at = now(), claimed_by = p_worker
     WHERE s.account_id = v_account.id AND s.status = 'running'
    RETURNING s.id INTO v_sync_id;
    IF v_sync_id IS NULL THEN
        INSERT INTO ad_account_syncs (account_id, trigger, claimed_at, claimed_by, created_by)
        VALUES (v_account.id, 'schedule', now(), p_worker, p_worker)
        RETURNING id INTO v_sync_id;
    END IF;
    UPDATE ad_accounts a
       SET sync_claimed_by = p_worker, sync_claimed_until = now() + make_interval(secs => p_lease_seconds)
     WHERE a.id = v_account.id;
    RETURN QUERY
    SELECT v_sync_id, v_account.id, v_account.platform, v_account.external_id, v_account.currency,
           v_account.timezone, v_account.is_sandbox, v_account.credentials_encrypted,
           NOT EXISTS (SELECT 1 FROM ad_account_syncs s WHERE s.account_id = v_account.id AND s.status = 'succeeded'),
           ao_account_today(v_account.timezone);
END;
$$;
COMMENT ON FUNCTION claim_ad_account_sync(text, integer, uuid) IS
    'Claims the oldest due, active, connected account whose lease is free (that one account, when p_account_id is given), SKIP LOCKED so two workers never sync one account at once, with a lease; and its sync (the one asked for, else a scheduled one). first_sync: no sync of it has succeeded yet (the backfill is read).';

CREATE OR REPLACE FUNCTION renew_ad_account_lease(p_sync_id uuid, p_lease_seconds integer) RETURNS boolean
LANGUAGE sql AS $$
    WITH renewed AS (
        UPDATE ad_accounts a SET sync_claimed_until = now() + make_interval(secs => p_lease_seconds)
          FROM ad_account_syncs s
         WHERE s.id = p_sync_id AND s.status = 'running' AND a.id = s.account_id
           AND a.sync_claimed_by = s.claimed_by AND a.sync_claimed_until >= now()
        RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM renewed)
$$;
COMMENT ON FUNCTION renew_ad_account_lease(uuid, integer) IS
    'Extends the lease of a sync still running under its worker''s lease (a long read waits out rate limits); false when the lease was lost.';

CREATE OR REPLACE FUNCTION _ao_running_sync(p_sync_id uuid) RETURNS ad_account_syncs
LANGUAGE plpgsql AS $$
DECLARE
    v_sync ad_account_syncs;
BEGIN
    SELECT * INTO v_sync FROM ad_account_syncs WHERE id = p_sync_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no sync %', p_sync_id USING ERRCODE = 'AO404';
    END IF;
    IF v_sync.status <> 'running' OR v_sync.claimed_at IS NULL THEN
        RAISE EXCEPTION 'the sync is % and no longer this worker''s: its lease lapsed', v_sync.status
            USING ERRCODE = 'AO409';
    END IF;
    RETURN v_sync;
END;
$$;
COMMENT ON FUNCTION _ao_running_sync(uuid) IS
    'Locks a sync that a worker has claimed and is still running (AO409 once its lease lapsed and another closed it).';

-- ---------------------------------------------------------------------------------------------
-- What a sync read
-- ---------------------------------------------------------------------------------------------

-- The first thing wrong with what a platform answered, named by campaign and field, or NULL.
CREATE OR REPLACE FUNCTION _ao_sync_read_problem(p_read jsonb, p_account ad_accounts) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_from date;
    v_to date;
    v_hourly date;
    v_problem text;
BEGIN
    IF jsonb_typeof(p_read) IS DISTINCT FROM 'object' OR jsonb_typeof(p_read->'campaigns') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_read->'rows') IS DISTINCT FROM 'array' THEN
        RETURN 'the read must be an object with a campaigns array and a rows array';
    END IF;
    BEGIN
        v_from := (p_read->>'date_from')::date;
        v_to := (p_read->>'date_to')::date;
        v_hourly := (p_read->>'hourly_day')::date;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
        RETURN 'date_from, date_to and hourly_day must be days (YYYY-MM-DD)';
    END;
    IF (v_from IS NULL) <> (v_to IS NULL) OR v_to < v_from OR v_to - v_from > 1096
       OR greatest(v_to, v_hourly) > ao_account_today(p_account.timezone) + 1 THEN
        RETURN 'the day range must run forward, span at most 1,096 days and end by tomorrow in the account''s time zone';
    END IF;
    SELECT format('campaign %s: %s', coalesce(left(x.external_id, 60), '(no id)'), x.problem) INTO v_problem
      FROM (SELECT n.external_id,
                   CASE WHEN n.external_id IS NULL OR length(btrim(n.external_id)) NOT BETWEEN 1 AND 200
                             OR NOT ao_is_clean_text(n.external_id) THEN 'external_id must be 1 to 200 characters'
                        WHEN n.title IS NULL OR length(btrim(n.title)) = 0 OR NOT ao_is_clean_text(n.title)
                             THEN 'title must be a name without control characters'
                        WHEN n.status IS NULL OR n.status NOT IN ('active', 'paused', 'completed')
                             THEN 'status must be active, paused or completed'
                        WHEN n.platform_status !~ '^[A-Z_]{1,40}$' THEN 'platform_status must be the platform''s status word'
                        WHEN NOT ao_is_money(n.daily_budget) THEN 'daily_budget must be >= 0 and < 1000000000000'
                        WHEN count(*) OVER (PARTITION BY n.external_id) > 1 THEN 'is listed twice' END AS problem
              FROM jsonb_to_recordset(p_read->'campaigns') AS n(external_id text, title text, status text,
                                                                 platform_status text, daily_budget numeric)) x
     WHERE x.problem IS NOT NULL
     LIMIT 1;
    IF v_problem IS NOT NULL THEN
        RETURN v_problem;
    END IF;
    SELECT format('campaign %s: %s', coalesce(left(x.external_id, 60), '(no id)'), x.problem) INTO v_problem
      FROM (SELECT r.external_id,
                   CASE WHEN r.day IS NULL THEN 'day is missing'
                        WHEN r.hour IS NULL AND (v_from IS NULL OR r.day NOT BETWEEN v_from AND v_to)
                             THEN format('the day %s is outside the range read (%s to %s)', r.day, v_from, v_to)
                        WHEN r.hour IS NOT NULL AND r.day IS DISTINCT FROM v_hourly
                             THEN format('the hours of %s were not asked for (only %s)', r.day, v_hourly)
                        WHEN r.hour NOT BETWEEN 0 AND 23 THEN format('hour %s is not an hour of the day', r.hour)
                        WHEN NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(p_read->'campaigns') AS n(external_id text)
                                          WHERE n.external_id = r.external_id)
                             THEN 'has insights but is not among the account''s campaigns'
                        WHEN NOT ao_is_count(coalesce(r.impressions, 0)) THEN 'impressions must be a whole number >= 0'
                        WHEN NOT ao_is_count(r.reach) THEN 'reach must be a whole number >= 0'
                        WHEN NOT ao_is_count(coalesce(r.clicks, 0)) THEN 'clicks must be a whole number >= 0'
                        WHEN NOT ao_is_count(coalesce(r.conversions, 0)) THEN 'conversions must be a whole number >= 0'
                        WHEN NOT ao_is_money(coalesce(r.spend, 0)) THEN 'spend must be >= 0 and < 1000000000000'
                        WHEN NOT ao_is_money(coalesce(r.revenue, 0)) THEN 'revenue must be >= 0 and < 1000000000000'
                        WHEN p.period_end <= p.period_start
                             THEN format('hour %s does not exist on %s in %s', r.hour, r.day, p_account.timezone)
                        WHEN count(*) OVER (PARTITION BY r.external_id, r.day, r.hour) > 1
                             THEN format('%s%s is listed twice', r.day, coalesce(' hour ' || r.hour, '')) END AS problem
              FROM jsonb_to_recordset(p_read->'rows') AS r(external_id text, day date, hour integer, impressions numeric,
                                                            reach numeric, clicks numeric, conversions numeric,
                                                            spend numeric, revenue numeric)
              LEFT JOIN LATERAL ao_account_period(r.day, r.hour, p_account.timezone) p ON r.day IS NOT NULL) x
     WHERE x.problem IS NOT NULL
     LIMIT 1;
    RETURN v_problem;
EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range OR invalid_datetime_format
               OR datetime_field_overflow THEN
    RETURN 'a number or a day of the answer does not parse';
END;
$$;
COMMENT ON FUNCTION _ao_sync_read_problem(jsonb, ad_accounts) IS
    'Checks what a sync read before anything is written: the day range, each campaign (id, title, status, budget) and each row (its day inside the range read, its hour, its campaign among the account''s, its counts and money in bounds, each once); the first problem, naming the campaign and the field.';

-- Each day of the range re-read is compared with what was stored for it (its daily row, or the hours
-- read while it was today): the first report of a day and each change are what metric_revisions keeps.
-- The hours of a day, read while it was today (they lack off-Meta conversions), give way to its daily
-- row once the day is read whole: they are kept as the revision of what was known then.
CREATE OR REPLACE FUNCTION record_ad_account_sync(p_sync_id uuid, p_read jsonb, p_next_sync_seconds integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_sync ad_account_syncs;
    v_account ad_accounts;
    v_problem text;
    v_rows jsonb;
    v_revised integer;
    v_ingested jsonb;
    v_campaigns integer;
    v_folded uuid[];
BEGIN
    v_sync := _ao_running_sync(p_sync_id);
    SELECT * INTO v_account FROM ad_accounts WHERE id = v_sync.account_id FOR UPDATE;
    IF jsonb_typeof(p_read->'account') = 'object' THEN
        UPDATE ad_accounts
           SET name = coalesce(left(nullif(btrim(p_read->'account'->>'name'), ''), 200), name),
               currency = coalesce(p_read->'account'->>'currency', currency),
               timezone = coalesce(p_read->'account'->>'timezone', timezone)
         WHERE id = v_account.id
        RETURNING * INTO v_account;
    END IF;
    v_problem := _ao_sync_read_problem(p_read, v_account);
    IF v_problem IS NOT NULL THEN
        PERFORM ao_raise_422('read', v_problem);
    END IF;

    WITH read AS (
        SELECT n.external_id, left(btrim(n.title), 500) AS title, n.status, n.platform_status,
               round(n.daily_budget, 2) AS daily_budget, coalesce(n.budget_shared, false) AS budget_shared
          FROM jsonb_to_recordset(p_read->'campaigns') AS n(external_id text, title text, status text,
                                                             platform_status text, daily_budget numeric,
                                                             budget_shared boolean)
    ), first_days AS (
        SELECT r.external_id, min(r.day) AS day
          FROM jsonb_to_recordset(p_read->'rows') AS r(external_id text, day date)
         GROUP BY r.external_id
    ), upserted AS (
        INSERT INTO campaigns AS c (account_id, external_id, title, status, daily_budget, started_at,
                                    platform_status, platform_daily_budget, platform_budget_shared, platform_seen_at)
        SELECT v_account.id, n.external_id, n.title, n.status, coalesce(n.daily_budget, 0),
               (SELECT p.period_start FROM ao_account_period(f.day, NULL, v_account.timezone) p),
               n.platform_status, n.daily_budget, n.budget_shared, now()
          FROM read n LEFT JOIN first_days f ON f.external_id = n.external_id
         ORDER BY n.external_id
        ON CONFLICT (account_id, external_id) DO UPDATE
           SET title = EXCLUDED.title, status = EXCLUDED.status,
               daily_budget = coalesce(EXCLUDED.platform_daily_budget, c.daily_budget),
               max_budget = CASE WHEN c.max_budget < coalesce(EXCLUDED.platform_daily_budget, c.daily_budget)
                                 THEN EXCLUDED.platform_daily_budget ELSE c.max_budget END,
               started_at = coalesce(c.started_at, EXCLUDED.started_at),
               platform_status = EXCLUDED.platform_status,
               platform_daily_budget = EXCLUDED.platform_daily_budget,
               platform_budget_shared = EXCLUDED.platform_budget_shared, platform_seen_at = now()
        RETURNING 1
    )
    SELECT count(*) INTO v_campaigns FROM upserted;

    PERFORM _ao_drop_work_table('_ao_sync_rows');
    CREATE TEMP TABLE _ao_sync_rows (
        campaign_id uuid, period_start timestamptz, period_end timestamptz, is_day boolean,
        impressions bigint, reach bigint, clicks bigint, conversions bigint, spend numeric, revenue numeric
    ) ON COMMIT DROP;
    INSERT INTO _ao_sync_rows
    SELECT c.id, p.period_start, p.period_end, r.hour IS NULL, coalesce(r.impressions, 0), r.reach,
           coalesce(r.clicks, 0), coalesce(r.conversions, 0), round(coalesce(r.spend, 0), 4),
           round(coalesce(r.revenue, 0), 4)
      FROM jsonb_to_recordset(p_read->'rows') AS r(external_id text, day date, hour integer, impressions bigint,
                                                    reach bigint, clicks bigint, conversions bigint,
                                                    spend numeric, revenue numeric)
      JOIN campaigns c ON c.account_id = v_account.id AND c.external_id = r.external_id
      CROSS JOIN LATERAL ao_account_period(r.day, r.hour, v_account.timezone) p;
    ANALYZE _ao_sync_rows;

    -- What was stored for each day re-read: its own row, or the sum of the hours read while it was today.
    PERFORM _ao_drop_work_table('_ao_sync_stored');
    CREATE TEMP TABLE _ao_sync_stored (
        campaign_id uuid, period_start timestamptz, period_end timestamptz, from_hours boolean,
        seen_at timestamptz, conversions bigint, revenue numeric, spend numeric
    ) ON COMMIT DROP;
    INSERT INTO _ao_sync_stored
    SELECT n.campaign_id, n.period_start, n.period_end,
           bool_or(m.period_end < n.period_end OR m.period_start > n.period_start), max(m.updated_at),
           sum(m.conversions), sum(m.revenue), sum(m.spend)
      FROM _ao_sync_rows n
      JOIN campaign_metrics m ON m.campaign_id = n.campaign_id
                             AND m.period_start >= n.period_start AND m.period_start < n.period_end
     WHERE n.is_day
     GROUP BY n.campaign_id, n.period_start, n.period_end;
    ANALYZE _ao_sync_stored;

    INSERT INTO metric_revisions (campaign_id, account_id, period_start, period_end, observed_at, sync_id,
                                  conversions, revenue, spend)
    SELECT s.campaign_id, v_account.id, s.period_start, s.period_end, s.seen_at, NULL, s.conversions, s.revenue,
           s.spend
      FROM _ao_sync_stored s
     WHERE s.from_hours
    UNION ALL
    SELECT n.campaign_id, v_account.id, n.period_start, n.period_end, now(), p_sync_id, n.conversions, n.revenue,
           n.spend
      FROM _ao_sync_rows n
      LEFT JOIN _ao_sync_stored s ON s.campaign_id = n.campaign_id AND s.period_start = n.period_start
     WHERE n.is_day AND (s.campaign_id IS NULL OR s.from_hours
                         OR (s.conversions, s.revenue, s.spend) IS DISTINCT FROM (n.conversions, n.revenue, n.spend));
    SELECT count(*) INTO v_revised
      FROM _ao_sync_rows n
      JOIN _ao_sync_stored s ON s.campaign_id = n.campaign_id AND s.period_start = n.period_start
     WHERE (s.conversions, s.revenue, s.spend) IS DISTINCT FROM (n.conversions, n.revenue, n.spend);

    -- The hours of a day read whole give way to its row (the hour that starts the day is replaced by it).
    PERFORM set_config('ao.folding_hours', 'on', true);
    WITH folded AS (
        DELETE FROM campaign_metrics m
         USING _ao_sync_rows n
         WHERE n.is_day AND m.campaign_id = n.campaign_id
           AND m.period_start > n.period_start AND m.period_start < n.period_end
        RETURNING m.campaign_id
    )
    SELECT array_agg(DISTINCT campaign_id) INTO v_folded FROM folded;
    PERFORM set_config('ao.folding_hours', 'off', true);

    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'campaign_id', n.campaign_id, 'period_start', n.period_start, 'period_end', n.period_end,
               'impressions', n.impressions, 'reach', n.reach, 'clicks', n.clicks,
               'conversions', n.conversions, 'spend', n.spend, 'revenue', n.revenue)), '[]'::jsonb)
      INTO v_rows
      FROM _ao_sync_rows n;
    v_ingested := ingest_campaign_metrics(v_rows);

    UPDATE ad_account_syncs
       SET status = 'succeeded', finished_at = now(),
           date_from = (p_read->>'date_from')::date, date_to = coalesce((p_read->>'hourly_day')::date,
                                                                       (p_read->>'date_to')::date),
           campaigns_read = v_campaigns, rows_read = (v_ingested->>'rows')::integer, rows_revised = v_revised,
           requests = least(coalesce((p_read->>'requests')::numeric, 0), 2147483647)::integer,
           throttled_seconds = least(coalesce((p_read->>'throttled_seconds')::numeric, 0), 999999999)
     WHERE id = p_sync_id
    RETURNING * INTO v_sync;
    UPDATE ad_accounts
       SET last_sync_at = now(), last_error = NULL, sync_claimed_by = NULL, sync_claimed_until = NULL,
           next_sync_at = now() + make_interval(secs => p_next_sync_seconds)
     WHERE id = v_account.id;
    RETURN to_jsonb(v_sync) || jsonb_build_object('hours_folded_campaigns', coalesce(cardinality(v_folded), 0));
END;
$$;
COMMENT ON FUNCTION record_ad_account_sync(uuid, jsonb, integer) IS
    'Records what a sync read, all or nothing: checks it (AO422 naming the campaign and field), creates or updates the account''s campaigns as the platform has them (no audit action: the audit trail is the engine''s), writes its days and today''s hours as UTC periods of the account''s time zone through ingest_campaign_metrics (totals, trigger rules), keeps in metric_revisions the first report of each day and every change, and schedules the next sync.';

CREATE OR REPLACE FUNCTION fail_ad_account_sync(p_sync_id uuid, p_error text, p_credentials_refused boolean,
                                                p_retry_seconds integer, p_requests integer,
                                                p_throttled_seconds numeric)
RETURNS ad_account_syncs
LANGUAGE plpgsql AS $$
DECLARE
    v_sync ad_account_syncs;
    v_error text := left(coalesce(nullif(btrim(p_error), ''), 'the sync failed'), 2000);
BEGIN
    v_sync := _ao_running_sync(p_sync_id);
    UPDATE ad_account_syncs
       SET status = 'failed', finished_at = now(), error = v_error,
           requests = least(greatest(coalesce(p_requests, 0), 0), 2147483647),
           throttled_seconds = least(greatest(coalesce(p_throttled_seconds, 0), 0), 999999999)
     WHERE id = p_sync_id
    RETURNING * INTO v_sync;
    UPDATE ad_accounts
       SET last_error = v_error, sync_claimed_by = NULL, sync_claimed_until = NULL,
           status = CASE WHEN p_credentials_refused THEN 'error' ELSE status END,
           next_sync_at = now() + make_interval(secs => greatest(p_retry_seconds, 1))
     WHERE id = v_sync.account_id;
    RETURN v_sync;
END;
$$;
COMMENT ON FUNCTION fail_ad_account_sync(uuid, text, boolean, integer, integer, numeric) IS
    'Closes a sync as failed with the platform''s words (nothing it read is kept): the account keeps the error and is tried again after p_retry_seconds, or, when the platform refused its credentials, is marked error (ad_account.error) until they are rotated.';
