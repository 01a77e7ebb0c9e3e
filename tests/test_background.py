"""Background work lives in one package and runs from one list: the service (with its scheduler on)
and every ``autonomous-ops worker`` start the same loops, each of which does its work in both; the
values the loops share with the database (notify channels, advisory lock keys) have one source each."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from app.background import CHANNELS, LOOPS, Background
from app.background.worker import run_worker
from app.core.crypto import TokenCipher
from app.db.migrations import MIGRATION_LOCK_KEY
from app.main import create_app
from tests.scenario import campaign, connect_account
from tests.servers import Receiver, serve

APP = Path(__file__).resolve().parents[1] / "app"


async def _wait_for(predicate, seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_every_loop_runs_in_the_service_and_in_a_worker(settings, db):
    receiver = Receiver()
    with serve(receiver.app()) as url:
        s = settings.model_copy(
            update={
                "scheduler_enabled": True,
                "media_fetch_allow_private": True,
                "cycle_cron": "0 0 1 1 *",  # fired by hand below, never by the clock
                "dispatch_interval_seconds": 0.2,
                "webhook_retry_base_seconds": 0.05,
            }
        )
        # Work for each loop, made before either host starts:
        cipher = TokenCipher(s.encryption_key())
        # the webhook sender: an endpoint for executed actions
        await db.execute(
            "INSERT INTO webhook_endpoints (url, event_types, secret_encrypted) VALUES ($1, $2, $3)",
            f"{url}/hook",
            ["action.executed"],
            cipher.encrypt("whsec_" + "A" * 32),
        )
        # the post dispatcher: a schedule due now, to the sandbox
        await db.execute(
            "INSERT INTO social_accounts (platform, account_id, access_token_encrypted)"
            " VALUES ('facebook', 'page-1', $1)",
            cipher.encrypt("facebook-token-1"),
        )
        share = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400)
        await db.execute("SELECT auto_post_campaign_to_social($1)", share)
        await db.execute("UPDATE campaign_schedules SET scheduled_for = now()")
        # the trigger listener: a campaign whose new metrics cross Critical ROI Pause (queued)
        loser = await campaign(db, spend=200, revenue=20)
        # the backtest runner: a backtest queued
        await db.execute("SELECT create_backtest(now() - interval '3 days', now())")

        app = create_app(s)
        stop = asyncio.Event()
        started: asyncio.Queue[Background] = asyncio.Queue()
        async with app.router.lifespan_context(app):
            worker = asyncio.create_task(
                run_worker(s.database_url, s, stop=stop, started=started)  # type: ignore[arg-type]
            )
            try:
                in_worker = await asyncio.wait_for(started.get(), 30)
                in_service: Background = app.state.background
                hosts = {"service": in_service, "worker": in_worker}
                for background in hosts.values():
                    assert tuple(lp.name for lp in background.loops) == LOOPS

                async def all_passed() -> bool:
                    return all(
                        lp.passes >= 1
                        for b in hosts.values()
                        for lp in b.loops
                        if lp.name != "cron"
                    )

                await _wait_for(all_passed, what="a pass of every loop in both")
                for background in hosts.values():
                    background.loop("cron").fire_now()  # type: ignore[attr-defined]

                async def cron_fired() -> bool:
                    return all(b.loop("cron").passes >= 1 for b in hosts.values())

                await _wait_for(cron_fired, what="the cron in both")

                async def all_done() -> bool:
                    posted = await db.fetchval(
                        "SELECT count(*) FROM social_posts WHERE status = 'posted'"
                    )
                    backtest = await db.fetchval("SELECT status FROM backtests")
                    return posted == 1 and backtest == "succeeded" and len(receiver.requests) >= 1

                await _wait_for(all_done, what="the work of every loop")
            finally:
                stop.set()
                await asyncio.wait_for(worker, 30)

    # Each piece of work was done once, by one host or the other.
    assert (await db.fetchrow("SELECT status FROM campaigns WHERE id = $1", loser))["status"] == (
        "paused"
    )
    pauses = await db.fetch(
        "SELECT c.trigger FROM autonomous_actions a JOIN autonomous_cycles c ON c.id = a.cycle_id"
        " WHERE a.action_type = 'pause'"
    )
    assert [p["trigger"] for p in pauses] == ["metrics"]
    cron = await db.fetch("SELECT idempotency_key FROM autonomous_cycles WHERE trigger = 'cron'")
    assert len(cron) == 1 and cron[0]["idempotency_key"].startswith("cron:")
    assert await db.fetchval("SELECT count(*) FROM social_posts") == 1
    sandbox = settings.data_dir / "sandbox" / "posts.jsonl"
    assert len(sandbox.read_text().splitlines()) == 1
    events = [json.loads(r["body"])["data"]["action_type"] for r in receiver.requests]
    assert "pause" in events and "post" in events


async def test_the_worker_once_passes_each_loop_and_says_what_it_did(settings, db, capsys):
    await campaign(db, spend=200, revenue=20)  # queued for the trigger rules
    await db.execute("SELECT create_backtest(now() - interval '2 days', now())")
    await run_worker(settings.database_url, settings, once=True)  # type: ignore[arg-type]
    said = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in said] == [n for n in LOOPS if n != "cron"]
    assert "trigger listener: claimed 1 (succeeded 1)" in said
    assert "backtest runner: claimed 1" in said
    assert await db.fetchval("SELECT status FROM backtests") == "succeeded"


def test_no_background_loop_lives_outside_app_background():
    """What starts or drives a loop (a scheduler, a LISTEN, a wait-for-stop loop) is in app/background
    only."""
    markers = ("AsyncIOScheduler", "add_listener(", "while not stop", "add_job(")
    found = [
        f"{path.relative_to(APP)}: {marker}"
        for path in APP.rglob("*.py")
        if "background" not in path.relative_to(APP).parts
        for marker in markers
        if marker in path.read_text(encoding="utf-8")
    ]
    assert found == []


async def test_channels_and_lock_keys_have_one_source(db):
    channels = {r["kind"]: r["channel"] for r in await db.fetch("SELECT * FROM ao_channels()")}
    assert channels == CHANNELS
    assert await db.fetchval("SELECT ao_lock_key('migrations')") == MIGRATION_LOCK_KEY
    keys = [r["key"] for r in await db.fetch("SELECT key FROM ao_lock_keys()")]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
async def test_each_channel_wakes_its_loop(db, db_url, kind):
    """The database notifies exactly the channel a loop listens on when its kind of work arrives."""
    import asyncpg

    listener = await asyncpg.connect(db_url)
    heard: list[str] = []
    await listener.add_listener(CHANNELS[kind], lambda *_a: heard.append(kind))
    try:
        if kind == "posts":
            await db.execute("UPDATE autonomous_settings SET post_lead_minutes = 0")
            await connect_account(db, "facebook")
            cid = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3)
            await db.execute("SELECT auto_post_campaign_to_social($1)", cid)
        elif kind == "metrics":
            await campaign(db, spend=200, revenue=20)
        elif kind == "webhooks":
            await db.execute(
                "INSERT INTO webhook_endpoints (url, secret_encrypted) VALUES ('https://example.com/h', '\\x00')"
            )
            await campaign(db, spend=200, revenue=20)
            await db.execute("SELECT evaluate_metric_triggers()")
        elif kind == "syncs":
            account = await db.fetchval(
                "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, is_sandbox)"
                " VALUES ('meta', 'act_7', 'Sandbox', 'USD', 'UTC', true) RETURNING id"
            )
            await db.execute("SELECT request_ad_account_sync($1, 'api', 'test')", account)
        elif kind == "changes":
            # a campaign of an account in autopilot crossing Critical ROI Pause: its change is sent
            account = await db.fetchval(
                "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, is_sandbox, mode)"
                " VALUES ('meta', 'act_7', 'Sandbox', 'USD', 'UTC', true, 'autopilot') RETURNING id"
            )
            await campaign(db, spend=200, revenue=20, account_id=account)
            await db.execute("SELECT evaluate_metric_triggers()")
        else:
            await db.execute("SELECT create_backtest(now() - interval '2 days', now())")

        async def notified() -> bool:
            return bool(heard)

        await _wait_for(notified, 10, f"a notification on {CHANNELS[kind]}")
    finally:
        await listener.close()
