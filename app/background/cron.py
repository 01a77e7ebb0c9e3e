"""The cycle on CYCLE_CRON: APScheduler's cron fires it, one cycle per slot however many fire it.

Every process that runs the background loops (each service replica with its scheduler on, each
``autonomous-ops worker``) fires every slot. Each names the slot (the cron's latest fire time) as the
cycle's idempotency key: one process runs it, the others wait for it on the cycle lock and then find
its result under the key, so there is one cycle per slot and no skipped entry.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from app.background.loop import Loop, PassReport
from app.core.claims import SCHEDULER
from app.db.pool import claims_transaction
from app.db.retry import retrying
from app.services.cycles import run_cycle

log = logging.getLogger("app.background.cron")

JOB_ID = "autonomous-cycle"
# How late a scheduled cycle may still start (a busy event loop, a restart just after the slot).
MISFIRE_GRACE = timedelta(minutes=5)


def cycle_trigger(expression: str) -> CronTrigger:
    """A crontab expression (5 fields) as a trigger; ValueError names what is wrong."""
    return CronTrigger.from_crontab(expression, timezone="UTC")


def cron_slot(trigger: CronTrigger, now: datetime, grace: timedelta = MISFIRE_GRACE) -> datetime:
    """The slot a scheduled run belongs to: the trigger's latest fire time at or before ``now``.

    Every process computes the same slot for the same tick, whatever its own delay.
    """
    slot = None
    fire = trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return slot or now.replace(second=0, microsecond=0)


def slot_key(slot: datetime) -> str:
    """The idempotency key of a scheduled slot: one cycle per slot, however many processes fire it."""
    return "cron:" + slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scheduled_cycle(
    pool: asyncpg.Pool, trigger: CronTrigger, acquire_timeout: float = 5.0
) -> PassReport:
    """Run the current slot's cycle (or find it run by another process)."""
    key = slot_key(cron_slot(trigger, datetime.now(UTC)))
    report = PassReport()
    try:

        async def cycle() -> dict[str, Any]:
            async with claims_transaction(pool, SCHEDULER, acquire_timeout) as conn:
                return await run_cycle(
                    conn, dry_run=False, trigger="cron", actor="scheduler", idempotency_key=key
                )

        summary = await retrying(cycle)
        replayed = bool(summary.get("replayed"))
        report.claimed = 0 if replayed else 1
        report.count("already run" if replayed else str(summary.get("status")))
        log.info(
            "slot %s already run by another replica" if replayed else "slot %s run here",
            key,
            extra={
                "slot": key,
                "cycle_id": summary.get("cycle_id"),
                "status": summary.get("status"),
            },
        )
    except Exception:  # a failed tick must not stop the cron
        log.exception("scheduled cycle could not run", extra={"slot": key})
        report.count("not run")
    return report


@dataclass
class CronLoop(Loop):
    """The cron as a loop: APScheduler fires the pass at each slot (no channel, no timer of its own)."""

    expression: str = "0 * * * *"
    scheduler: AsyncIOScheduler | None = None

    async def run(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            self._fire,
            cycle_trigger(self.expression),
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
        )
        scheduler.start()
        self.scheduler = scheduler
        log.info("cron started", extra={"cycle_cron": self.expression})
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            self.scheduler = None

    async def _fire(self) -> None:
        await self.one_pass()
        self.passes += 1

    def fire_now(self) -> None:
        """Fire the current slot at once (as if its time had come): for a person or a test."""
        if self.scheduler is None:
            raise RuntimeError("the cron is not running")
        job = self.scheduler.get_job(JOB_ID)
        assert job is not None
        job.modify(next_run_time=datetime.now(UTC))
