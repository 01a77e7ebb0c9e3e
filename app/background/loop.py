"""The one shape of every background loop: woken by a NOTIFY, with a pass on a timer as a fallback.

A loop is a pass (``one_pass``) that claims what is due and handles it, returning how much it took.
It runs again at once while a pass finds work, then waits for its channel's notification, for stop,
or for its timer, whichever comes first. A failed pass never ends the loop: a lost database is a
warning, anything else is logged with its traceback.

The notifications come over one LISTEN connection per process (``Wakeups``), remade when it drops;
every loop is woken then, so nothing notified while it was away waits for a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from app.db.pool import is_connection_error

log = logging.getLogger("app.background")


@dataclass
class PassReport:
    """What one pass of a loop did: how many items it claimed and how each ended."""

    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def __str__(self) -> str:
        ended = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return f"claimed {self.claimed}" + (f" ({ended})" if ended else "")


@dataclass
class Loop:
    """A background loop: ``one_pass`` whenever ``channel`` is notified, and every ``poll_seconds``."""

    name: str
    one_pass: Callable[[], Awaitable[PassReport]]
    channel: str | None
    poll_seconds: float
    passes: int = 0
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def run(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        loop_log = logging.getLogger(f"app.background.{self.name.replace(' ', '_')}")
        while not stop.is_set():
            wake.clear()
            report = PassReport()
            try:
                report = await self.one_pass()
            except Exception as exc:
                if is_connection_error(exc):
                    loop_log.warning(
                        "database unavailable; retrying", extra={"error": type(exc).__name__}
                    )
                else:
                    loop_log.exception("%s pass failed", self.name)
            self.passes += 1
            if report.claimed and not stop.is_set():
                continue  # more may be due: no pause while there is work
            await sleep_until(wake, stop, self.poll_seconds)

    async def aclose(self) -> None:
        for close in self.closers:
            with contextlib.suppress(Exception):
                await close()


class Wakeups:
    """One LISTEN connection for the process: each notified channel sets its loop's event."""

    def __init__(self, url: str, channels: list[str]) -> None:
        self.url = url
        self.events = {channel: asyncio.Event() for channel in channels}
        self.connected = asyncio.Event()

    def event(self, channel: str | None) -> asyncio.Event:
        """The event a loop waits on; a loop with no channel gets one nobody sets."""
        if channel is None:
            return asyncio.Event()
        return self.events[channel]

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
                await first_of(stop.wait(), lost.wait())
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


async def first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def sleep_until(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` or ``stop`` is set, or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(first_of(wake.wait(), stop.wait()), seconds)
