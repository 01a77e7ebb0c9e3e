"""Running a cycle: one call of run_autonomous_operations_with_posting (sql/functions/15_cycle.sql),
one log line with the counts."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from app.db import queries

log = logging.getLogger("app.cycles")


async def run_cycle(
    conn: asyncpg.Connection,
    *,
    dry_run: bool,
    trigger: str,
    actor: str | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    summary: dict[str, Any] = await conn.fetchval(
        queries.CYCLE_RUN, dry_run, trigger, actor, idempotency_key
    )
    log_cycle(summary)
    return summary


def log_cycle(summary: dict[str, Any]) -> None:
    counts = {
        key: summary.get(key)
        for key in (
            "cycle_id",
            "status",
            "dry_run",
            "trigger",
            "paused",
            "scaled",
            "posted",
            "opportunities_detected",
        )
    }
    for failure in summary.get("rule_errors") or []:
        log.warning(
            "rule skipped in this cycle: %s",
            failure.get("name"),
            extra={
                "cycle_id": summary.get("cycle_id"),
                "rule_id": failure.get("rule_id"),
                "rule_name": failure.get("name"),
                "error": failure.get("error"),
            },
        )
    if summary.get("replayed"):
        log.info("cycle %s replayed: it already ran under this key", summary.get("cycle_id"))
        return
    if summary.get("status") == "failed":
        log.error("cycle failed", extra={**counts, "error": summary.get("error")})
    elif summary.get("status") == "skipped":
        log.warning("cycle skipped: another cycle is running", extra=counts)
    else:
        log.info(
            "cycle %s: paused %s, scaled %s, posted %s, opportunities_detected %s",
            summary.get("status"),
            counts["paused"],
            counts["scaled"],
            counts["posted"],
            counts["opportunities_detected"],
            extra=counts,
        )
