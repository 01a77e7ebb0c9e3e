"""Sync benchmark: one ad account of 10,000 campaigns × 7 days read from the fake Meta server on
127.0.0.1 (tests/fake_ads.py, the sandbox's Graph API), end to end (paging, parsing, one transaction
into the database), against the fake's own capacity (the same pages fetched and decoded, nothing
else) and against POST /metrics taking the same rows.

Runs on a scratch database on the server the tests use (TEST_DATABASE_URL, else 127.0.0.1:5432, else
embedded), then writes docs/benchmarks.md.

    .venv/bin/python scripts/bench_sync.py [--campaigns 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

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

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.core.security import mint_token
from app.db.pool import create_pool
from app.platforms.graph import Figures, GraphAccount, GraphCampaign
from app.services.sync import encrypt_credentials, sync_once
from tests.fake_ads import FakeMeta
from tests.servers import serve

DAYS = 7
TIMEZONE = "UTC"
TOKEN = "EAAGbench-token-0001"
PAGE = 500


def account(campaigns: int, days: list[date]) -> GraphAccount:
    data = GraphAccount("act_900", "Bench", "USD", TIMEZONE, TOKEN)
    for i in range(campaigns):
        cid = f"238500{i:09d}"
        data.campaigns.append(GraphCampaign(cid, f"Bench campaign {i}", daily_budget=10_000 + i))
        for n, day in enumerate(days):
            data.days[(cid, day)] = Figures(
                impressions=1000 + i % 97,
                clicks=20 + n,
                spend=Decimal(f"{10 + i % 50}.{(i + n) % 100:02d}"),
                purchases=(i + n) % 5,
                purchase_value=Decimal(f"{(i + n) % 5 * 40}.{i % 100:02d}"),
                reach=900,
            )
    return data


async def fake_capacity(url: str, since: date, until: date) -> tuple[float, int]:
    """Seconds to fetch and decode every insights page, and the rows read: the fake's own pace."""
    params = {
        "level": "campaign",
        "time_increment": "1",
        "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        "fields": "campaign_id,campaign_name,spend,impressions,reach,clicks,actions,action_values",
        "limit": str(PAGE),
    }
    rows = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        next_url: str | None = str(httpx.URL(f"{url}/v25.0/act_900/insights", params=params))
        while next_url:
            body = json.loads((await client.get(next_url)).content)
            rows += len(body["data"])
            next_url = (body.get("paging") or {}).get("next")
    return time.perf_counter() - started, rows


async def connect(db_url: str, cipher: TokenCipher) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        blob, last4 = encrypt_credentials(cipher, {"access_token": TOKEN})
        account_id = await conn.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, credentials_encrypted,"
            " credentials_last4, next_sync_at) VALUES ('meta', 'act_900', 'Bench', 'USD', $1, $2, $3, now())"
            " RETURNING id",
            TIMEZONE,
            blob,
            last4,
        )
        return str(account_id)
    finally:
        await conn.close()


async def timed_sync(
    pool: asyncpg.Pool, settings: Settings, cipher: TokenCipher, db_url: str, account_id: str
) -> tuple[float, dict[str, object]]:
    conn = await asyncpg.connect(db_url)
    await conn.execute("UPDATE ad_accounts SET next_sync_at = now() WHERE id = $1", account_id)
    await conn.close()

    async def no_wait(_seconds: float) -> None:
        return None

    started = time.perf_counter()
    synced = await sync_once(pool, settings, cipher, worker="bench", sleep=no_wait)
    elapsed = time.perf_counter() - started
    assert synced is not None and synced["status"] == "succeeded", synced
    return elapsed, synced


