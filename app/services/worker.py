"""The background worker (``autonomous-ops worker``): the loops that serve no HTTP, so that any number
of them can run beside any number of API replicas on one database. The post dispatcher, the trigger
listener (new metrics → trigger rules), the webhook sender and the backtest runner; every claim is a row
lock taken with SKIP LOCKED, so workers never deliver a post or a webhook twice, nor evaluate a campaign
twice, and backtests run one at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import asyncpg

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool, is_connection_error
from app.services import triggers
from app.services.background import run_event_loops
from app.services.backtests import run_next
from app.services.dispatcher import DispatchReport, build_publisher, dispatch_once
from app.services.publishers.base import Publisher
from app.services.webhooks import WebhookSender

log = logging.getLogger("app.worker")
LOOPS = ["dispatcher", "trigger listener", "webhook sender", "backtest runner"]


async def run_worker(url: str, settings: Settings, *, once: bool = False, batch: int = 50) -> None:
    """Run the loops until SIGTERM/SIGINT (or one pass of each with ``once``), riding out outages."""
    publisher = build_publisher(settings)
    cipher = TokenCipher(settings.encryption_key())
    pool = await create_pool(url, 1, 8)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"loops": LOOPS, "once": once})
    try:
        if once:
            await _one_pass(pool, settings, publisher, cipher, batch)
            return
        await asyncio.gather(
            _dispatch_loop(pool, settings, publisher, cipher, batch, stop),
            run_event_loops(pool, url, settings, cipher, stop),
        )
    finally:
        await pool.close()
        close = getattr(publisher, "aclose", None)
        if close is not None:
            await close()
        log.info("worker stopped")


async def _one_pass(
    pool: asyncpg.Pool, settings: Settings, publisher: Publisher, cipher: TokenCipher, batch: int
) -> None:
    report = await dispatch_once(pool, publisher, cipher, limit=batch)
    evaluated = await triggers.drain(pool, settings.trigger_batch_size)
    sender = WebhookSender(settings, cipher)
    try:
        sent = await sender.deliver_once(pool)
    finally:
        await sender.aclose()
    backtests = 0
    while await run_next(pool) is not None:
        backtests += 1
    print(
        f"claimed {report.claimed}: {report.outcomes}; trigger rules evaluated {evaluated} "
        f"campaigns; webhooks claimed {sent.claimed}: {sent.outcomes}; backtests run {backtests}"
    )


async def _dispatch_loop(
    pool: asyncpg.Pool,
    settings: Settings,
    publisher: Publisher,
    cipher: TokenCipher,
    batch: int,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            report = await dispatch_once(pool, publisher, cipher, limit=batch)
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            # The database is away: wait a pass and try again; the pool reconnects.
            log.warning("database unavailable; retrying", extra={"error": type(exc).__name__})
            report = DispatchReport()
        if report.claimed:
            continue  # more may be due: no pause while there is work
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.dispatch_interval_seconds)
