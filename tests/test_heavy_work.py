"""Work that could hold the database: a rule is at most what a person writes (50 conditions); previews,
analytics and backtests run without JIT (a compilation cannot be interrupted) and under a time limit
that takes effect; a backtest can be cancelled, stops, and is never run again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from app.background.backtests import run_next
from app.db.pool import create_pool
from app.main import create_app
from tests.conftest import auth
from tests.scenario import campaign


def _leaf(i: int) -> dict[str, Any]:
    return {"metric": "spend", "op": "gte", "value": i}


def _rule(conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Big",
        "rule_type": "pause",
        "action": {"type": "pause"},
        "conditions": conditions,
    }


# 3 levels × 20: 8,000 conditions, each group within its 20
HUGE = {
    "all": [{"any": [{"all": [_leaf(k) for k in range(20)]} for _ in range(20)]} for _ in range(20)]
}


async def test_a_rule_has_at_most_50_conditions(client, db):
    fifty = {"all": [{"any": [_leaf(i) for i in range(10)]} for _ in range(5)]}
    r = await client.post("/rules", json=_rule(fifty), headers=auth())
    assert r.status_code == 201, r.text
    for conditions, count in (({"all": [*fifty["all"], {"all": [_leaf(1)]}]}, 51), (HUGE, 8000)):
        for path, body in (
            ("/rules", _rule(conditions)),
            ("/rules/preview", _rule(conditions)),
            (
                "/backtests",
                {"from": "2026-11-01", "to": "2026-11-03", "rules": [_rule(conditions)]},
            ),
        ):
            r = await client.post(path, json=body, headers=auth())
            assert r.status_code == 422, (path, r.text)
            assert "at most 50 conditions" in r.text and str(count) in r.text, r.text
    with pytest.raises(asyncpg.PostgresError, match="at most 50 conditions"):
        await db.execute(
            "INSERT INTO autonomous_rules (name, rule_type, conditions, action) VALUES ('x', 'pause', $1, $2)",
            HUGE,
            {"type": "pause"},
        )


async def test_previews_analytics_backtests_and_evaluations_run_without_jit(db):
    rows = await db.fetch(
        "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY($1)",
        [
            "preview_rule",
            "identify_underperforming_campaigns",
            "identify_scaling_candidates",
            "_ao_replay",
            "evaluate_metric_triggers",
            "run_autonomous_operations_with_posting",
            "_ao_prepare_stats",
        ],
    )
    assert len(rows) == 7
    assert all("jit=off" in (r["proconfig"] or []) for r in rows), [tuple(r) for r in rows]


async def test_a_preview_past_its_time_limit_is_stopped_and_the_service_goes_on(settings, db):
    await campaign(db, spend=200, revenue=20)
    # A preview that would run for a minute (made so in this test database).
    await db.execute(
        """CREATE OR REPLACE FUNCTION preview_rule(p_rule jsonb) RETURNS jsonb LANGUAGE plpgsql
           SET jit = off AS $$ BEGIN PERFORM pg_sleep(60); RETURN '{}'; END $$"""
    )
    app = create_app(settings.model_copy(update={"query_timeout_seconds": 1}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth()) as c:
            started = time.monotonic()
            r = await c.post("/rules/preview", json=_rule({"all": [_leaf(1)]}))
            stopped_after = time.monotonic() - started
            assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
            assert "time limit of 1 s" in r.json()["detail"]
            ok = await c.get("/campaigns/underperforming")
            assert ok.status_code == 200, ok.text
    assert stopped_after < 30  # stopped by its limit, not by the function ending


async def _long_backtest(db) -> str:
    for _ in range(3):
        await campaign(db, hours=24 * 30, spend=200, revenue=20)
    # hourly over 400 days: 9,600 steps, minutes of work (over hours kept that long)
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 36500")
    return str(
        await db.fetchval("SELECT create_backtest(now() - interval '400 days', now(), 'hour')")
    )


async def _wait(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_long_backtest_is_cancelled_and_never_run_again(client, db, db_url):
    backtest_id = await _long_backtest(db)
    pool = await create_pool(db_url, 1, 4)
    try:
        runner = asyncio.create_task(run_next(pool))

        async def progressing() -> bool:
            return (await db.fetchval("SELECT progress FROM backtests")) > 0

        await _wait(progressing)
        r = await client.post(f"/backtests/{backtest_id}/cancel", headers=auth())
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" and r.json()["cancelled_by"]
        assert str(await asyncio.wait_for(runner, 30)) == backtest_id
        row = await db.fetchrow("SELECT * FROM backtests")
        assert row["status"] == "cancelled" and row["result"] is None
        assert row["finished_at"] is not None and 0 < row["progress"] < 1
        # Never taken again, not even once its heartbeat is stale.
        await db.execute("UPDATE backtests SET heartbeat_at = now() - interval '1 hour'")
        assert await run_next(pool) is None
        assert (await db.fetchrow("SELECT status FROM backtests"))["status"] == "cancelled"
        again = await client.post(f"/backtests/{backtest_id}/cancel", headers=auth())
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        queued = await db.fetchval("SELECT create_backtest(now() - interval '2 days', now())")
        r = await client.post(f"/backtests/{queued}/cancel", headers=auth())
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert await run_next(pool) is None
        missing = await client.post(
            "/backtests/00000000-0000-0000-0000-000000000000/cancel", headers=auth()
        )
        assert missing.status_code == 404
    finally:
        await pool.close()


async def test_a_step_that_runs_on_after_a_cancel_is_stopped_by_the_runner(client, db, db_url):
    """The replay looks for a cancel between steps; a step that runs long is cancelled by the runner."""
    backtest_id = await _long_backtest(db)
    await db.execute(
        """CREATE OR REPLACE FUNCTION _ao_replay_step(p_id uuid, p_at timestamptz) RETURNS jsonb
           LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(60); RETURN '{}'; END $$"""
    )
    pool = await create_pool(db_url, 1, 4)
    try:
        runner = asyncio.create_task(run_next(pool))

        async def running() -> bool:
            return (await db.fetchval("SELECT status FROM backtests")) == "running"

        await _wait(running)
        r = await client.post(f"/backtests/{backtest_id}/cancel", headers=auth())
        assert r.status_code == 200, r.text
        assert str(await asyncio.wait_for(runner, 30)) == backtest_id
        assert (await db.fetchrow("SELECT status FROM backtests"))["status"] == "cancelled"
    finally:
        await pool.close()


async def test_a_backtest_past_its_time_limit_fails_saying_so(db, db_url):
    await _long_backtest(db)
    pool = await create_pool(db_url, 1, 4)
    try:
        await asyncio.wait_for(run_next(pool, timeout_seconds=1), 60)
    finally:
        await pool.close()
    row = await db.fetchrow("SELECT status, error, finished_at FROM backtests")
    assert row["status"] == "failed" and row["finished_at"] is not None
    assert "time limit of 1 s" in row["error"]
