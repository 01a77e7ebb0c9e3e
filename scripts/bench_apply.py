"""Apply benchmark: a Google Ads customer of 1,000 campaigns in autopilot, every one scaled by a cycle,
the platform changes sent to the fake Google server on 127.0.0.1 (tests/fake_ads.py) that allows
``--limit`` mutates a second and answers RESOURCE_EXHAUSTED with its retryDelay past that. Each change
is read first, then written; the changes per second are reported as a share of the fake's limit, with
one sender and with two at once (the rollbacks of the same changes), and the writes that took are
counted per budget (never twice).

Runs on a scratch database on the server the tests use (TEST_DATABASE_URL, else 127.0.0.1:5432, else
embedded), then writes docs/benchmarks.md.

    .venv/bin/python scripts/bench_apply.py [--campaigns 1000] [--limit 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from benchlib import BENCH_SECRET, drop_database, machine, scratch_database, write_section

from app.background.changes import send_due
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool
from app.services.apply import Sender
from app.services.sync import encrypt_credentials, sync_once
from tests.dbserver import OPEN_PORTFOLIO_LIMITS
from tests.fake_ads import FakeGoogle, GoogleCustomer
from tests.servers import serve

TIMEZONE = "UTC"
CUSTOMER = "1234567890"
CREDENTIALS = {
    "refresh_token": "1//google-refresh-0001",
    "client_id": "client-1.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret-0001",
    "developer_token": "dev-token-0001",
}


def customer(campaigns: int, days: list[date]) -> GoogleCustomer:
    c = GoogleCustomer(CUSTOMER, timezone=TIMEZONE)
    for i in range(campaigns):
        cid = str(1000 + i)
        c.campaigns.append(
            {"id": cid, "name": f"Bench {i}", "budget_micros": 20_000_000 + 10_000 * i}
        )
        for day in days:  # ROI 5 with 5 conversions a day: each campaign is doubled
            c.days[(cid, day)] = {
                "cost_micros": 20_000_000,
                "impressions": 2000,
                "clicks": 90,
                "conversions": 5.0,
                "value": 100.0,
            }
    return c


async def prepare(db_url: str, settings: Settings, cipher: TokenCipher) -> int:
    """The customer connected in autopilot and synced, and a cycle that scales every campaign."""
    conn = await asyncpg.connect(db_url)
    try:
        blob, last4 = encrypt_credentials(cipher, CREDENTIALS)
        await conn.execute(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, mode,"
            " credentials_encrypted, credentials_last4, next_sync_at)"
            " VALUES ('google', $1, 'Bench', 'USD', $2, 'autopilot', $3, $4, now())",
            CUSTOMER,
            TIMEZONE,
            blob,
            last4,
        )
        await conn.execute(OPEN_PORTFOLIO_LIMITS)
        pool = await create_pool(db_url, 1, 2)
        try:

            async def no_wait(_seconds: float) -> None:
                return None

            synced = await sync_once(pool, settings, cipher, worker="bench", sleep=no_wait)
            assert synced is not None and synced["status"] == "succeeded", synced
        finally:
            await pool.close()
        await conn.fetchval("SELECT run_autonomous_operations()")
        return int(await conn.fetchval("SELECT count(*) FROM platform_changes"))
    finally:
        await conn.close()


async def drain(db_url: str, settings: Settings, cipher: TokenCipher, senders: int) -> float:
    """Runs ``senders`` senders at once until no change is left to send; the seconds it took."""
    pool = await create_pool(db_url, 1, 2 * senders + 2)
    try:

        async def one(name: str) -> None:
            sender = Sender(pool, name, settings.change_lease_seconds)
            while (await send_due(pool, settings, cipher, sender)).claimed:
                pass

        started = time.perf_counter()
        await asyncio.gather(*(one(f"bench-{k}") for k in range(senders)))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def run(campaigns: int, limit: int) -> str:
    name = "ao_bench_apply"
    db_url, kind = scratch_database(name)
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    days = [today - timedelta(days=k) for k in range(7, 0, -1)]
    fake = FakeGoogle([customer(campaigns, days)])
    try:
        with serve(fake.app()) as url:
            settings = Settings(
                database_url=db_url,
                jwt_secret=BENCH_SECRET,
                data_dir=Path("/tmp/ao-bench-apply"),
                media_fetch_allow_private=True,
                google_ads_api_url=url,
                google_oauth_token_url=f"{url}/token",
                sync_backfill_days=7,
            )
            cipher = TokenCipher(settings.encryption_key())
            changes = await prepare(db_url, settings, cipher)
            assert changes == campaigns, (changes, campaigns)
            fake.writes_per_second = limit
            one_sender = await drain(db_url, settings, cipher, 1)
            applied_scales = list(fake.applied)
            conn = await asyncpg.connect(db_url)
            try:
                states = dict(
                    await conn.fetch("SELECT state, count(*) FROM platform_changes GROUP BY 1")
                )
                assert states == {"applied": campaigns}, states
                await conn.execute(
                    "SELECT rollback_autonomous_action(id, 'bench') FROM autonomous_actions"
                    " WHERE status = 'executed' AND action_type = 'scale'"
                )
            finally:
                await conn.close()
            refused_before = len(fake.writes) - len(fake.applied)
            two_senders = await drain(db_url, settings, cipher, 2)
            conn = await asyncpg.connect(db_url)
            try:
                rolled_back = await conn.fetchval(
                    "SELECT count(*) FROM autonomous_actions WHERE status = 'rolled_back'"
                )
            finally:
                await conn.close()
            assert rolled_back == campaigns, rolled_back
    finally:
        drop_database(name)

    def per_budget(writes: list[dict[str, object]]) -> Counter[str]:
        return Counter(
            json.dumps(w["body"]["operations"][0]["update"]["resourceName"])  # type: ignore[index]
            for w in writes
        )

    scales = per_budget(applied_scales)
    rollbacks = per_budget(fake.applied[len(applied_scales) :])
    doubled = sum(1 for n in (*scales.values(), *rollbacks.values()) if n > 1)
    refused_after = len(fake.writes) - len(fake.applied) - refused_before
    line = lambda label, seconds, refused: (  # noqa: E731
        f"| {label} | {seconds:.2f} s | {campaigns / seconds:.1f} | {campaigns / seconds / limit:.2f}× "
        f"| {refused:,} |"
    )
    return "\n".join(
        [
            "## Applying changes (`make bench-apply`)",
            "",
            f"One Google Ads customer of {campaigns:,} campaigns in autopilot; one cycle scales every one, "
            "so the outbox holds as many budget changes. The fake Google server on 127.0.0.1 "
            f"(`tests/fake_ads.py`) allows {limit} mutates a second and answers `RESOURCE_EXHAUSTED` with "
            "its `retryDelay` past that. Each change is read first (`searchStream`), then written "
            "(`campaignBudgets:mutate`), then recorded. Then every scale is rolled back, by two senders at "
            "once (SKIP LOCKED). Measured side by side in one run.",
            "",
            f"Machine: {machine()}; database: {kind}.",
            "",
            "| run | time | changes/s | × the fake's limit | writes refused by the limit (then waited out) |",
            "|---|---|---|---|---|",
            line("1 sender, the scales", one_sender, refused_before),
            line("2 senders, their rollbacks", two_senders, refused_after),
            "",
            f"Writes that took, per budget: {len(scales):,} budgets scaled once each, {len(rollbacks):,} "
            f"rolled back once each; budgets written twice: {doubled}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=50, help="the fake's mutates per second")
    args = parser.parse_args()
    report = asyncio.run(run(args.campaigns, args.limit))
    print(report)
    write_section("apply", report)


if __name__ == "__main__":
    main()
