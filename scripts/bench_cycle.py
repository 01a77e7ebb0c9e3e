"""Cycle benchmark: a real cycle over 100,000 active campaigns × 14 daily metric rows against
(a) the floor: one SQL statement that reads the same rows and windows and decides,
(b) a client-side loop: one round trip per campaign from Python, as an ORM service would (SQLAlchemy ORM,
    scripts/orm_loop.py), and (b') the same loop with the raw driver at its fastest, and
(c) a PL/pgSQL loop over campaigns calling a per-campaign function,
on two portfolios ("steady" and "first-run").
Every variant runs in a transaction that is rolled back, so each starts from the same data; the script
checks that all of them decide the same and writes the figures to docs/benchmarks.md.

    .venv/bin/python scripts/bench_cycle.py [--campaigns 100000] [--repeat 3] [--mix steady|first-run|both] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from benchlib import drop_database, machine, scratch_database, write_section

from app.db.migrations import sqlalchemy_url
from app.db.pool import _init_connection

# Two portfolios. "steady": an hourly cycle on a portfolio the engine already runs, where few campaigns
# cross a threshold (about 1% acted on); "first-run": the first cycle on a portfolio nobody has pruned
# (about 11% paused or scaled in one go).
MIXES = {
    "steady": (0.002, 0.006, 0.992, 0.996),
    "first-run": (0.01, 0.03, 0.94, 0.98),
}

GENERATE = """
SELECT setseed(0.42);
INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)
SELECT 'bench-' || g, 'Bench ' || g, 'active', round((20 + random() * 180)::numeric, 2),
       NULL, now() - interval '14 days'
FROM generate_series(1, $N) g;
UPDATE campaigns SET max_budget = round(daily_budget * (1.2 + random())::numeric, 2) WHERE random() < 0.3;
CREATE TEMP TABLE bench_profile AS
SELECT id, daily_budget,
       CASE WHEN b < $M1 THEN 0.1 + random() * 0.35          -- losing badly
            WHEN b < $M2 THEN 0.55 + random() * 0.4          -- losing
            WHEN b < $M3 THEN $FINE + random() * (2.9 - $FINE) -- fine
            WHEN b < $M4 THEN 3.0 + random() * 0.9           -- good
            ELSE 4.0 + random() * 4 END AS roi,
       0.5 + random() * 1.5 AS cpc, 0.005 + random() * 0.035 AS ctr
FROM (SELECT id, daily_budget, random() AS b FROM campaigns) c;
INSERT INTO campaign_metrics (campaign_id, period_start, period_end, impressions, reach, clicks, conversions, spend, revenue)
SELECT p.id, now() - k * interval '1 day', now() - (k - 1) * interval '1 day',
       round(x.spend / p.cpc::numeric / p.ctr::numeric), round(x.spend / p.cpc::numeric / p.ctr::numeric * 0.6),
       round(x.spend / p.cpc::numeric),
       round(x.revenue / 40), x.spend, x.revenue
FROM bench_profile p
CROSS JOIN generate_series(1, 14) k
CROSS JOIN LATERAL (SELECT round(p.daily_budget * (0.6 + random() * 0.4)::numeric, 2) AS spend) s
CROSS JOIN LATERAL (SELECT s.spend, round(s.spend * (p.roi * (0.8 + random() * 0.4))::numeric, 2) AS revenue) x;
UPDATE campaigns c SET impressions = t.i, reach = t.r, clicks = t.cl, conversions = t.cv, spend = t.sp, revenue = t.rv
FROM (SELECT campaign_id, sum(impressions) i, sum(reach) r, sum(clicks) cl, sum(conversions) cv, sum(spend) sp,
             sum(revenue) rv FROM campaign_metrics GROUP BY campaign_id) t
