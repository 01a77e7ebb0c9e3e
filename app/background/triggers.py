"""The trigger listener: as soon as metrics commit, the trigger rules look at the campaigns they touched.

Ingestion queues the campaigns and notifies (sql/functions/19_trigger_evaluation.sql); each pass takes
a batch off the queue through ``evaluate_metric_triggers``, the cycle's own decision steps over just
those campaigns, and the loop goes on while the queue holds more. It passes at start too, so rows
ingested while no listener ran are acted on then.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.core.claims import TRIGGER_LISTENER
from app.db import queries
from app.db.pool import claims_transaction
from app.db.retry import retrying
from app.services.cycles import log_cycle

log = logging.getLogger("app.background.triggers")


async def evaluate_once(pool: asyncpg.Pool, batch: int) -> dict[str, Any]:
    """One scoped evaluation of up to ``batch`` queued campaigns, in its own transaction."""

    async def evaluate() -> dict[str, Any]:
        async with claims_transaction(pool, TRIGGER_LISTENER) as conn:
            summary: dict[str, Any] = await conn.fetchval(queries.TRIGGERS_EVALUATE, batch)
        return summary

    summary = await retrying(evaluate)
    if summary.get("cycle_id"):
        log_cycle(summary)
    return summary


async def evaluate_pass(pool: asyncpg.Pool, batch: int) -> PassReport:
    """A pass of the listener: one batch; the loop comes back at once while there was one."""
    summary = await evaluate_once(pool, batch)
    report = PassReport(claimed=int(summary.get("evaluated", 0)))
    if summary.get("cycle_id"):
        report.count(str(summary.get("status")))
    return report


async def drain(pool: asyncpg.Pool, batch: int) -> int:
    """Evaluate until the queue is empty; how many campaigns were evaluated."""
    total = 0
    while evaluated := (await evaluate_pass(pool, batch)).claimed:
        total += evaluated
    return total
