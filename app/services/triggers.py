"""The trigger listener: as soon as metrics commit, the trigger rules look at the campaigns they touched.

Ingestion queues the campaigns and sends ``NOTIFY ao_metrics`` (sql/functions/19_trigger_evaluation.sql);
this loop drains the queue in batches through ``evaluate_metric_triggers``, the cycle's own decision
steps over just those campaigns. It drains at start too, so rows ingested while no listener ran are
acted on then.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from app.db import queries
from app.db.pool import claims_transaction
from app.services.cycles import log_cycle
from app.services.wakeups import run_on_wake

log = logging.getLogger("app.triggers")

LISTENER_CLAIMS = {"role": "service_role", "sub": "autonomous-ops-trigger-listener"}
POLL_SECONDS = 5.0


async def evaluate_once(pool: asyncpg.Pool, batch: int) -> dict[str, Any]:
    """One scoped evaluation of up to ``batch`` queued campaigns, in its own transaction."""
    async with claims_transaction(pool, LISTENER_CLAIMS) as conn:
        summary: dict[str, Any] = await conn.fetchval(queries.TRIGGERS_EVALUATE, batch)
    if summary.get("cycle_id"):
        log_cycle(summary)
    return summary


async def drain(pool: asyncpg.Pool, batch: int, stop: asyncio.Event | None = None) -> int:
    """Evaluate until the queue is empty; how many campaigns were evaluated."""
    total = 0
    while stop is None or not stop.is_set():
        evaluated = int((await evaluate_once(pool, batch)).get("evaluated", 0))
        if evaluated == 0:
            break
        total += evaluated
    return total


async def run_trigger_listener(
    pool: asyncpg.Pool, wake: asyncio.Event, stop: asyncio.Event, batch: int
) -> None:
    async def drain_queue() -> None:
        await drain(pool, batch, stop)

    await run_on_wake(drain_queue, wake, stop, POLL_SECONDS, log, "trigger evaluation failed")
