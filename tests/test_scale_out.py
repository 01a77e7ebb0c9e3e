"""Scale-out: any number of service replicas with their background loops, and of workers, on one database.

One cycle per cron slot (the replicas fire the same slot; one runs it, the others find its result) and
no post delivered twice (the workers and the services' dispatchers claim with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from app.background.cron import cron_slot, cycle_trigger, slot_key
from app.core.crypto import TokenCipher
from app.db.migrations import PROJECT_ROOT
from app.db.pool import _init_connection
from tests.fakeplatform import FakePlatform
from tests.scenario import campaign
from tests.servers import free_port, serve

SECRET = "scale-out-secret-" + "s" * 40
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
SLOT = "cron:2026-11-27T12:00:00Z"
CYCLE = "SELECT run_autonomous_operations_with_posting(false, $1, 'scheduler', $2)"


def test_a_slot_is_the_crons_latest_fire_time():
    every_minute, hourly = cycle_trigger("* * * * *"), cycle_trigger("0 * * * *")
    at = datetime(2026, 11, 27, 12, 0, 0, 400_000, tzinfo=UTC)
    assert cron_slot(every_minute, at) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    # A replica that fires late (a busy loop, a restart within the grace) names the same slot.
    assert cron_slot(hourly, at + timedelta(minutes=4, seconds=59)) == at.replace(microsecond=0)
    assert cron_slot(every_minute, at + timedelta(seconds=59)) == at.replace(microsecond=0)
    assert slot_key(at.replace(microsecond=0)) == SLOT
    # Outside any slot's grace (a run by hand): the minute it runs in.
    assert cron_slot(hourly, at + timedelta(minutes=30)) == datetime(
        2026, 11, 27, 12, 30, tzinfo=UTC
    )


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def test_a_slot_fired_by_two_replicas_at_once_runs_once(db, db_url):
    await campaign(db, spend=200, revenue=20)  # a cycle pauses it
    first, second = await _connect(db_url), await _connect(db_url)
    try:
        tx = first.transaction()
        await tx.start()
        ran = await first.fetchval(CYCLE, "cron", SLOT)  # holds the cycle lock until it commits
        assert ran["status"] == "succeeded" and ran["paused"] == 1
        waiting = asyncio.ensure_future(second.fetchval(CYCLE, "cron", SLOT))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second replica must wait for the slot, not skip it"
        await tx.commit()
        replayed = await asyncio.wait_for(waiting, 10)
    finally:
        await first.close()
        await second.close()
    assert replayed["replayed"] is True and replayed["cycle_id"] == ran["cycle_id"]
    rows = await db.fetch("SELECT status, idempotency_key FROM autonomous_cycles")
    assert [tuple(r) for r in rows] == [("succeeded", SLOT)]  # no skipped entry either
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 1
    # A replica that fires after the slot committed replays it too.
    late = await db.fetchval(CYCLE, "cron", SLOT)
    assert late["replayed"] is True and late["cycle_id"] == ran["cycle_id"]


async def test_a_callers_key_never_stands_for_a_slot(db):
    caller = await db.fetchval(CYCLE, "sql", SLOT)
    scheduled = await db.fetchval(CYCLE, "cron", SLOT)
    assert "replayed" not in scheduled and scheduled["cycle_id"] != caller["cycle_id"]
    again = await db.fetchval(CYCLE, "sql", SLOT)
    assert again["replayed"] is True and again["cycle_id"] == caller["cycle_id"]


async def test_a_caller_finding_a_cycle_running_is_still_told_at_once(db, db_url):
    first = await _connect(db_url)
    try:
        tx = first.transaction()
        await tx.start()
        await first.fetchval(CYCLE, "cron", SLOT)
        started = time.monotonic()
        skipped = await db.fetchval(CYCLE, "api", "a-callers-key")
        assert skipped["status"] == "skipped" and time.monotonic() - started < 2
        await tx.rollback()
    finally:
        await first.close()


# -- the processes ------------------------------------------------------------------------------------


def _env(db_url: str, data_dir: Path, fake_url: str, media_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEMO_DATA")}
    env.update(
        {
            "DATABASE_URL": db_url,
            "DATA_DIR": str(data_dir),
            "JWT_SECRET": SECRET,
            "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "SCHEDULER_ENABLED": "true",
            "CYCLE_CRON": "* * * * *",
            "DISPATCH_INTERVAL_SECONDS": "1",
            "SOCIAL_PUBLISHER": "live",
            "FACEBOOK_GRAPH_URL": f"{fake_url}/v21.0",
            "X_API_URL": fake_url,
            "PUBLIC_BASE_URL": media_base,  # Instagram fetches the image from the first replica
            "MEDIA_FETCH_ALLOW_PRIVATE": "true",
            "LOG_FORMAT": "json",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} did not become ready")


def _log_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def _portfolio(db: asyncpg.Connection, image_url: str) -> None:
    """Losers to pause, winners to scale, and shareable campaigns (high CTR) to post at once."""
    for _ in range(3):
        await campaign(db, spend=200, revenue=20)
        await campaign(db, hours=200, spend=500, revenue=3000, conversions=80, budget=50)
    for i in range(4):
        cid = await campaign(
            db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400, title=f"Share {i}"
        )
        await db.execute("UPDATE campaigns SET image_url = $2 WHERE id = $1", cid, image_url)
    await db.execute("UPDATE autonomous_settings SET post_lead_minutes = 0")
    cipher = TokenCipher(ENCRYPTION_KEY)
    for platform in ("facebook", "instagram", "x"):
        await db.execute(
            "INSERT INTO social_accounts (platform, account_id, access_token_encrypted) VALUES ($1, $2, $3)",
            platform,
            f"{platform}-scale-out",
            cipher.encrypt(f"{platform}-token-scale-out"),
        )


async def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def test_two_replicas_and_two_workers_run_each_slot_once_and_post_once(db, db_url, tmp_path):
    fake = FakePlatform()
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    with serve(fake.app()) as fake_url:
        await _portfolio(db, f"{fake_url}/images/sample.png")
        ports = [free_port(), free_port()]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        data_dir = tmp_path / "data"
        env = _env(db_url, data_dir, fake_url, bases[0])
        try:
            for i, port in enumerate(ports):
                logs.append(tmp_path / f"replica-{i}.log")
                procs.append(_spawn(["serve"], {**env, "PORT": str(port)}, logs[-1]))
            for i in range(2):
                logs.append(tmp_path / f"worker-{i}.log")
                procs.append(_spawn(["worker", "--batch", "2"], env, logs[-1]))
            for base, proc, log in zip(bases, procs, logs, strict=False):
                await asyncio.to_thread(_wait_ready, base, proc, log)
            # The first slot both schedulers are sure to fire: the next minute after both are up.
            ready = datetime.now(UTC)
            slot = ready.replace(second=0, microsecond=0) + timedelta(minutes=1)
            key = slot_key(slot)

            async def slot_done() -> bool:
                status = await db.fetchval(
                    "SELECT status FROM autonomous_cycles WHERE idempotency_key = $1", key
                )
                mentioned = [
                    any(key in json.dumps(line) for line in _log_lines(log)) for log in logs
                ]
                return status == "succeeded" and all(mentioned)

            await _wait_for(slot_done, (slot - ready).total_seconds() + 45, f"the slot {key}")

            async def all_posted() -> bool:
                counts = await db.fetchrow(
                    "SELECT count(*) FILTER (WHERE status = 'posted') AS done, count(*) AS total"
                    " FROM social_posts"
                )
                return counts["total"] == 12 and counts["done"] == 12

            await _wait_for(all_posted, 45, "every delivery posted")
            await asyncio.sleep(2)  # a double delivery, were there one, would land by now
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()

    # One cycle per slot: every scheduled cycle has a slot of its own, none was skipped.
    cycles = await db.fetch(
        "SELECT idempotency_key, status, summary FROM autonomous_cycles WHERE trigger = 'cron'"
    )
    per_slot = Counter(r["idempotency_key"] for r in cycles)
    assert per_slot[key] == 1 and all(n == 1 for n in per_slot.values()), per_slot
    assert all(r["status"] == "succeeded" for r in cycles), [r["status"] for r in cycles]
    first = next(r for r in cycles if r["idempotency_key"] == key)["summary"]
    assert (first["scaled"], first["posted"]) == (3, 4), first
    # The losers' metrics were queued for the trigger rules (Critical ROI Pause) before the services
    # started: the listeners pause them as they start (else the slot does), each exactly once.
    pauses = await db.fetch(
        "SELECT a.campaign_id, c.trigger FROM autonomous_actions a"
        " JOIN autonomous_cycles c ON c.id = a.cycle_id WHERE a.action_type = 'pause'"
    )
    assert len({r["campaign_id"] for r in pauses}) == len(pauses) == 3, pauses
    assert first["paused"] == sum(r["trigger"] == "cron" for r in pauses), (first, pauses)
    # Every process fired the slot (the replicas and the workers run the same loops): one ran it, the
    # three others found it run.
    said = [
        [line["message"] for line in _log_lines(log) if key in json.dumps(line)] for log in logs
    ]
    assert sorted(any("already run by another replica" in m for m in s) for s in said) == [
        False,
        True,
        True,
        True,
    ], said
    # No schedule made twice, no delivery sent twice (seen from the platform's side).
    assert await db.fetchval("SELECT count(*) FROM campaign_schedules") == 4
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 10
    by_platform = Counter(p["platform"] for p in fake.posts)
    assert by_platform["facebook"] == 4 and by_platform["instagram"] == 4, by_platform
    assert len({p["message"] for p in fake.posts if p["platform"] == "facebook"}) == 4
    assert len({p["creation_id"] for p in fake.posts if p["platform"] == "instagram"}) == 4
    tweets = [p["text"] for p in fake.posts if p["platform"] == "x"]
    assert len(tweets) == len(set(tweets)) >= 4
    published = await db.fetch("SELECT external_post_ids FROM social_posts")
    assert sum(len(r["external_post_ids"]) for r in published) == len(
        [p for p in fake.posts if p["platform"] != "instagram-container"]
    )