WHERE c.id = t.campaign_id;
ANALYZE;
"""

# The window sums the cycle reads (the rules' 48 h, and the detectors' last and previous 7 days), as
# buckets between window edges: every variant below reads these same rows and windows.
WINDOW_SUMS = """
    sum(m.spend) FILTER (WHERE m.period_end > now() - interval '48 hours') AS spend48,
    sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '48 hours') AS revenue48,
    sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '48 hours') AS conversions48,
    sum(m.spend) FILTER (WHERE m.period_end > now() - interval '7 days') AS spend7,
    sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '7 days') AS revenue7,
    sum(m.clicks) FILTER (WHERE m.period_end > now() - interval '7 days') AS clicks7,
    sum(m.impressions) FILTER (WHERE m.period_end > now() - interval '7 days') AS impressions7,
    sum(m.conversions) FILTER (WHERE m.period_end > now() - interval '7 days') AS conversions7,
    sum(m.reach) FILTER (WHERE m.period_end > now() - interval '7 days') AS reach7,
    sum(m.spend) FILTER (WHERE m.period_end <= now() - interval '7 days') AS spend_p7,
    sum(m.revenue) FILTER (WHERE m.period_end <= now() - interval '7 days') AS revenue_p7,
    sum(m.clicks) FILTER (WHERE m.period_end <= now() - interval '7 days') AS clicks_p7,
    sum(m.impressions) FILTER (WHERE m.period_end <= now() - interval '7 days') AS impressions_p7,
    sum(m.conversions) FILTER (WHERE m.period_end <= now() - interval '7 days') AS conversions_p7
"""

# (a) The floor: one statement that reads the same rows and windows as the cycle and decides inline
# (the built-in rules); it writes nothing and detects nothing.
FLOOR = (
    """
WITH w AS (
    SELECT m.campaign_id, """
    + WINDOW_SUMS
    + """
    FROM campaign_metrics m
    WHERE m.period_end > now() - interval '14 days'
    GROUP BY m.campaign_id
), s AS (
    SELECT c.id AS campaign_id, c.daily_budget, c.max_budget, c.spend AS spend_lifetime,
           c.conversions AS conversions_lifetime, extract(epoch FROM now() - c.started_at) / 3600 AS hours_running,
           c.revenue / NULLIF(c.spend, 0) AS roi, w.revenue48 / NULLIF(w.spend48, 0) AS roi48,
           w.spend7 + w.revenue7 + w.clicks7 + w.impressions7 + w.conversions7 + w.reach7 + w.spend_p7
             + w.revenue_p7 + w.clicks_p7 + w.impressions_p7 + w.conversions_p7 + w.conversions48 AS read_all
    FROM campaigns c LEFT JOIN w ON w.campaign_id = c.id
    WHERE c.status = 'active'
)
SELECT campaign_id, action_type, new_budget, read_all FROM (
    SELECT s.campaign_id, s.read_all,
           CASE WHEN pause_critical OR pause_low THEN 'pause'
                WHEN (aggressive OR high) AND NOT capped THEN 'scale' END AS action_type,
           CASE WHEN pause_critical OR pause_low THEN s.daily_budget
                WHEN aggressive THEN round(least(s.daily_budget * {aggressive_factor}, coalesce(s.max_budget, s.daily_budget * {aggressive_factor})), 2)
                WHEN high THEN round(least(s.daily_budget * {high_factor}, coalesce(s.max_budget, s.daily_budget * {high_factor})), 2)
           END AS new_budget
    FROM s
    CROSS JOIN LATERAL (SELECT
        s.roi < {critical_roi} AND s.spend_lifetime >= {min_spend} AS pause_critical,
        s.roi < {low_roi} AND s.roi48 < {low_roi} AND s.spend_lifetime >= {min_spend}
          AND s.hours_running >= {low_hours} AS pause_low,
        s.roi >= {aggressive_roi} AND s.conversions_lifetime >= {min_conversions} AND s.hours_running >= {scale_hours}
          AND round(ao_norm_cdf((ln(greatest(s.roi, 0.01)::float8) - ln({aggressive_roi})) * sqrt((s.conversions_lifetime + 1)::float8))::numeric, 4) >= {min_confidence}
          AS aggressive,
        s.roi >= {high_roi} AND s.conversions_lifetime >= {min_conversions} AND s.hours_running >= {scale_hours}
          AND round(ao_norm_cdf((ln(greatest(s.roi, 0.01)::float8) - ln({high_roi})) * sqrt((s.conversions_lifetime + 1)::float8))::numeric, 4) >= {min_confidence}
          AS high,
        s.max_budget IS NOT NULL AND s.daily_budget >= s.max_budget AS capped) d
) x WHERE action_type IS NOT NULL
"""
)

# (b) and (c) read one campaign's rows per call.
ONE_CAMPAIGN = (
    """
