"""Cycle benchmark (SPEC §9): a real cycle over 100,000 active campaigns × 14 daily metric rows against
(a) the floor: one SQL statement that reads the same rows and windows and decides,
(b) a client-side loop: one round trip per campaign from Python, as an ORM service would, and
(c) a PL/pgSQL loop over campaigns calling a per-campaign function.
Every variant runs in a transaction that is rolled back, so each starts from the same data; the script
checks that all four decide the same and writes the figures to docs/benchmarks.md.

    .venv/bin/python scripts/bench_cycle.py [--campaigns 100000] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import asyncpg
from benchlib import drop_database, machine, scratch_database, write_section

from app.db.pool import _init_connection

GENERATE = """
SELECT setseed(0.42);
INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)
SELECT 'bench-' || g, 'Bench ' || g, 'active', round((20 + random() * 180)::numeric, 2),
       NULL, now() - interval '14 days'
FROM generate_series(1, $N) g;
UPDATE campaigns SET max_budget = round(daily_budget * (1.2 + random())::numeric, 2) WHERE random() < 0.3;
CREATE TEMP TABLE bench_profile AS
SELECT id, daily_budget,
       CASE WHEN b < 0.01 THEN 0.1 + random() * 0.35          -- losing badly
            WHEN b < 0.03 THEN 0.55 + random() * 0.4          -- losing
            WHEN b < 0.94 THEN 1.0 + random() * 1.9           -- fine
            WHEN b < 0.98 THEN 3.0 + random() * 0.9           -- good
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

# (a) The floor: one statement, the same rows and windows, the built-in rules' decisions inline.
FLOOR = """
SELECT campaign_id, action_type, new_budget FROM (
    SELECT s.campaign_id,
           CASE WHEN pause_critical OR pause_low THEN 'pause'
                WHEN (aggressive OR high) AND NOT capped THEN 'scale' END AS action_type,
           CASE WHEN pause_critical OR pause_low THEN s.daily_budget
                WHEN aggressive THEN round(least(s.daily_budget * 2, coalesce(s.max_budget, s.daily_budget * 2)), 2)
                WHEN high THEN round(least(s.daily_budget * 1.5, coalesce(s.max_budget, s.daily_budget * 1.5)), 2)
           END AS new_budget
    FROM campaign_window_stats() s
    CROSS JOIN LATERAL (SELECT s.revenue_lifetime / NULLIF(s.spend_lifetime, 0) AS roi,
                               s.revenue_last_48h / NULLIF(s.spend_last_48h, 0) AS roi48) r
    CROSS JOIN LATERAL (SELECT
        r.roi < 0.5 AND s.spend_lifetime >= 50 AS pause_critical,
        r.roi < 1 AND r.roi48 < 1 AND s.spend_lifetime >= 50 AND s.hours_running >= 48 AS pause_low,
        r.roi >= 4 AND s.conversions_lifetime >= 10 AND s.hours_running >= 24
          AND round(ao_norm_cdf(((ln(greatest(r.roi, 0.01)) - ln(4.0)) * sqrt(s.conversions_lifetime + 1))::float8)::numeric, 4) >= 0.75
          AS aggressive,
        r.roi >= 3 AND s.conversions_lifetime >= 10 AND s.hours_running >= 24
          AND round(ao_norm_cdf(((ln(greatest(r.roi, 0.01)) - ln(3.0)) * sqrt(s.conversions_lifetime + 1))::float8)::numeric, 4) >= 0.75
          AS high,
        s.max_budget IS NOT NULL AND s.daily_budget >= s.max_budget AS capped) d
) x WHERE action_type IS NOT NULL
"""

# (b) and (c) read one campaign's rows per call.
ONE_CAMPAIGN = """
SELECT c.daily_budget, c.max_budget, c.spend, c.revenue, c.conversions,
       extract(epoch FROM now() - c.started_at) / 3600 AS hours,
       coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS spend48,
       coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS revenue48
FROM campaigns c
LEFT JOIN campaign_metrics m ON m.campaign_id = c.id AND m.period_end > now() - interval '30 days'
WHERE c.id = $1
GROUP BY c.id
"""

