"""The backtest runner: takes queued backtests one at a time and runs them (sql/functions/22_backtest.sql).

The replay is one statement in one transaction. It reports each step as a structured notice (SQLSTATE
``AOPRG``, its detail ``{"backtest_id", "step", "steps"}``), which the runner turns into ``progress`` (and
a heartbeat) from another connection, so ``GET /backtests/{id}`` shows how far it got. A run has a time
limit (``BACKTEST_TIMEOUT_SECONDS``, a statement timeout: the replay runs without JIT, so it takes
effect) and can be cancelled: the replay stops at its next step once it sees the backtest cancelled, and
the runner cancels the statement itself if a step runs on. A runner that dies mid-run leaves the
backtest ``running`` with a stale heartbeat; after 10 minutes another runner takes it over. A
cancelled backtest is never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.db import queries

log = logging.getLogger("app.background.backtests")

PROGRESS_SQLSTATE = "AOPRG"
PROGRESS_EVERY_SECONDS = 0.5
CANCEL_CHECK_SECONDS = 1.0
# After a cancel, how long the replay has to stop at its next step before its statement is cancelled.
CANCEL_GRACE_SECONDS = 2.0


def progress_of(message: Any) -> tuple[int, int] | None:
    """(step, steps) of a replay's progress notice; None for any other notice."""
    if getattr(message, "sqlstate", None) != PROGRESS_SQLSTATE:
        return None
    try:
        detail = json.loads(getattr(message, "detail", None) or "")
        return int(detail["step"]), int(detail["steps"])
    except (ValueError, KeyError, TypeError):
        return None


async def run_next(pool: asyncpg.Pool, timeout_seconds: float = 3600.0) -> uuid.UUID | None:
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
        step = progress_of(message)
        now = time.monotonic()
        if step is None or now - last_report < PROGRESS_EVERY_SECONDS:
            return
        last_report = now
        task = asyncio.ensure_future(report(step[0] / step[1]))
        pending.add(task)
        task.add_done_callback(pending.discard)

    outcome = "succeeded"
    async with pool.acquire() as conn:
        watcher = asyncio.create_task(_watch_for_cancel(pool, backtest_id, conn.get_server_pid()))
        conn.add_log_listener(on_notice)
        try:
            async with conn.transaction():
                await conn.execute(queries.STATEMENT_TIMEOUT, f"{int(timeout_seconds * 1000)}ms")
                await conn.fetchval(queries.BACKTEST_EXECUTE, backtest_id)
        except asyncpg.QueryCanceledError:
            outcome = "stopped"
        finally:
            conn.remove_log_listener(on_notice)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if outcome == "stopped":
        # Cancelled by a person (the row says so already), or past its time limit.
        async with pool.acquire() as conn:
            outcome = await conn.fetchval(
                queries.BACKTEST_STOPPED, backtest_id, int(timeout_seconds)
            )
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    log.info(
        "backtest %s",
        outcome,
        extra={"backtest_id": str(backtest_id), "seconds": round(time.monotonic() - started, 2)},
    )
    return backtest_id


async def _watch_for_cancel(pool: asyncpg.Pool, backtest_id: uuid.UUID, pid: int) -> None:
    """Cancel the replay's statement when a person cancelled the backtest and its step runs on."""
    cancelled_at: float | None = None
    while True:
        await asyncio.sleep(CANCEL_CHECK_SECONDS)
        try:
            async with pool.acquire() as conn:
                status = await conn.fetchval(queries.BACKTEST_STATUS, backtest_id)
                if status != "cancelled":
                    continue
                cancelled_at = cancelled_at or time.monotonic()
                if time.monotonic() - cancelled_at >= CANCEL_GRACE_SECONDS:
                    await conn.execute(queries.CANCEL_BACKEND, pid)
                    return
        except Exception as exc:  # the watch is a backstop: the replay checks at each step itself
            log.warning("cancel watch failed", extra={"error": type(exc).__name__})


def runner_pass(pool: asyncpg.Pool, timeout_seconds: float) -> Any:
    async def one_pass() -> PassReport:
        ran = await run_next(pool, timeout_seconds)
        return PassReport(claimed=1 if ran else 0)

    return one_pass
