"""``autonomous-ops worker``: the background loops (app/background/__init__.py) in a process that
serves no HTTP, so that any number of them can run beside any number of API replicas on one database."""

from __future__ import annotations

import asyncio
import logging
import signal

from app.background import LOOPS, Background
from app.background.loop import PassReport
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool

log = logging.getLogger("app.worker")


async def run_worker(
    url: str,
    settings: Settings,
    *,
    once: bool = False,
    batch: int = 50,
    stop: asyncio.Event | None = None,
    started: asyncio.Queue[Background] | None = None,
) -> None:
    """Run the loops until SIGTERM/SIGINT or ``stop`` (or one pass of each with ``once``), riding out
    outages. ``started`` receives the loops once they run (for whoever watches them)."""
    cipher = TokenCipher(settings.encryption_key())
    pool = await create_pool(url, 1, 8)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"loops": list(LOOPS), "once": once})
    background = Background(pool, url, settings, cipher, post_batch=batch)
    try:
        if once:
            await background.once(_print_pass)
            return
        if started is not None:
            started.put_nowait(background)
        await background.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await pool.close()
        log.info("worker stopped")


def _print_pass(name: str, report: PassReport) -> None:
    print(f"{name}: {report}", flush=True)