async def post_metrics(
    base: str, db_url: str, days: list[date], campaigns: int
) -> tuple[float, int]:
    """POST /metrics of the same rows (by external_id) in 10,000-row batches, one after the other."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO campaigns (external_id, title, status, daily_budget)"
            " SELECT 'post-' || i, 'Posted ' || i, 'active', 100 FROM generate_series(0, $1 - 1) i",
            campaigns,
        )
    finally:
        await conn.close()
    rows = []
    for i in range(campaigns):
        for n, day in enumerate(days):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            rows.append(
                {
                    "external_id": f"post-{i}",
                    "period_start": start.isoformat(),
                    "period_end": (start + timedelta(days=1)).isoformat(),
                    "impressions": 1000 + i % 97,
                    "reach": 900,
                    "clicks": 20 + n,
                    "conversions": (i + n) % 5,
                    "spend": float(f"{10 + i % 50}.{(i + n) % 100:02d}"),
                    "revenue": float(f"{(i + n) % 5 * 40}.{i % 100:02d}"),
                }
            )
    headers = {"Authorization": f"Bearer {mint_token(BENCH_SECRET, 'authenticated', 'service')}"}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as client:
        for i in range(0, len(rows), 10_000):
            r = await client.post("/metrics", json={"rows": rows[i : i + 10_000]})
            assert r.status_code == 200, r.text[:500]
    return time.perf_counter() - started, len(rows)


async def run(campaigns: int) -> str:
    name = "ao_bench_sync"
    db_url, kind = scratch_database(name)
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    days = [today - timedelta(days=k) for k in range(DAYS, 0, -1)]
    fake = FakeMeta([account(campaigns, days)], page_size=PAGE)
    rows = campaigns * DAYS
    try:
        with serve(fake.app()) as url:
            settings = Settings(
                database_url=db_url,
                jwt_secret=BENCH_SECRET,
                data_dir=Path("/tmp/ao-bench-sync"),
                media_fetch_allow_private=True,
                meta_graph_url=url,
                sync_backfill_days=DAYS,
                sync_lookback_days=DAYS,
                meta_async_rows=10_000_000,
            )
            cipher = TokenCipher(settings.encryption_key())
            capacity, read = await fake_capacity(url, days[0], days[-1])
            assert read == rows, (read, rows)
            account_id = await connect(db_url, cipher)
            pool = await create_pool(db_url, 1, 4)
            try:
                cold, first = await timed_sync(pool, settings, cipher, db_url, account_id)
                warm, second = await timed_sync(pool, settings, cipher, db_url, account_id)
                capacity_again, _ = await fake_capacity(url, days[0], days[-1])
            finally:
                await pool.close()
        assert first["rows_read"] == rows and second["rows_revised"] == 0
        proc, base = start_server(db_url)
        try:
            posted, posted_rows = await post_metrics(base, db_url, days, campaigns)
        finally:
            stop_server(proc)
    finally:
        drop_database(name)
    fake_rate = rows / min(capacity, capacity_again)
    post_rate = posted_rows / posted
    line = lambda label, seconds: (  # noqa: E731
        f"| {label} | {seconds:.2f} s | {rows / seconds:,.0f} | {rows / seconds / fake_rate:.2f}× "
        f"| {rows / seconds / post_rate:.2f}× |"
    )
    return "\n".join(
        [
            "## Sync (`make bench-sync`)",
            "",
            f"One Meta ad account of {campaigns:,} campaigns × {DAYS} days ({rows:,} insight rows, pages of {PAGE}) "
            "synced from the fake Meta server on 127.0.0.1 (`tests/fake_ads.py`) into a scratch database: "
            "paging, parsing into exact decimals, one transaction (campaigns upserted, days compared with what "
            "was stored, revisions, ingestion, trigger queue). The fake's capacity is the same insight pages "
            "fetched and decoded by a bare client; `POST /metrics` takes the same rows in 10,000-row batches "
            "from the real service. Measured side by side in one run.",
            "",
            f"Machine: {machine()}; database: {kind}.",
            "",
            "| run | time | rows/s | × the fake's capacity | × `POST /metrics` |",
            "|---|---|---|---|---|",
            line("first sync (cold: campaigns created, every day new)", cold),
            line("next sync (the days re-read, none revised)", warm),
            f"| the fake alone (insight pages only) | {rows / fake_rate:.2f} s | {fake_rate:,.0f} | 1.00× | "
            f"{fake_rate / post_rate:.2f}× |",
            f"| `POST /metrics`, same rows | {posted:.2f} s | {post_rate:,.0f} | {post_rate / fake_rate:.2f}× | 1.00× |",
            "",
            f"Requests per sync: {first['requests']} (campaign pages, insight pages, the account, today's hours).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=10_000)
    args = parser.parse_args()
    report = asyncio.run(run(args.campaigns))
    print(report)
    write_section("sync", report)


if __name__ == "__main__":
    main()
