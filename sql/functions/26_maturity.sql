-- 26_maturity.sql: how complete a recent day is. A platform reports a day's conversions and revenue over
-- the days after it; each connected account's maturity curve F(k), the share of a day's final figures
-- reported k whole days after the day ended, is learned from what its syncs saw (metric_revisions), and
-- the settings' default curve stands in until the account has maturity_min_days days to learn from.
-- Manual accounts have no curve: what an operator pushes is taken as final.

-- NULL for a good curve, else {position, words}: the first share that breaks the rules.
CREATE OR REPLACE FUNCTION ao_maturity_curve_problem(p_curve numeric[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_curve IS NULL OR cardinality(p_curve) = 0 THEN ARRAY['', 'must hold at least one share (the last is 1)']
        WHEN cardinality(p_curve) > 28 THEN ARRAY['28', 'must be at most 28 days long']
        WHEN array_ndims(p_curve) > 1 THEN ARRAY['', 'must be a list of shares']
        ELSE (SELECT ARRAY[(i - 1)::text, CASE
                            WHEN v IS NULL THEN 'must be a share, not null'
                            WHEN v <= 0 OR v > 1 THEN 'must be a share above 0 and at most 1'
                            WHEN v < prev THEN format('must not be below the share before it (%s)', prev)
                            ELSE 'the last share must be 1 (all of a day reported)' END]
                FROM (SELECT v, i, lag(v) OVER (ORDER BY i) AS prev
                        FROM unnest(p_curve) WITH ORDINALITY AS u(v, i)) s
               WHERE v IS NULL OR v <= 0 OR v > 1 OR v < prev OR (i = cardinality(p_curve) AND v <> 1)
               ORDER BY i LIMIT 1)
    END
$$;
COMMENT ON FUNCTION ao_maturity_curve_problem(numeric[]) IS
    'Why a maturity curve is refused, as {position (0-based), words}, or NULL: 1 to 28 shares in (0, 1], never decreasing, the last 1.';

-- A day counts once it is final (ended at least p_lookback days ago: syncs re-read no older day) and
-- when its syncs saw it within a day of its end (a day first read by a backfill says nothing of its
-- young reports). What was reported at age k is the last report seen before the day was k + 1 days
-- old; F(k) is the sum of those over the sum of the final figures. A revision that removed conversions
-- can make a share fall or pass 1: the curve is then clamped (never decreasing, never above 1) and
-- says so.
CREATE OR REPLACE FUNCTION learn_account_maturity(p_account_id uuid, p_lookback_days integer)
RETURNS account_maturity
LANGUAGE plpgsql AS $$
DECLARE
    v_row account_maturity;
BEGIN
    WITH rev AS (
        SELECT r.campaign_id, r.period_start, r.conversions, r.revenue, r.observed_at,
               greatest(floor(extract(epoch FROM r.observed_at - r.period_end) / 86400), 0)::int AS age
          FROM metric_revisions r
          JOIN campaigns c ON c.id = r.campaign_id AND c.account_id = p_account_id
         WHERE r.period_end <= now() - make_interval(days => p_lookback_days)
           AND r.period_end > now() - make_interval(days => p_lookback_days + 90)
           AND r.period_end - r.period_start BETWEEN interval '23 hours' AND interval '25 hours'
    ), ranked AS (
        SELECT rev.*,
               lead(age) OVER (PARTITION BY campaign_id, period_start ORDER BY observed_at) AS next_age,
               min(age) OVER (PARTITION BY campaign_id, period_start) AS first_age,
               row_number() OVER (PARTITION BY campaign_id, period_start ORDER BY observed_at DESC) AS newest
          FROM rev
    ), days AS (
        SELECT campaign_id, period_start, conversions AS final_conversions, revenue AS final_revenue
          FROM ranked WHERE newest = 1 AND first_age = 0
    ), known AS (  -- each report stands for the ages from its own to the next report's
        SELECT r.campaign_id, r.period_start, k, r.conversions, r.revenue
          FROM ranked r
          CROSS JOIN LATERAL generate_series(r.age, least(coalesce(r.next_age - 1, p_lookback_days - 1),
                                                          p_lookback_days - 1)) k
         WHERE r.first_age = 0
    ), raw AS (
        SELECT k.k,
               sum(k.conversions)::numeric / nullif(sum(d.final_conversions), 0) AS conversions,
               sum(k.revenue) / nullif(sum(d.final_revenue), 0) AS revenue
          FROM known k JOIN days d USING (campaign_id, period_start)
         GROUP BY k.k
    ), curve AS (  -- clamped: the running maximum, at most 1
        SELECT k, conversions AS raw_conversions, revenue AS raw_revenue,
               least(max(conversions) OVER (ORDER BY k), 1) AS conversions,
               least(max(revenue) OVER (ORDER BY k), 1) AS revenue
          FROM raw
    )
    INSERT INTO account_maturity AS m (account_id, conversions, revenue, days, clamped, note, learned_at)
    SELECT p_account_id,
           coalesce(array_agg(round(c.conversions, 4) ORDER BY c.k) FILTER (WHERE c.conversions IS NOT NULL), '{}') || 1::numeric,
           coalesce(array_agg(round(c.revenue, 4) ORDER BY c.k) FILTER (WHERE c.revenue IS NOT NULL), '{}') || 1::numeric,
           (SELECT count(DISTINCT period_start) FROM days),
           coalesce(bool_or(c.raw_conversions > c.conversions OR c.raw_revenue > c.revenue
                            OR c.raw_conversions < c.conversions OR c.raw_revenue < c.revenue), false),
           CASE WHEN bool_or(c.raw_conversions > c.conversions OR c.raw_revenue > c.revenue
                             OR c.raw_conversions < c.conversions OR c.raw_revenue < c.revenue)
                THEN 'clamped: some days'' final figures were below an earlier report (conversions removed), so the curve is kept from falling or passing 1' END,
           now()
      FROM curve c
    ON CONFLICT (account_id) DO UPDATE
       SET conversions = excluded.conversions, revenue = excluded.revenue, days = excluded.days,
           clamped = excluded.clamped, note = excluded.note, learned_at = excluded.learned_at
    RETURNING m.* INTO v_row;
    RETURN v_row;
END;
$$;
COMMENT ON FUNCTION learn_account_maturity(uuid, integer) IS
    'Learns an account''s maturity curve from its revisions of the last 90 final days (run by each sync, in its transaction): F(k) for k below the lookback, then 1; clamped where revisions contradict themselves.';

-- What each connected account's days are read with: its learned curve once it has maturity_min_days
-- days behind it, else the settings' default; manual accounts none.
CREATE OR REPLACE FUNCTION ao_maturity_curves()
RETURNS TABLE (account_id uuid, source text, conversions numeric[], revenue numeric[], days integer,
               clamped boolean, note text, learned_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT a.id,
           CASE WHEN m.days >= s.maturity_min_days AND cardinality(m.conversions) > 1 THEN 'learned' ELSE 'default' END,
           CASE WHEN m.days >= s.maturity_min_days AND cardinality(m.conversions) > 1 THEN m.conversions ELSE d.curve END,
           CASE WHEN m.days >= s.maturity_min_days AND cardinality(m.revenue) > 1 THEN m.revenue ELSE d.curve END,
           coalesce(m.days, 0), coalesce(m.clamped, false), m.note, m.learned_at
      FROM ad_accounts a
      CROSS JOIN ao_settings() s
      -- shares to 4 places, as a learned curve has them (a share written from a float is not exact)
      CROSS JOIN LATERAL (SELECT array_agg(round(v, 4) ORDER BY i) AS curve
                            FROM unnest(s.maturity_default_curve) WITH ORDINALITY u(v, i)) d
      LEFT JOIN account_maturity m ON m.account_id = a.id
     WHERE a.platform <> 'manual'
$$;
COMMENT ON FUNCTION ao_maturity_curves() IS
    'The maturity curve each connected account''s young days are read with: learned (once it has maturity_min_days days) or the settings'' default.';

CREATE OR REPLACE FUNCTION ao_account_maturity(p_account_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('account_id', c.account_id, 'source', c.source, 'conversions', c.conversions,
                              'revenue', c.revenue, 'days', c.days, 'min_days', s.maturity_min_days,
                              'clamped', c.clamped, 'note', c.note, 'learned_at', c.learned_at,
                              'learned', (SELECT jsonb_build_object('conversions', m.conversions, 'revenue', m.revenue)
                                            FROM account_maturity m WHERE m.account_id = c.account_id))
      FROM ao_maturity_curves() c CROSS JOIN ao_settings() s
     WHERE c.account_id = p_account_id
$$;
COMMENT ON FUNCTION ao_account_maturity(uuid) IS
    'An account''s maturity curve as GET /ad-accounts/{id}/maturity shows it (NULL for a manual account).';
