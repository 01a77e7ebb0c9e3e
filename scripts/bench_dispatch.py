"""Dispatcher benchmark: deliveries/s against the local fake platform, with zero duplicates.

The fake Graph/X server (tests/fakeplatform.py) runs in its own process on 127.0.0.1, the service in
another (Instagram fetches the optimized JPEG from it), and the dispatcher passes in this one.

    .venv/bin/python scripts/bench_dispatch.py [--schedules 400] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
from benchlib import (
    ROOT,
    drop_database,
    machine,
    scratch_database,
    start_server,
    stop_server,
    write_section,
)

from app.background.posts import dispatch_once
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool
from app.services.publishers.live import LivePublisher
from tests.servers import free_port


async def run(args: argparse.Namespace) -> None:
    name = "ao_bench_dispatch"
    url, kind = scratch_database(name)
    data_dir = ROOT / ".data" / "bench-dispatch"
    settings = Settings(database_url=url, data_dir=data_dir)
    cipher = TokenCipher(settings.encryption_key())
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakeplatform", str(fake_port)], cwd=ROOT)
    fake_url = f"http://127.0.0.1:{fake_port}"
    proc, base = start_server(url, {"DATA_DIR": str(data_dir)})
    pool = await create_pool(url, 1, args.concurrency + 4)
    try:
        for _ in range(100):
            try:
                httpx.get(f"{fake_url}/_posts", timeout=1)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        async with pool.acquire() as conn:
            for platform in args.platforms.split(","):
                await conn.execute(
                    "INSERT INTO social_accounts (platform, account_id, access_token_encrypted, token_last4)"
                    " VALUES ($1, $2, $3, 'xxxx')",
                    platform,
                    f"{platform}-bench",
                    cipher.encrypt(f"{platform}-token-bench"),
                )
            await conn.execute(
                """INSERT INTO campaigns (external_id, title, description, status, image_url, landing_url, started_at)
                   SELECT 'dispatch-' || g, 'Dispatch ' || g, 'Spring offer number ' || g, 'active',
                          $2 || '/images/sample.png?w=600&h=600', 'https://shop.example.com/p/' || g, now()
                   FROM generate_series(1, $1) g""",
                args.schedules,
                fake_url,
            )
            await conn.execute(
                """SELECT _ao_schedule_posts(jsonb_agg(jsonb_build_object('campaign_id', id, 'confidence', 1,
                                                                          'reason', 'bench')), NULL)
                   FROM campaigns"""
            )
            await conn.execute(
                "UPDATE campaign_schedules SET scheduled_for = now() - interval '1 second'"
            )
        publisher = LivePublisher(
            f"{fake_url}/v21.0", fake_url, base, timeout=30, poll_interval=0.05
        )
        outcomes: Counter[str] = Counter()
        start = time.perf_counter()
        while True:
            report = await dispatch_once(
                pool, publisher, cipher, limit=args.batch, concurrency=args.concurrency
            )
            outcomes.update(report.outcomes)
            if report.claimed == 0:
                break
        elapsed = time.perf_counter() - start
        await publisher.aclose()
        print(f"dispatched in {elapsed:.2f}s: {dict(outcomes)}")
        if args.cpu:
            import psutil

            for label, pid in (("fake", fake.pid), ("service", proc.pid), ("dispatcher", None)):
                times = psutil.Process(pid).cpu_times()
                print(f"  cpu {label}: {times.user + times.system:.2f}s")
        posts = httpx.get(f"{fake_url}/_posts", timeout=30).json()["posts"]
    finally:
        await pool.close()
        stop_server(proc)
        fake.terminate()
        fake.wait(timeout=10)
        drop_database(name)

    published = [p for p in posts if p["platform"] in ("facebook", "instagram", "twitter")]
    keys = Counter(
        (p["platform"], p.get("message") or p.get("text") or p.get("creation_id"))
        for p in published
    )
    duplicates = sum(n - 1 for n in keys.values() if n > 1)
    deliveries = outcomes.get("posted", 0)
    rate = deliveries / elapsed
    report = f"""
## Dispatcher (issue 5)

`scripts/bench_dispatch.py --schedules {args.schedules} --batch {args.batch} --concurrency {args.concurrency}` on
{datetime.now(UTC):%Y-%m-%d}, {machine()}, PostgreSQL: {kind}. {args.schedules} due schedules × 3 platforms; the live
publishers over HTTP against the fake Graph/X server (its own process), Instagram fetching a 600×600 image
optimized by the service (another process): a Facebook post is 1 request, an Instagram post 3 (container,
status, publish) plus the image fetch, an X post 1. Every claim, accepted id and result is its own committed
transaction, as in production.

| deliveries | outcomes | time | deliveries/s | duplicates on the platform |
|---|---|---|---|---|
| {deliveries + sum(v for k, v in outcomes.items() if k != "posted"):,} | {json.dumps(dict(outcomes))} | {elapsed:.2f} s | **{rate:,.0f}** | **{duplicates}** |

Target ≥ 200 deliveries/s with zero duplicates: **{"met" if rate >= 200 and duplicates == 0 else "NOT met"}**.
"""
    write_section("dispatch", report)
    print(report)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=400)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--platforms", default="facebook,instagram,twitter")
    parser.add_argument("--cpu", action="store_true", help="print the CPU time of each process")
    import uvloop  # what the dispatch worker runs on (autonomous-ops dispatch)

    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
