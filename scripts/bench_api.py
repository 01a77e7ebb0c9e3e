"""API benchmark: GET /stats and GET /actions?limit=50 with 100,000 campaigns and 1,000,000
actions, from a loopback load generator against one uvicorn worker; figures to docs/benchmarks.md.

    .venv/bin/python scripts/bench_api.py [--campaigns 100000] [--actions 1000000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import asyncpg
from benchlib import (
    BENCH_SECRET,
    drop_database,
    machine,
    scratch_database,
    start_server,
    stop_server,
    write_section,
)
from loadgen import run_load

from app.core.security import mint_token

GENERATE = """
SELECT setseed(0.7);
INSERT INTO campaigns (external_id, title, status, daily_budget, started_at, spend, revenue, clicks, impressions)
SELECT 'api-' || g, 'Campaign ' || g, 'active', 100, now() - interval '10 days', 500, 900, 300, 20000
FROM generate_series(1, $C) g;
CREATE TEMP TABLE ids AS SELECT row_number() OVER () AS n, id FROM campaigns;
INSERT INTO autonomous_actions (campaign_id, action_type, reason, previous_state, new_state, confidence,
                                expected_impact, status, created_at, executed_at)
SELECT ids.id, (ARRAY['pause', 'scale', 'post'])[1 + g % 3], 'bench action ' || g,
       '{"status": "active", "daily_budget": 100}', '{"status": "paused", "daily_budget": 100}', 0.9,
       '{"sentence": "bench"}', CASE WHEN g % 10 = 0 THEN 'rolled_back' ELSE 'executed' END,
       now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
FROM generate_series(1, $A) g
JOIN ids ON ids.n = 1 + g % $C;
INSERT INTO autonomous_cycles (trigger, status, finished_at, summary) VALUES ('cron', 'succeeded', now(), '{}');
ANALYZE;
"""


async def setup(url: str, campaigns: int, actions: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            GENERATE.replace("$C", str(int(campaigns))).replace("$A", str(int(actions)))
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=100_000)
    parser.add_argument("--actions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    name = "ao_bench_api"
    url, kind = scratch_database(name)
    t = time.perf_counter()
    asyncio.run(setup(url, args.campaigns, args.actions))
    print(
        f"loaded {args.campaigns:,} campaigns and {args.actions:,} actions in {time.perf_counter() - t:.1f}s"
    )
    proc, base = start_server(url)
    results = {}
    try:
        headers = {
            "Authorization": f"Bearer {mint_token(BENCH_SECRET, 'authenticated', 'service', 3600)}"
        }
        for path in ("/stats", "/actions?limit=50"):
            asyncio.run(run_load(base + path, headers, 2, args.connections))  # warm-up
            res = asyncio.run(run_load(base + path, headers, args.seconds, args.connections))
            assert res.errors == 0, res.statuses
            results[path] = res
            print(
                f"{path}: {res.rps:,.0f} req/s, p50 {res.p50 * 1000:.1f} ms, p99 {res.percentile(99) * 1000:.1f} ms"
            )
    finally:
        stop_server(proc)
        drop_database(name)

    stats = results["/stats"]
    ok = stats.rps >= 1000 and stats.percentile(99) <= 0.050
    rows = "\n".join(
        f"| `GET {p}` | {r.requests:,} | {r.rps:,.0f} | {r.p50 * 1000:.1f} ms | {r.percentile(99) * 1000:.1f} ms |"
        for p, r in results.items()
    )
    report = f"""
## API: `GET /stats` and `GET /actions` (issue 3)

`scripts/bench_api.py --seconds {args.seconds:g} --connections {args.connections}` on {datetime.now(UTC):%Y-%m-%d},
{machine()}, PostgreSQL: {kind}. {args.campaigns:,} campaigns and {args.actions:,} actions; one uvicorn worker
(`autonomous-ops serve`, the app as it ships: JWT check, a transaction with `request.jwt.claims` and
`SET LOCAL ROLE`, row-level security, pydantic models); the load generator (`scripts/loadgen.py`, raw asyncio
keep-alive connections) runs in another process on the same 2 cores, after a 2 s warm-up.
`/stats` reads counters kept by statement triggers, not a count over a million rows.

| request | requests | req/s | p50 | p99 |
|---|---|---|---|---|
{rows}

Target for `/stats` (≥ 1,000 req/s, p99 ≤ 50 ms): **{"met" if ok else "NOT met"}**.
"""
    write_section("api", report)
    print(report)


if __name__ == "__main__":
    main()