SELECT c.daily_budget, c.max_budget, c.spend, c.revenue, c.conversions,
       extract(epoch FROM now() - c.started_at) / 3600 AS hours, """
    + WINDOW_SUMS
    + """
FROM campaigns c
LEFT JOIN campaign_metrics m ON m.campaign_id = c.id AND m.period_end > now() - interval '14 days'
WHERE c.id = $1
GROUP BY c.id
"""
)

PLPGSQL = """
CREATE FUNCTION bench_decide_one(p_id uuid, OUT action_type text, OUT new_budget numeric)
LANGUAGE plpgsql AS $$
DECLARE r record; v_roi numeric; v_roi48 numeric;
BEGIN
    SELECT c.daily_budget, c.max_budget, c.spend, c.revenue, c.conversions,
           extract(epoch FROM now() - c.started_at) / 3600 AS hours, $WINDOW_SUMS$
      INTO r
      FROM campaigns c
      LEFT JOIN campaign_metrics m ON m.campaign_id = c.id AND m.period_end > now() - interval '14 days'
     WHERE c.id = p_id GROUP BY c.id;
    v_roi := r.revenue / NULLIF(r.spend, 0);
    v_roi48 := r.revenue48 / NULLIF(r.spend48, 0);
    IF (v_roi < {critical_roi} AND r.spend >= {min_spend})
       OR (v_roi < {low_roi} AND v_roi48 < {low_roi} AND r.spend >= {min_spend} AND r.hours >= {low_hours}) THEN
        action_type := 'pause'; new_budget := r.daily_budget; RETURN;
    END IF;
    IF r.max_budget IS NOT NULL AND r.daily_budget >= r.max_budget THEN RETURN; END IF;
    IF v_roi >= {aggressive_roi} AND r.conversions >= {min_conversions} AND r.hours >= {scale_hours}
       AND round(ao_norm_cdf(((ln(greatest(v_roi, 0.01)) - ln({aggressive_roi})) * sqrt(r.conversions + 1))::float8)::numeric, 4) >= {min_confidence} THEN
        action_type := 'scale';
        new_budget := round(least(r.daily_budget * {aggressive_factor}, coalesce(r.max_budget, r.daily_budget * {aggressive_factor})), 2); RETURN;
    END IF;
    IF v_roi >= {high_roi} AND r.conversions >= {min_conversions} AND r.hours >= {scale_hours}
       AND round(ao_norm_cdf(((ln(greatest(v_roi, 0.01)) - ln({high_roi})) * sqrt(r.conversions + 1))::float8)::numeric, 4) >= {min_confidence} THEN
        action_type := 'scale';
        new_budget := round(least(r.daily_budget * {high_factor}, coalesce(r.max_budget, r.daily_budget * {high_factor})), 2);
    END IF;
END $$;
CREATE FUNCTION bench_plpgsql_loop() RETURNS void LANGUAGE plpgsql AS $$
DECLARE c record; d record;
BEGIN
    FOR c IN SELECT id FROM campaigns WHERE status = 'active' LOOP
        d := bench_decide_one(c.id);
        IF d.action_type = 'pause' THEN
            UPDATE campaigns SET status = 'paused' WHERE id = c.id;
        ELSIF d.action_type = 'scale' THEN
            UPDATE campaigns SET daily_budget = d.new_budget WHERE id = c.id;
        END IF;
        IF d.action_type IS NOT NULL THEN
            INSERT INTO autonomous_actions (campaign_id, action_type, reason, new_state, status, executed_at)
            VALUES (c.id, d.action_type, 'bench', jsonb_build_object('daily_budget', d.new_budget), 'executed', now());
        END IF;
    END LOOP;
