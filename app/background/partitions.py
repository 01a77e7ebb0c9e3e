"""The metric partitions loop: every hour, the months of campaign_metrics two months ahead, and the
hourly rows past ``hourly_retention_days`` rolled up into days (sql/functions/03_metric_partitions.sql).
Any number of workers may run it: the roll-up takes an advisory lock, and a busy one is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.core.claims import PARTITIONS
from app.db import queries
from app.db.pool import claims_transaction
from app.db.retry import retrying

log = logging.getLogger("app.background.partitions")

PARTITIONS_POLL_SECONDS = 3600.0


async def maintain_once(pool: asyncpg.Pool) -> dict[str, Any]:
    """One pass, in its own transaction: partitions made, months rolled up."""

    async def maintain() -> dict[str, Any]:
        async with claims_transaction(pool, PARTITIONS) as conn:
            done: dict[str, Any] = await conn.fetchval(queries.METRIC_PARTITIONS_MAINTAIN)
        return done

    done = await retrying(maintain)
    if done.get("made") or done.get("rolled_up"):
        log.info(
            "metric partitions",
            extra={"made": done.get("made"), "rolled_up": done.get("rolled_up")},
        )
    return done


async def maintain_pass(pool: asyncpg.Pool) -> PassReport:
    """A pass of the loop; it never claims work that would make it run again at once."""
    done = await maintain_once(pool)
    report = PassReport()
    for _ in done.get("rolled_up") or []:
        report.count("rolled up")
    return report
