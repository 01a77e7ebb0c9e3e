"""Backtest benchmark: 10,000 campaigns × 90 days replayed day by day, against 90 dry-run cycles.

The portfolio: every campaign has a base ROI (a few losing badly, some losing, most fine, a few elite)
with daily noise, and a quarter of them change course on a random day (an elite one fades, a fine one
crashes), so the replay pauses and scales throughout the range. The 90 daily rows end at today's midnight,
so a dry-run cycle now reads the same windows the replay's last step does.

The backtest runs first, right after the data is loaded and analyzed (cold), then 90 dry-run cycles
(the same code path a cycle takes, undone), then the backtest again (warm). Target: the backtest of N
steps costs no more than N dry-run cycles (stretch: 0.3 × N).

    .venv/bin/python scripts/bench_backtest.py [--campaigns 10000] [--days 90] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg
from benchlib import MAKE_MONTHS, drop_database, machine, scratch_database, write_section

from app.db.pool import _init_connection

NAME = "ao_bench_backtest"

GENERATE = """
INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)
SELECT 'bt-' || g, 'Backtest ' || g, 'active', 100, 800, date_trunc('day', now()) - make_interval(days => $2)
FROM generate_series(1, $1) g;

CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT c.id, c.account_id,
       CASE WHEN b < 0.02 THEN 0.2 + random() * 0.25      -- losing badly
            WHEN b < 0.08 THEN 0.6 + random() * 0.35      -- losing
            WHEN b < 0.95 THEN 1.1 + random() * 1.8       -- fine
            ELSE 4.2 + random() * 2 END AS roi,           -- elite
       CASE WHEN random() < 0.25 THEN 1 + floor(random() * ($2 - 1))::int END AS turn_day,
       CASE WHEN random() < 0.5 THEN 0.3 ELSE 1.6 END AS turn_factor
FROM (SELECT id, account_id, random() AS b FROM campaigns) c;

INSERT INTO campaign_metrics (campaign_id, account_id, period_start, period_end, impressions, reach, clicks, conversions,
                              spend, revenue)
SELECT p.id, p.account_id, d.start, d.start + interval '1 day', 8000 + (random() * 4000)::int, 6000, 150 + (random() * 100)::int,
       greatest(0, round((4 * r.roi * (0.7 + random() * 0.6))::numeric))::int, s.spend,
       round(s.spend * (r.roi * (0.7 + random() * 0.6))::numeric, 2)
FROM plan p
CROSS JOIN LATERAL (SELECT date_trunc('day', now()) - make_interval(days => $2 - k) AS start, k
                      FROM generate_series(0, $2 - 1) k) d
CROSS JOIN LATERAL (SELECT CASE WHEN p.turn_day IS NOT NULL AND d.k >= p.turn_day THEN p.roi * p.turn_factor
                                ELSE p.roi END AS roi) r
CROSS JOIN LATERAL (SELECT round((60 + random() * 40)::numeric, 2) AS spend) s;

UPDATE campaigns c SET impressions = t.impressions, reach = t.reach, clicks = t.clicks,
       conversions = t.conversions, spend = t.spend, revenue = t.revenue
FROM (SELECT campaign_id, sum(impressions) AS impressions, sum(reach) AS reach, sum(clicks) AS clicks,
             sum(conversions) AS conversions, sum(spend) AS spend, sum(revenue) AS revenue
        FROM campaign_metrics GROUP BY campaign_id) t
WHERE c.id = t.campaign_id;
"""


async def timed_backtest(conn: asyncpg.Connection, days: int) -> tuple[float, dict]:
    started = time.perf_counter()
    async with conn.transaction():
        result = await conn.fetchval(
            "SELECT run_backtest(date_trunc('day', now()) - make_interval(days => $1),"
            " date_trunc('day', now()), 'day', '\"active\"', '{}')",
            days,
        )
    return time.perf_counter() - started, result


async def run(args: argparse.Namespace) -> str:
    url, kind = scratch_database(NAME)
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        loaded = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                MAKE_MONTHS.format(days=args.days + 1)
                + GENERATE.replace("$1", str(args.campaigns)).replace("$2", str(args.days))
            )
        await conn.execute("VACUUM ANALYZE")
        load_seconds = time.perf_counter() - loaded
        rows = await conn.fetchval("SELECT count(*) FROM campaign_metrics")
        cold, result = await timed_backtest(conn, args.days)
        dry: list[float] = []
        for _ in range(args.days):
            started = time.perf_counter()
            async with conn.transaction():
                await conn.fetchval(
                    "SELECT run_autonomous_operations_with_posting(dry_run => true)"
                )
            dry.append(time.perf_counter() - started)
        warm, again = await timed_backtest(conn, args.days)
        assert again["totals"] == result["totals"], "the replay decided differently the second time"
    finally:
        await conn.close()
        if not args.keep:
            drop_database(NAME)
    dry_total = sum(dry)
    totals = result["totals"]
    per_step = cold / result["steps"]
    ratio_cold, ratio_warm = cold / dry_total, warm / dry_total
    verdict = "met" if max(ratio_cold, ratio_warm) <= 1 else "NOT met"
    stretch = "met" if max(ratio_cold, ratio_warm) <= 0.3 else "not met"
    return f"""## Backtest: {args.campaigns:,} campaigns × {args.days} days, daily steps (`scripts/bench_backtest.py`)

{machine()}; PostgreSQL on the {kind} server. {rows:,} daily metric rows (loaded and analyzed in
{load_seconds:.1f} s); the replay runs the cycle's own plan and actions at each of {result["steps"]} steps.

| run | seconds | per step | vs {args.days} dry-run cycles |
|---|---:|---:|---:|
| backtest, first run right after the load (cold) | {cold:.2f} | {per_step * 1000:,.0f} ms | {ratio_cold:.2f}× |
| backtest, again (warm) | {warm:.2f} | {warm / result["steps"] * 1000:,.0f} ms | {ratio_warm:.2f}× |
| {args.days} dry-run cycles (each a whole cycle, undone) | {dry_total:.2f} | {dry_total / len(dry) * 1000:,.0f} ms | 1.00× |

- Target ≤ 1× the dry-run cycles: **{verdict}**; stretch ≤ 0.3×: **{stretch}**.
- The replay decided {totals["pauses"]:,} pauses and {totals["scales"]:,} scales over
  {result["campaigns"]:,} campaigns: saved {float(totals["saved"]):,.2f}, estimated added profit
  {float(totals["added_profit_estimate"]):,.2f}, {totals["regrets"]:,} regrets (the same on the second run).

Reproduce: `.venv/bin/python scripts/bench_backtest.py --campaigns {args.campaigns} --days {args.days}`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--no-write", action="store_true", help="print, do not update the report")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    if not args.no_write:
        write_section("backtest", report)


if __name__ == "__main__":
    main()
