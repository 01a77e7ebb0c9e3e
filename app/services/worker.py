"""The background worker (``autonomous-ops worker``): the loops that serve no HTTP, so that any number
of them can run beside any number of API replicas on one database. Today the post dispatcher; every
claim is a row lock taken with SKIP LOCKED, so workers never deliver a post twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool, is_connection_error
from app.services.dispatcher import DispatchReport, build_publisher, dispatch_once

log = logging.getLogger("app.worker")


async def run_worker(url: str, settings: Settings, *, once: bool = False, batch: int = 50) -> None:
    """Dispatch due posts until SIGTERM/SIGINT (or one pass with ``once``), riding out outages."""
    publisher = build_publisher(settings)
    cipher = TokenCipher(settings.encryption_key())
    pool = await create_pool(url, 1, 4)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"loops": ["dispatcher"], "once": once})
    try:
        while not stop.is_set():
            try:
                report = await dispatch_once(pool, publisher, cipher, limit=batch)
            except Exception as exc:
                if once or not is_connection_error(exc):
                    raise
                # The database is away: wait a pass and try again; the pool reconnects.
                log.warning("database unavailable; retrying", extra={"error": type(exc).__name__})
                report = DispatchReport()
            if once:
                print(f"claimed {report.claimed}: {report.outcomes}")
                return
            if report.claimed:
                continue  # more may be due: no pause while there is work
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.dispatch_interval_seconds)
    finally:
        await pool.close()
        close = getattr(publisher, "aclose", None)
        if close is not None:
            await close()
        log.info("worker stopped")