END $$;
"""

WRITTEN = """
SELECT campaign_id, action_type, (new_state ->> 'daily_budget')::numeric AS new_budget
FROM autonomous_actions WHERE action_type IN ('pause', 'scale')
"""


PLPGSQL = PLPGSQL.replace("$WINDOW_SUMS$", WINDOW_SUMS)


def norm_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


# The built-in rules' thresholds, read from the database (the rules are their one source); every
# baseline decides with these numbers.
RULES: dict[str, Decimal] = {}


async def load_rules(conn: asyncpg.Connection) -> dict[str, Decimal]:
    rules = {
        r["name"]: r
        for r in await conn.fetch(
            "SELECT name, conditions, action, min_confidence FROM autonomous_rules WHERE is_builtin"
        )
    }

    def value(rule: str, metric: str, window: str = "lifetime") -> Decimal:
        (found,) = [
            leaf["value"]
            for leaf in rules[rule]["conditions"]["all"]
            if leaf["metric"] == metric and leaf.get("window", "lifetime") == window
        ]
        return Decimal(str(found))

    return {
        "critical_roi": value("Critical ROI Pause", "roi"),
        "min_spend": value("Critical ROI Pause", "spend"),
        "low_roi": value("Low ROI Pause", "roi"),
        "low_hours": value("Low ROI Pause", "hours_running"),
        "aggressive_roi": value("Aggressive Scale", "roi"),
        "aggressive_factor": Decimal(str(rules["Aggressive Scale"]["action"]["factor"])),
        "high_roi": value("High ROI Scale", "roi"),
        "high_factor": Decimal(str(rules["High ROI Scale"]["action"]["factor"])),
        "min_conversions": value("High ROI Scale", "conversions"),
        "scale_hours": value("High ROI Scale", "hours_running"),
        "min_confidence": Decimal(str(rules["High ROI Scale"]["min_confidence"])),
    }


def decide_in_python(r: Mapping[str, Any]) -> tuple[str | None, Decimal | None]:
    """What an ORM service would do with one campaign's row (the same rules, in the client)."""
    roi = r["revenue"] / r["spend"] if r["spend"] else None
    roi48 = r["revenue48"] / r["spend48"] if r["spend48"] else None  # NULL sums: no recent rows
    hours = Decimal(str(r["hours"]))
    if roi is not None and (
        (roi < RULES["critical_roi"] and r["spend"] >= RULES["min_spend"])
        or (
            roi < RULES["low_roi"]
            and roi48 is not None
            and roi48 < RULES["low_roi"]
            and r["spend"] >= RULES["min_spend"]
            and hours >= RULES["low_hours"]
        )
    ):
        return "pause", r["daily_budget"]
    if roi is None or (r["max_budget"] is not None and r["daily_budget"] >= r["max_budget"]):
        return None, None
    scales = (
        (RULES["aggressive_roi"], RULES["aggressive_factor"]),
        (RULES["high_roi"], RULES["high_factor"]),
    )
    for threshold, factor in scales:
        if (
            roi >= threshold
            and r["conversions"] >= RULES["min_conversions"]
            and hours >= RULES["scale_hours"]
        ):
            z = (math.log(max(float(roi), 0.01)) - math.log(threshold)) * math.sqrt(
                r["conversions"] + 1
            )
            if round(norm_cdf(z), 4) >= RULES["min_confidence"]:
                # PostgreSQL's round() takes halves away from zero; Python's round() would go to even.
                target = (r["daily_budget"] * factor).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP
                )
                return "scale", min(target, r["max_budget"]) if r[
                    "max_budget"
                ] is not None else target
    return None, None


async def run_orm_loop(url: str) -> tuple[float, set]:
    import orm_loop

    t = time.perf_counter()
    decided = await asyncio.to_thread(orm_loop.run, sqlalchemy_url(url), decide_in_python)
    return time.perf_counter() - t, decided


def as_set(rows: list[asyncpg.Record]) -> set[tuple[str, str, Decimal]]:
    return {
        (
            str(r["campaign_id"]),
            r["action_type"],
            Decimal(r["new_budget"]).quantize(Decimal("0.01")),
        )
        for r in rows
    }


