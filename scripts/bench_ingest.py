"""Ingestion benchmark: POST /metrics with 10,000-row batches against a bare COPY of the same rows.

Runs the real service (one uvicorn worker) against a scratch database on the server the tests use
(TEST_DATABASE_URL, else 127.0.0.1:5432, else embedded), then writes docs/benchmarks.md.

    .venv/bin/python scripts/bench_ingest.py [--batches 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
from benchlib import (
    BENCH_SECRET,
    drop_database,
    machine,
    scratch_database,
    start_server,
    stop_server,
    write_section,
)

from app.core.security import mint_token

BATCH = 10_000
CAMPAIGNS = 500
DAY0 = datetime(2025, 1, 1, tzinfo=UTC)


def make_batches(ids: list[str], batches: int) -> list[list[dict[str, object]]]:
    """``batches`` batches of 10,000 rows: each campaign gets 20 new hourly periods per batch."""
    rng = random.Random(42)
    out = []
    per_campaign = BATCH // len(ids)
    for b in range(batches):
        rows = []
        for cid in ids:
            for h in range(per_campaign):
                start = DAY0 + timedelta(hours=b * per_campaign + h)
                rows.append(
                    {
                        "campaign_id": cid,
                        "period_start": start.isoformat(),
                        "period_end": (start + timedelta(hours=1)).isoformat(),
                        "impressions": rng.randint(100, 20_000),
                        "reach": rng.randint(50, 10_000),
                        "clicks": rng.randint(0, 400),
                        "conversions": rng.randint(0, 20),
                        "spend": round(rng.uniform(1, 300), 2),
                        "revenue": round(rng.uniform(0, 900), 2),
                    }
                )
        out.append(rows)
    return out


async def bare_copy(url: str, batches: list[list[dict[str, object]]]) -> list[float]:
    """COPY the same rows into a table shaped like campaign_metrics (same keys and checks)."""
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE bench_copy (LIKE campaign_metrics INCLUDING ALL)")
    columns = [
        "campaign_id",
        "period_start",
        "period_end",
        "impressions",
        "reach",
        "clicks",
        "conversions",
        "spend",
        "revenue",
    ]
    times = []
    for rows in batches:
        records = [
            (
                r["campaign_id"],
                datetime.fromisoformat(str(r["period_start"])),
                datetime.fromisoformat(str(r["period_end"])),
                r["impressions"],
                r["reach"],
                r["clicks"],
                r["conversions"],
                Decimal(str(r["spend"])),
                Decimal(str(r["revenue"])),
            )
            for r in rows
        ]
        t = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=records, columns=columns)
        times.append(time.perf_counter() - t)
    await conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    name = "ao_bench_ingest"
    url, kind = scratch_database(name)
    proc, base = start_server(url)
    try:
        headers = {
            "Authorization": f"Bearer {mint_token(BENCH_SECRET, 'authenticated', 'service')}",
            "content-type": "application/json",
        }
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            ids = []
            for i in range(CAMPAIGNS):
                r = client.post(
                    "/campaigns",
                    json={
                        "external_id": f"bench-{i}",
                        "title": f"Bench {i}",
                        "status": "active",
                        "daily_budget": 100,
                    },
                )
                ids.append(r.json()["id"])
            batches = make_batches(ids, args.batches + 1)
            bodies = [json.dumps({"rows": rows}).encode() for rows in batches]
            client.post("/metrics", content=bodies[0])  # warm-up: connections, plans, caches
            api_times = []
            for body in bodies[1:]:
                t = time.perf_counter()
                r = client.post("/metrics", content=body)
                api_times.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["rows"] == BATCH, r.text
            # Re-sending a batch (every row an update of an existing period) is the other common case.
            t = time.perf_counter()
            r = client.post("/metrics", content=bodies[1])
            replace_time = time.perf_counter() - t
            assert r.status_code == 200, r.text
    finally:
        stop_server(proc)
    copy_times = asyncio.run(bare_copy(url, batches[1:]))
    drop_database(name)

    api_median = statistics.median(api_times)
    copy_median = statistics.median(copy_times)
    api_rate = BATCH / api_median
    copy_rate = BATCH / copy_median
    report = f"""
## Ingestion: `POST /metrics` (issue 2)

`scripts/bench_ingest.py --batches {args.batches}` on {datetime.now(UTC):%Y-%m-%d}, {machine()}, PostgreSQL: {kind}.
{args.batches} batches of {BATCH:,} new hourly rows over {CAMPAIGNS} campaigns, each one HTTP request to one
uvicorn worker on loopback (body pre-encoded; time includes HTTP, JSON parsing, pydantic validation, the
set-based upsert and the totals recomputation, and the commit). The floor is a bare binary `COPY` of the
same rows into a table with the same keys and checks, from an already open connection.

| what | median per 10,000 rows | rows/s |
|---|---|---|
| `POST /metrics`, new periods | {api_median * 1000:.0f} ms | **{api_rate:,.0f}** |
| `POST /metrics`, re-sent periods (all updates) | {replace_time * 1000:.0f} ms | {BATCH / replace_time:,.0f} |
| bare `COPY` (floor) | {copy_median * 1000:.0f} ms | {copy_rate:,.0f} |

Target ≥ 20,000 rows/s end to end: **{"met" if api_rate >= 20_000 else "NOT met"}**
({api_rate / copy_rate:.2f}× the floor's rate).
"""
    write_section("ingest", report)
    print(report)


if __name__ == "__main__":
    main()
