"""The notifications that wake the background loops: one LISTEN connection per process.

``NOTIFY ao_metrics`` (new metrics for the trigger rules), ``NOTIFY ao_webhooks`` (events to
deliver) and ``NOTIFY ao_backtests`` (a backtest queued) are sent by the database at commit; each sets its loop's event, so work starts within
milliseconds instead of at the next poll. The connection is remade when it drops, and every loop is
woken then, so nothing notified while it was away waits for a poll. The loops poll anyway, slowly, in
case a drop goes unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from app.db.pool import is_connection_error

log = logging.getLogger("app.wakeups")

METRICS = "ao_metrics"
WEBHOOKS = "ao_webhooks"
BACKTESTS = "ao_backtests"


class Wakeups:
    def __init__(
        self, url: str, channels: tuple[str, ...] = (METRICS, WEBHOOKS, BACKTESTS)
    ) -> None:
        self.url = url
        self.events = {channel: asyncio.Event() for channel in channels}
        self.connected = asyncio.Event()

    def _notified(self, _conn: object, _pid: int, channel: str, _payload: str) -> None:
        self.events[channel].set()

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            conn = None
            try:
                conn = await asyncpg.connect(self.url)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self.events:
                    await conn.add_listener(channel, self._notified)
                self.connected.set()
                for event in self.events.values():
                    event.set()
                delay = 0.5
                await _first_of(stop.wait(), lost.wait())
            except Exception as exc:  # the database is away: try again, a little later each time
                log.warning("listen connection lost; retrying", extra={"error": type(exc).__name__})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 10.0)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)


async def _first_of(*waits: object) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def sleep_until(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` or ``stop`` is set, or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_first_of(wake.wait(), stop.wait()), seconds)


async def run_on_wake(
    one_pass: Callable[[], Awaitable[object]],
    wake: asyncio.Event,
    stop: asyncio.Event,
    poll_seconds: float,
    loop_log: logging.Logger,
    failure: str,
) -> None:
    """Run ``one_pass`` whenever ``wake`` is set, and at least every ``poll_seconds``, until ``stop``.

    A failed pass never ends the loop: a lost database is a warning, anything else is logged as
    ``failure`` with its traceback.
    """
    while not stop.is_set():
        wake.clear()
        try:
            await one_pass()
        except Exception as exc:
            if is_connection_error(exc):
                loop_log.warning(
                    "database unavailable; retrying", extra={"error": type(exc).__name__}
                )
            else:
                loop_log.exception(failure)
        await sleep_until(wake, stop, poll_seconds)