async def timed_in_rollback(conn: asyncpg.Connection, work) -> tuple[float, set]:
    tr = conn.transaction()
    await tr.start()
    try:
        t = time.perf_counter()
        decided = await work(conn)
        elapsed = time.perf_counter() - t
    finally:
        await tr.rollback()
    return elapsed, decided


async def run_cycle(conn):
    summary = await conn.fetchval("SELECT run_autonomous_operations_with_posting()")
    assert summary["status"] == "succeeded", summary
    return as_set(await conn.fetch(WRITTEN))


async def run_floor(conn):
    return as_set(await conn.fetch(FLOOR.format(**RULES)))


async def run_plpgsql(conn):
    await conn.execute("SELECT bench_plpgsql_loop()")
    return as_set(await conn.fetch(WRITTEN))


async def run_client_loop(conn):
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM campaigns WHERE status = 'active'")]
    stmt = await conn.prepare(ONE_CAMPAIGN)
    for cid in ids:
        action, budget = decide_in_python(await stmt.fetchrow(cid))
        if action == "pause":
            await conn.execute("UPDATE campaigns SET status = 'paused' WHERE id = $1", cid)
        elif action == "scale":
            await conn.execute("UPDATE campaigns SET daily_budget = $2 WHERE id = $1", cid, budget)
        if action:
            await conn.execute(
                "INSERT INTO autonomous_actions (campaign_id, action_type, reason, new_state, status, executed_at)"
                " VALUES ($1, $2, 'bench', jsonb_build_object('daily_budget', $3::numeric), 'executed', now())",
                cid,
                action,
                budget,
            )
    return as_set(await conn.fetch(WRITTEN))


