"""APScheduler inside the service: the cycle on CYCLE_CRON, the post dispatcher every few seconds."""

from __future__ import annotations

import logging

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


async def scheduled_cycle(pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
    try:
        async with claims_transaction(pool, SERVICE_CLAIMS, acquire_timeout) as conn:
            await run_cycle(conn, dry_run=False, trigger="cron", actor="scheduler")
    except Exception:  # a failed tick must not stop the scheduler
        log.exception("scheduled cycle could not run")


async def scheduled_dispatch(pool: asyncpg.Pool, publisher: Publisher, cipher: TokenCipher) -> None:
    try:
        await dispatch_once(pool, publisher, cipher)
    except Exception:  # a failed tick must not stop the scheduler
        log.exception("dispatcher pass failed")


def start_scheduler(
    settings: Settings, pool: asyncpg.Pool, publisher: Publisher, cipher: TokenCipher
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        scheduled_cycle,
        cycle_trigger(settings.cycle_cron),
        args=[pool, settings.db_acquire_timeout_seconds],
        id="autonomous-cycle",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=300,
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
