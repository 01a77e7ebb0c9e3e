"""The backtest runner: takes queued backtests one at a time and runs them (sql/functions/22_backtest.sql).

The replay is one statement in one transaction; it reports its steps as NOTICEs, which the runner turns
into ``progress`` (and a heartbeat) from another connection, so ``GET /backtests/{id}`` shows how far it
got. A runner that dies mid-run leaves the backtest ``running`` with a stale heartbeat; after 10 minutes
another runner takes it over.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import asyncpg

from app.db import queries
from app.services.wakeups import run_on_wake

log = logging.getLogger("app.backtests")

POLL_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 0.5
_STEP = re.compile(r"^backtest (\S+) step (\d+)/(\d+)$")


def step_of(message: str) -> tuple[int, int] | None:
    match = _STEP.match(message)
    return (int(match[2]), int(match[3])) if match else None


async def run_next(pool: asyncpg.Pool) -> uuid.UUID | None:
    """Claim and run the next backtest; its id, or None when there was none to run."""
    async with pool.acquire() as conn:
        backtest_id: uuid.UUID | None = await conn.fetchval(queries.BACKTEST_CLAIM)
    if backtest_id is None:
        return None
    started = time.monotonic()
    last_report = 0.0
    pending: set[asyncio.Task[Any]] = set()

    async def report(fraction: float) -> None:
        try:
            async with pool.acquire() as conn:
                await conn.execute(queries.BACKTEST_PROGRESS, backtest_id, fraction)
        except Exception as exc:  # progress is a courtesy; the run goes on
            log.warning("progress not recorded", extra={"error": type(exc).__name__})

    def on_notice(_conn: Any, message: Any) -> None:
        nonlocal last_report
        step = step_of(str(getattr(message, "message", "")))
        now = time.monotonic()
        if step is None or now - last_report < PROGRESS_EVERY_SECONDS:
            return
        last_report = now
        task = asyncio.ensure_future(report(step[0] / step[1]))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async with pool.acquire() as conn:
        conn.add_log_listener(on_notice)
        try:
            await conn.fetchval(queries.BACKTEST_EXECUTE, backtest_id)
        finally:
            conn.remove_log_listener(on_notice)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    log.info(
        "backtest finished",
        extra={"backtest_id": str(backtest_id), "seconds": round(time.monotonic() - started, 2)},
    )
    return backtest_id


async def run_backtest_runner(pool: asyncpg.Pool, wake: asyncio.Event, stop: asyncio.Event) -> None:
    async def run_queued() -> None:
        while not stop.is_set() and await run_next(pool) is not None:
            pass

    await run_on_wake(run_queued, wake, stop, POLL_SECONDS, log, "backtest runner pass failed")