PLPGSQL = """
CREATE FUNCTION bench_decide_one(p_id uuid, OUT action_type text, OUT new_budget numeric)
LANGUAGE plpgsql AS $$
DECLARE r record; v_roi numeric; v_roi48 numeric;
BEGIN
    SELECT c.daily_budget, c.max_budget, c.spend, c.revenue, c.conversions,
           extract(epoch FROM now() - c.started_at) / 3600 AS hours,
           coalesce(sum(m.spend) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS spend48,
           coalesce(sum(m.revenue) FILTER (WHERE m.period_end > now() - interval '48 hours'), 0) AS revenue48
      INTO r
      FROM campaigns c
      LEFT JOIN campaign_metrics m ON m.campaign_id = c.id AND m.period_end > now() - interval '30 days'
     WHERE c.id = p_id GROUP BY c.id;
    v_roi := r.revenue / NULLIF(r.spend, 0);
    v_roi48 := r.revenue48 / NULLIF(r.spend48, 0);
    IF (v_roi < 0.5 AND r.spend >= 50) OR (v_roi < 1 AND v_roi48 < 1 AND r.spend >= 50 AND r.hours >= 48) THEN
        action_type := 'pause'; new_budget := r.daily_budget; RETURN;
    END IF;
    IF r.max_budget IS NOT NULL AND r.daily_budget >= r.max_budget THEN RETURN; END IF;
    IF v_roi >= 4 AND r.conversions >= 10 AND r.hours >= 24
       AND round(ao_norm_cdf(((ln(greatest(v_roi, 0.01)) - ln(4.0)) * sqrt(r.conversions + 1))::float8)::numeric, 4) >= 0.75 THEN
        action_type := 'scale';
        new_budget := round(least(r.daily_budget * 2, coalesce(r.max_budget, r.daily_budget * 2)), 2); RETURN;
    END IF;
    IF v_roi >= 3 AND r.conversions >= 10 AND r.hours >= 24
       AND round(ao_norm_cdf(((ln(greatest(v_roi, 0.01)) - ln(3.0)) * sqrt(r.conversions + 1))::float8)::numeric, 4) >= 0.75 THEN
        action_type := 'scale';
        new_budget := round(least(r.daily_budget * 1.5, coalesce(r.max_budget, r.daily_budget * 1.5)), 2);
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


def norm_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def decide_in_python(r: asyncpg.Record) -> tuple[str | None, Decimal | None]:
    """What an ORM service would do with one campaign's row (the same rules, in the client)."""
    roi = r["revenue"] / r["spend"] if r["spend"] else None
    roi48 = r["revenue48"] / r["spend48"] if r["spend48"] else None
    hours = float(r["hours"])
    if roi is not None and (
        (roi < Decimal("0.5") and r["spend"] >= 50)
        or (roi < 1 and roi48 is not None and roi48 < 1 and r["spend"] >= 50 and hours >= 48)
    ):
        return "pause", r["daily_budget"]
    if roi is None or (r["max_budget"] is not None and r["daily_budget"] >= r["max_budget"]):
        return None, None
    for threshold, factor in ((4, Decimal(2)), (3, Decimal("1.5"))):
        if roi >= threshold and r["conversions"] >= 10 and hours >= 24:
            z = (math.log(max(float(roi), 0.01)) - math.log(threshold)) * math.sqrt(
                r["conversions"] + 1
            )
            if round(norm_cdf(z), 4) >= 0.75:
                # PostgreSQL's round() takes halves away from zero; Python's round() would go to even.
                target = (r["daily_budget"] * factor).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP
                )
                return "scale", min(target, r["max_budget"]) if r[
                    "max_budget"
                ] is not None else target
    return None, None


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
    return as_set(await conn.fetch(FLOOR))


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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    name = "ao_bench_cycle"
    url, kind = scratch_database(name)
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    t = time.perf_counter()
    await conn.execute(GENERATE.replace("$N", str(int(args.campaigns))))
    await conn.execute(PLPGSQL)
    setup = time.perf_counter() - t
    rows = await conn.fetchval("SELECT count(*) FROM campaign_metrics")
    print(f"generated {args.campaigns:,} campaigns, {rows:,} metric rows in {setup:.1f}s")

    results: dict[str, list[float]] = {"cycle": [], "floor": [], "plpgsql": [], "client": []}
    decisions: dict[str, set] = {}
    for i in range(args.repeat):
        for key, work in (("floor", run_floor), ("cycle", run_cycle), ("plpgsql", run_plpgsql)):
            elapsed, decided = await timed_in_rollback(conn, work)
            results[key].append(elapsed)
            decisions[key] = decided
            print(f"run {i + 1} {key}: {elapsed:.2f}s, {len(decided):,} decisions")
    elapsed, decided = await timed_in_rollback(conn, run_client_loop)  # once: it is the slow one
    results["client"].append(elapsed)
    decisions["client"] = decided
    print(f"client loop: {elapsed:.2f}s, {len(decided):,} decisions")
    await conn.close()
    if not args.keep:
        drop_database(name)

    same = all(decisions[k] == decisions["cycle"] for k in decisions)
    for k in decisions:
        if decisions[k] != decisions["cycle"]:
            print(f"{k} differs from the cycle:", sorted(decisions[k] ^ decisions["cycle"])[:5])
    pauses = sum(1 for d in decisions["cycle"] if d[1] == "pause")
    scales = len(decisions["cycle"]) - pauses
    med = {k: statistics.median(v) for k, v in results.items()}
    ratio_floor = med["cycle"] / med["floor"]
    ratio_client = med["client"] / med["cycle"]
    ratio_plpgsql = med["plpgsql"] / med["cycle"]
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    report = f"""
## Cycle: 100,000 campaigns (issue 3, SPEC §9)

`scripts/bench_cycle.py --campaigns {args.campaigns} --repeat {args.repeat}` on {datetime.now(UTC):%Y-%m-%d},
{machine()}, PostgreSQL: {kind}. {args.campaigns:,} active campaigns × 14 daily metric rows ({rows:,} rows);
each variant runs in a transaction that is rolled back (so all start from the same data), timed from the
client, median of {args.repeat} runs (the client loop once). The decisions are {pauses:,} pauses and {scales:,}
scales; **all four variants decide exactly the same: {"yes" if same else "NO"}**.

| variant | median time | vs the cycle |
|---|---|---|
| real cycle: `run_autonomous_operations_with_posting()` (plan, guardrails, writes, audit rows, summary) | {med["cycle"]:.2f} s | 1× |
| (a) floor: one SQL statement over the same rows and windows, decisions inline, nothing written | {med["floor"]:.2f} s | {med["floor"] / med["cycle"]:.2f}× |
| (b) client-side loop: one round trip per campaign from Python, then the writes | {med["client"]:.2f} s | {ratio_client:.1f}× |
| (c) PL/pgSQL loop over campaigns calling a per-campaign function | {med["plpgsql"]:.2f} s | {ratio_plpgsql:.2f}× |

Targets: cycle ≤ 3× the floor: **{verdict(ratio_floor <= 3)}** ({ratio_floor:.2f}×); ≥ 10× faster than the
client loop: **{verdict(ratio_client >= 10)}** ({ratio_client:.1f}×); faster than the PL/pgSQL loop:
**{verdict(ratio_plpgsql > 1)}** ({ratio_plpgsql:.2f}×).
"""
    write_section("cycle", report)
    print(report)
    print(json.dumps({k: [round(x, 3) for x in v] for k, v in results.items()}))


if __name__ == "__main__":
    asyncio.run(main())
