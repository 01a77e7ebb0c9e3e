"""Background work, in one place: every loop the service runs beside its HTTP API (with
SCHEDULER_ENABLED) and every ``autonomous-ops worker`` runs, started from one list (``LOOPS``).

Each is a ``Loop`` of one shape (app/background/loop.py): woken by its NOTIFY channel, with a pass on a
timer as a fallback, going on at once while a pass finds work. The cron is APScheduler's, firing its
pass at each slot. Any number of processes may run them all on one database: every claim is a row
lock taken with SKIP LOCKED (or a slot's idempotency key), so no post, webhook, evaluation, backtest or
slot is taken twice, no account synced by two at once, and no month rolled up by two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from app.background.backtests import runner_pass
from app.background.changes import CHANGE_POLL_SECONDS, change_pass
from app.background.cron import CronLoop, cycle_trigger, scheduled_cycle
from app.background.loop import Loop, PassReport, Wakeups
from app.background.partitions import PARTITIONS_POLL_SECONDS, maintain_pass
from app.background.posts import build_publisher, dispatch_once
from app.background.syncs import SYNC_POLL_SECONDS, sync_pass
from app.background.triggers import evaluate_pass
from app.background.webhooks import WebhookSender
from app.core.config import Settings
from app.core.crypto import TokenCipher

log = logging.getLogger("app.background")

# The NOTIFY channel of each kind of work the database announces at commit (its one list in SQL is
# ao_channels(); a test holds the two together).
CHANNELS = {
    "posts": "ao_posts",
    "metrics": "ao_metrics",
    "webhooks": "ao_webhooks",
    "backtests": "ao_backtests",
    "syncs": "ao_syncs",
    "changes": "ao_changes",
}
# Every background loop, in the order they start.
LOOPS = (
    "cron",
    "post dispatcher",
    "trigger listener",
    "webhook sender",
    "backtest runner",
    "ad account sync",
    "platform change sender",
    "metric partitions",
)
TRIGGER_POLL_SECONDS = 5.0
# Webhook retries come due by time, not by notification: the short poll picks them up.
WEBHOOK_POLL_SECONDS = 1.0
BACKTEST_POLL_SECONDS = 10.0


def build_loops(
    pool: asyncpg.Pool, settings: Settings, cipher: TokenCipher, post_batch: int = 50
) -> list[Loop]:
    """The loops of ``LOOPS``, each bound to this process's pool and settings."""
    publisher = build_publisher(settings)
    sender = WebhookSender(settings, cipher)
    trigger = cycle_trigger(settings.cycle_cron)
    timeout = settings.db_acquire_timeout_seconds
    close_publisher = getattr(publisher, "aclose", None)
    loops = [
        CronLoop(
            "cron",
            lambda: scheduled_cycle(pool, trigger, timeout),
            channel=None,
            poll_seconds=0,
            expression=settings.cycle_cron,
        ),
        Loop(
            "post dispatcher",
            lambda: dispatch_once(pool, publisher, cipher, limit=post_batch),
            CHANNELS["posts"],
            settings.dispatch_interval_seconds,
            closers=[close_publisher] if close_publisher else [],
        ),
        Loop(
            "trigger listener",
            lambda: evaluate_pass(pool, settings.trigger_batch_size),
            CHANNELS["metrics"],
            TRIGGER_POLL_SECONDS,
        ),
        Loop(
            "webhook sender",
            lambda: sender.deliver_once(pool),
            CHANNELS["webhooks"],
            WEBHOOK_POLL_SECONDS,
            closers=[sender.aclose],
        ),
        Loop(
            "backtest runner",
            runner_pass(pool, settings.backtest_timeout_seconds),
            CHANNELS["backtests"],
            BACKTEST_POLL_SECONDS,
        ),
        Loop(
            "ad account sync",
            sync_pass(pool, settings, cipher),
            CHANNELS["syncs"],
            SYNC_POLL_SECONDS,
        ),
        Loop(
            "platform change sender",
            change_pass(pool, settings, cipher),
            CHANNELS["changes"],
            CHANGE_POLL_SECONDS,
        ),
        Loop(
            "metric partitions",
            lambda: maintain_pass(pool),
            None,
            PARTITIONS_POLL_SECONDS,
        ),
    ]
    assert tuple(loop.name for loop in loops) == LOOPS
    return loops


class Background:
    """The background loops of one process (a service replica or a worker)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        url: str,
        settings: Settings,
        cipher: TokenCipher,
        post_batch: int = 50,
    ) -> None:
        self.loops = build_loops(pool, settings, cipher, post_batch)
        self.wakeups = Wakeups(url, [ch for ch in (lp.channel for lp in self.loops) if ch])

    def loop(self, name: str) -> Loop:
        return next(lp for lp in self.loops if lp.name == name)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until ``stop``; each loop rides out outages on its own."""
        log.info("background loops started", extra={"loops": list(LOOPS)})
        try:
            await asyncio.gather(
                self.wakeups.run(stop),
                *(lp.run(self.wakeups.event(lp.channel), stop) for lp in self.loops),
            )
        finally:
            await self.aclose()

    async def once(self, report: Callable[[str, PassReport], None]) -> None:
        """One pass of every loop but the cron (it has nothing to do between slots), each until the
        work it found is done."""
        try:
            for lp in self.loops:
                if isinstance(lp, CronLoop):
                    continue
                total = PassReport()
                while (done := await lp.one_pass()).claimed:
                    total.claimed += done.claimed
                    for outcome, n in done.outcomes.items():
                        total.outcomes[outcome] = total.outcomes.get(outcome, 0) + n
                report(lp.name, total)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for lp in self.loops:
            with contextlib.suppress(Exception):
                await lp.aclose()
