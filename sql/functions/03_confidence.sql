-- 03_confidence.sql: the statistics behind every confidence (docs/decisions.md, "Confidence"): the normal CDF, the
-- Wilson score test of a rate against a threshold, the two-proportion z-test of a drop, and the
-- log-normal test of a money ratio's drop.

-- Abramowitz & Stegun 7.1.26 on erf; absolute error < 1.5e-7 (PostgreSQL 15 has no erf()).
-- PL/pgSQL on purpose: it is called per
-- campaign in every rule and detector, and a plain function call costs a tenth of an SQL function
-- that cannot be inlined (its argument is an expression used several times).
CREATE OR REPLACE FUNCTION ao_norm_cdf(z double precision) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    t double precision;
BEGIN
    IF z > 8 THEN
        RETURN 1.0;
    ELSIF z < -8 THEN
        RETURN 0.0;
    END IF;
    t := 1.0 / (1.0 + 0.3275911 * abs(z) / sqrt(2.0));
    RETURN 0.5 * (1 + sign(z) * (1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                  + t * (-1.453152027 + t * 1.061405429)))) * exp(-z * z / 2)));
END;
$$;
COMMENT ON FUNCTION ao_norm_cdf(double precision) IS
    'Φ(z), the standard normal CDF, used by every confidence formula (docs/decisions.md, "Confidence").';

-- The tests below compute in double precision: numeric division and square roots cost far more, and
-- a probability rounded to four decimals needs no more than fifteen digits.

CREATE OR REPLACE FUNCTION ao_rate_below(p_successes numeric, p_trials numeric, p_threshold numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce(p_trials, 0) <= 0 OR p_threshold <= 0 OR p_threshold >= 1 THEN 0
                ELSE round(ao_norm_cdf((p_threshold::float8 - p_successes::float8 / p_trials::float8)
                                       / sqrt(p_threshold::float8 * (1 - p_threshold::float8) / p_trials::float8))::numeric, 4)
           END
$$;
COMMENT ON FUNCTION ao_rate_below(numeric, numeric, numeric) IS
    'Wilson score test: the probability that a true rate is below the threshold, given successes out of trials.';

CREATE OR REPLACE FUNCTION ao_rate_above(p_successes numeric, p_trials numeric, p_threshold numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce(p_trials, 0) <= 0 OR p_threshold <= 0 OR p_threshold >= 1 THEN 0
                ELSE 1 - ao_rate_below(p_successes, p_trials, p_threshold) END
$$;
COMMENT ON FUNCTION ao_rate_above(numeric, numeric, numeric) IS
    'Wilson score test: the probability that a true rate is above the threshold.';

CREATE OR REPLACE FUNCTION ao_two_proportion_drop(p_x1 numeric, p_n1 numeric, p_x2 numeric, p_n2 numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    -- Two-proportion z-test with a pooled rate: the probability that rate 2 (x2/n2) is truly below rate 1.
    SELECT CASE WHEN coalesce(p_n1, 0) <= 0 OR coalesce(p_n2, 0) <= 0 OR p_x1 + p_x2 <= 0
                     OR p_x1 + p_x2 >= p_n1 + p_n2 THEN 0
                ELSE round(ao_norm_cdf((p_x1::float8 / p_n1::float8 - p_x2::float8 / p_n2::float8)
                     / sqrt(((p_x1 + p_x2)::float8 / (p_n1 + p_n2)::float8) * (1 - (p_x1 + p_x2)::float8 / (p_n1 + p_n2)::float8)
                            * (1 / p_n1::float8 + 1 / p_n2::float8)))::numeric, 4) END
$$;
COMMENT ON FUNCTION ao_two_proportion_drop(numeric, numeric, numeric, numeric) IS
    'Two-proportion z-test (pooled): the probability that the second rate is truly lower than the first, for week-on-week and daypart comparisons.';

CREATE OR REPLACE FUNCTION ao_ratio_drop(p_ratio1 numeric, p_count1 numeric, p_ratio2 numeric, p_count2 numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    -- ln of each ratio ~ Normal(ln r, 1 / (n + 1)) with Poisson counts; the difference of two.
    SELECT CASE WHEN p_ratio1 IS NULL OR p_ratio2 IS NULL THEN 0
                ELSE round(ao_norm_cdf((ln(greatest(p_ratio1, 0.01)::float8) - ln(greatest(p_ratio2, 0.01)::float8))
                     / sqrt(1.0 / (p_count1::float8 + 1) + 1.0 / (p_count2::float8 + 1)))::numeric, 4) END
$$;
COMMENT ON FUNCTION ao_ratio_drop(numeric, numeric, numeric, numeric) IS
    'The probability that a money ratio (ROI) truly fell from ratio1 to ratio2, each backed by a count (conversions).';
