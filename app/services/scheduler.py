"""APScheduler inside the service: the cycle on CYCLE_CRON, the post dispatcher every few seconds."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import claims_transaction
from app.services.cycles import SERVICE_CLAIMS, run_cycle
from app.services.dispatcher import dispatch_once
from app.services.publishers.base import Publisher

log = logging.getLogger(__name__)


def cycle_trigger(expression: str) -> CronTrigger:
    """A crontab expression (5 fields) as a trigger; ValueError names what is wrong."""
    return CronTrigger.from_crontab(expression, timezone="UTC")


# How late a scheduled cycle may still start (a busy event loop, a restart just after the slot).
MISFIRE_GRACE = timedelta(minutes=5)


def cron_slot(trigger: CronTrigger, now: datetime, grace: timedelta = MISFIRE_GRACE) -> datetime:
    """The slot a scheduled run belongs to: the trigger's latest fire time at or before ``now``.

    Every replica of the service computes the same slot for the same tick, whatever its own delay.
    """
    slot = None
    fire = trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return slot or now.replace(second=0, microsecond=0)


def slot_key(slot: datetime) -> str:
    """The idempotency key of a scheduled slot: one cycle per slot, however many replicas fire it."""
    return "cron:" + slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scheduled_cycle(
    pool: asyncpg.Pool, trigger: CronTrigger, acquire_timeout: float = 5.0
) -> None:
    key = slot_key(cron_slot(trigger, datetime.now(UTC)))
    try:
        async with claims_transaction(pool, SERVICE_CLAIMS, acquire_timeout) as conn:
            summary = await run_cycle(
                conn, dry_run=False, trigger="cron", actor="scheduler", idempotency_key=key
            )
        log.info(
            "slot %s already run by another replica"
            if summary.get("replayed")
            else "slot %s run here",
            key,
            extra={
                "slot": key,
                "cycle_id": summary.get("cycle_id"),
                "status": summary.get("status"),
            },
        )
    except Exception:  # a failed tick must not stop the scheduler
        log.exception("scheduled cycle could not run", extra={"slot": key})


async def scheduled_dispatch(pool: asyncpg.Pool, publisher: Publisher, cipher: TokenCipher) -> None:
    try:
        await dispatch_once(pool, publisher, cipher)
    except Exception:  # a failed tick must not stop the scheduler
        log.exception("dispatcher pass failed")


def start_scheduler(
    settings: Settings, pool: asyncpg.Pool, publisher: Publisher, cipher: TokenCipher
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    trigger = cycle_trigger(settings.cycle_cron)
    scheduler.add_job(
        scheduled_cycle,
        trigger,
        args=[pool, trigger, settings.db_acquire_timeout_seconds],
        id="autonomous-cycle",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=int(MISFIRE_GRACE.total_seconds()),
    )
    scheduler.add_job(
        scheduled_dispatch,
        "interval",
        seconds=settings.dispatch_interval_seconds,
        args=[pool, publisher, cipher],
        id="post-dispatcher",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    log.info("scheduler started", extra={"cycle_cron": settings.cycle_cron})
    return scheduler