async def bench_mix(mix: str, campaigns: int, repeat: int, keep: bool) -> dict:
    name = f"ao_bench_cycle_{mix.replace('-', '_')}"
    url, kind = scratch_database(name)
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    m1, m2, m3, m4 = MIXES[mix]
    fine = "1.2" if mix == "steady" else "1.0"
    t = time.perf_counter()
    sql = (
        GENERATE.replace("$N", str(int(campaigns)))
        .replace("$M1", str(m1))
        .replace("$M2", str(m2))
        .replace("$M3", str(m3))
        .replace("$M4", str(m4))
        .replace("$FINE", fine)
    )
    await conn.execute(sql)
    RULES.update(await load_rules(conn))
    await conn.execute(PLPGSQL.format(**RULES))
    setup = time.perf_counter() - t
    rows = await conn.fetchval("SELECT count(*) FROM campaign_metrics")
    print(f"[{mix}] generated {campaigns:,} campaigns, {rows:,} metric rows in {setup:.1f}s")

    results: dict[str, list[float]] = {
        "cycle": [],
        "floor": [],
        "plpgsql": [],
        "client": [],
        "orm": [],
    }
    decisions: dict[str, set] = {}
    opportunities = 0
    for i in range(repeat):
        for key, work in (("floor", run_floor), ("cycle", run_cycle), ("plpgsql", run_plpgsql)):
            elapsed, decided = await timed_in_rollback(conn, work)
            results[key].append(elapsed)
            decisions[key] = decided
            print(f"[{mix}] run {i + 1} {key}: {elapsed:.2f}s, {len(decided):,} decisions")
    elapsed, decided = await timed_in_rollback(conn, run_client_loop)  # once: it is the slow one
    results["client"].append(elapsed)
    decisions["client"] = decided
    print(f"[{mix}] client loop: {elapsed:.2f}s, {len(decided):,} decisions")
    elapsed, decided = await run_orm_loop(url)
    results["orm"].append(elapsed)
    decisions["orm"] = decided
    print(f"[{mix}] ORM loop: {elapsed:.2f}s, {len(decided):,} decisions")
    tr = conn.transaction()
    await tr.start()
    summary = await conn.fetchval("SELECT run_autonomous_operations_with_posting()")
    opportunities = summary["opportunities_detected"]
    await tr.rollback()
    await conn.close()
    if not keep:
        drop_database(name)
    for k in decisions:
        if decisions[k] != decisions["cycle"]:
            print(f"{k} differs from the cycle:", sorted(decisions[k] ^ decisions["cycle"])[:5])
    return {
        "mix": mix,
        "kind": kind,
        "rows": rows,
        "results": results,
        "same": all(decisions[k] == decisions["cycle"] for k in decisions),
        "pauses": sum(1 for d in decisions["cycle"] if d[1] == "pause"),
        "scales": sum(1 for d in decisions["cycle"] if d[1] == "scale"),
        "opportunities": opportunities,
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def section(r: dict, campaigns: int) -> str:
    med = {k: statistics.median(v) for k, v in r["results"].items()}
    ratio_floor = med["cycle"] / med["floor"]
    ratio_client = med["client"] / med["cycle"]
    ratio_orm = med["orm"] / med["cycle"]
    ratio_plpgsql = med["plpgsql"] / med["cycle"]
    return f"""
### Portfolio "{r["mix"]}": {r["pauses"]:,} pauses, {r["scales"]:,} scales, {r["opportunities"]:,} opportunities per cycle

All five variants decide exactly the same: **{"yes" if r["same"] else "NO"}**.

| variant | median time | vs the cycle |
|---|---|---|
| real cycle: `run_autonomous_operations_with_posting()` (plan, guardrails, writes, audit rows, opportunity detection, summary) | {med["cycle"]:.2f} s | 1× |
| (a) floor: one SQL statement reading the same rows and windows, decisions inline, nothing written | {med["floor"]:.2f} s | {med["floor"] / med["cycle"]:.2f}× |
| (b) client-side loop as an ORM service does it: SQLAlchemy 2.0 ORM, one query per campaign loading the entity with the same windows, changes on the entities, one unit-of-work flush | {med["orm"]:.2f} s | {ratio_orm:.1f}× |
| (b′) the same loop with the raw driver at its fastest: asyncpg, one prepared statement, one round trip per campaign, then the writes | {med["client"]:.2f} s | {ratio_client:.1f}× |
| (c) PL/pgSQL loop over campaigns calling a per-campaign function reading the same windows | {med["plpgsql"]:.2f} s | {ratio_plpgsql:.2f}× |

Targets: cycle ≤ 3× the floor: **{verdict(ratio_floor <= 3)}** ({ratio_floor:.2f}×); ≥ 10× faster than the client
loop (b): **{verdict(ratio_orm >= 10)}** ({ratio_orm:.1f}×; against the raw-driver loop (b′), which is no ORM:
{ratio_client:.1f}×); faster than the PL/pgSQL loop:
**{verdict(ratio_plpgsql > 1)}** ({ratio_plpgsql:.2f}×). Times per run: {json.dumps({k: [round(x, 2) for x in v] for k, v in r["results"].items()})}
"""


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mix", choices=[*MIXES, "both"], default="both")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    args = parser.parse_args()
    mixes = list(MIXES) if args.mix == "both" else [args.mix]
    runs = [await bench_mix(m, args.campaigns, args.repeat, args.keep) for m in mixes]
    report = f"""
## Cycle: {args.campaigns:,} campaigns (issues 3 and 4)

`scripts/bench_cycle.py --campaigns {args.campaigns} --repeat {args.repeat} --mix {args.mix}` on
{datetime.now(UTC):%Y-%m-%d}, {machine()}, PostgreSQL: {runs[0]["kind"]}. {args.campaigns:,} active campaigns ×
14 daily metric rows ({runs[0]["rows"]:,} rows). Each variant runs in a transaction that is rolled back (so all
start from the same data), timed from the client, median of {args.repeat} runs (the two client loops once). Every
variant reads the same rows and windows the cycle reads (lifetime totals, 48 h, last and previous 7 days);
only the real cycle also detects opportunities and writes them, so the comparison favours the baselines.
""" + "".join(section(r, args.campaigns) for r in runs)
    write_section("cycle", report)
    print(report)


if __name__ == "__main__":
    asyncio.run(main())
