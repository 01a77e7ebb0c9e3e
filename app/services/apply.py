"""Applying a platform change (sql/functions/25_platform_changes.sql): the campaign is read on its
platform first, and only then written, one object at a time, each write recorded before it is sent.

- Already at the target: applied, nothing written (a change whose earlier write took, unknown to us).
- Not as the engine last saw it (a person changed it in Ads Manager): conflict, nothing overwritten.
- A budget on Meta ad sets: each ad set by the same factor, resumed object by object after a crash;
  the 5th budget change of an ad set in an hour waits for the hour to pass.
- The platform refuses with an answer that proves nothing changed: failed (a below-minimum budget) or
  tried again later (a throttling code). No answer after a write: unknown, and the next attempt reads
  first. A write is never sent twice on a guess.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import asyncpg

from app.core.claims import SENDER
from app.db import queries
from app.db.pool import claims_transaction
from app.platforms.base import (
    BudgetObject,
    CampaignState,
    CredentialsRefused,
    OutcomeUnknown,
    PlatformClient,
    PlatformError,
    Throttled,
    WriteRefused,
)

log = logging.getLogger("app.services.apply")

AD_SET_CHANGES_PER_HOUR = 4
UNKNOWN_RETRY_SECONDS = 60
READ_RETRY_SECONDS = 60
REFUSED_RETRY_SECONDS = 15 * 60


class TakenOver(Exception):
    """Another sender holds the change now (this one's lease ran out): this one writes nothing more."""


@dataclass
class Outcome:
    outcome: str  # applied | conflict | failed | unknown | retry | taken over
    seen: dict[str, Any] | None = None
    answer: str | None = None
    retry_seconds: int = UNKNOWN_RETRY_SECONDS


def _seen(state: CampaignState, **override: Any) -> dict[str, Any]:
    seen = {
        "status": state.status,
        "daily_budget": None if state.daily_budget is None else format(state.daily_budget, "f"),
        "platform_status": state.platform_status,
    }
    seen.update(override)
    return seen


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class Sender:
    """Applies claimed changes for one process (its name is the claim's owner)."""

    def __init__(self, pool: asyncpg.Pool, worker: str, lease_seconds: int = 300) -> None:
        self.pool = pool
        self.worker = worker
        self.lease_seconds = lease_seconds

    async def apply(self, change: asyncpg.Record, client: PlatformClient) -> Outcome:
        try:
            state = await client.read_campaign(change["campaign_external_id"])
        except CredentialsRefused as exc:
            return Outcome("retry", answer=str(exc), retry_seconds=REFUSED_RETRY_SECONDS)
        except Throttled as exc:
            return Outcome("retry", answer=str(exc), retry_seconds=int(exc.retry_after) + 1)
        except WriteRefused as exc:  # the campaign is not there any more
            return Outcome("failed", answer=str(exc))
        except PlatformError as exc:
            return Outcome(
                "retry",
                answer=f"could not read the campaign first: {exc}",
                retry_seconds=READ_RETRY_SECONDS,
            )
        try:
            if change["kind"] == "status":
                return await self._status(change, client, state)
            return await self._budget(change, client, state)
        except TakenOver:
            return Outcome("taken over")
        except WriteRefused as exc:
            return Outcome("failed", seen=_seen(state), answer=str(exc))
        except OutcomeUnknown as exc:
            return Outcome("unknown", answer=str(exc), retry_seconds=UNKNOWN_RETRY_SECONDS)
        except Throttled as exc:
            return Outcome("retry", answer=str(exc), retry_seconds=int(exc.retry_after) + 1)
        except CredentialsRefused as exc:
            return Outcome("retry", answer=str(exc), retry_seconds=REFUSED_RETRY_SECONDS)
        except PlatformError as exc:
            return Outcome("unknown", answer=str(exc), retry_seconds=UNKNOWN_RETRY_SECONDS)

    async def _status(
        self, change: asyncpg.Record, client: PlatformClient, state: CampaignState
    ) -> Outcome:
        target = change["to_state"]["status"]
        expected = change["from_state"]["status"]
        if state.status == target:
            return Outcome("applied", seen=_seen(state), answer="the platform has it already")
        if state.status != expected:
            return Outcome(
                "conflict",
                seen=_seen(state),
                answer=f"the campaign is {state.platform_status} there",
            )
        await self._record_write(change, None, change["campaign_external_id"], "status", target)
        await client.set_status(change["campaign_external_id"], target)
        seen = _seen(state, status=target, platform_status=client.status_word(target))
        return Outcome("applied", seen=seen, answer="written")

    async def _budget(
        self, change: asyncpg.Record, client: PlatformClient, state: CampaignState
    ) -> Outcome:
        if state.shared:
            return Outcome(
                "failed",
                seen=_seen(state),
                answer="the budget is shared with other campaigns: not changed",
            )
        objects: list[dict[str, Any]] | None = change["objects"]
        expected = _money(change["from_state"].get("daily_budget"))
        target = _money(change["to_state"].get("daily_budget"))
        if objects is None:
            if state.daily_budget is not None and state.daily_budget == target:
                return Outcome("applied", seen=_seen(state), answer="the platform has it already")
            if state.daily_budget is None or state.daily_budget != expected or not state.budgets:
                return Outcome(
                    "conflict",
                    seen=_seen(state),
                    answer="the budget there is not the one the engine saw",
                )
            objects = _plan(state.budgets, expected, target, client.budget_step())
        current = {b.id: b for b in state.budgets}
        pending: list[tuple[dict[str, Any], BudgetObject]] = []
        for o in objects:
            found = current.get(o["id"])
            if found is None:
                return Outcome(
                    "conflict", seen=_seen(state), answer=f"budget {o['id']} is not there any more"
                )
            if found.amount == Decimal(o["to"]):
                continue
            if found.amount != Decimal(o["from"]):
                return Outcome(
                    "conflict", seen=_seen(state), answer=f"budget {o['id']} was changed there"
                )
            pending.append((o, found))
        wait = await self._ad_set_wait([b.id for _, b in pending if b.level == "adset"])
        if wait:
            return Outcome(
                "retry",
                answer="an ad set had 4 budget changes in the last hour",
                retry_seconds=wait,
            )
        for o, budget in pending:
            await self._record_write(change, objects, budget.id, "daily_budget", o["to"])
            await client.set_budget(budget, Decimal(o["to"]))
        total = sum((Decimal(o["to"]) for o in objects), Decimal(0))
        untouched = sum(
            (b.amount for b in state.budgets if b.id not in {o["id"] for o in objects}), Decimal(0)
        )
        return Outcome(
            "applied",
            seen=_seen(state, daily_budget=format(total + untouched, "f")),
            answer="written",
        )

    async def _ad_set_wait(self, object_ids: list[str]) -> int:
        if not object_ids:
            return 0
        async with claims_transaction(self.pool, SENDER) as conn:
            rows = await conn.fetch(queries.RECENT_BUDGET_WRITES, object_ids)
        now = datetime.now(UTC)
        waits = [
            int((r["oldest"] - now).total_seconds()) + 3600 + 1
            for r in rows
            if r["writes"] >= AD_SET_CHANGES_PER_HOUR
        ]
        return max(waits, default=0)

    async def _record_write(
        self,
        change: asyncpg.Record,
        objects: list[dict[str, Any]] | None,
        object_id: str,
        field: str,
        value: str,
    ) -> None:
        try:
            async with claims_transaction(self.pool, SENDER) as conn:
                await conn.execute(
                    queries.PLATFORM_WRITE_RECORD,
                    change["change_id"],
                    self.worker,
                    None if objects is None else json.dumps(objects),
                    object_id,
                    field,
                    value,
                    self.lease_seconds,
                )
        except asyncpg.PostgresError as exc:
            if (getattr(exc, "sqlstate", "") or "") != "AO409":
                raise
            raise TakenOver from None

    async def finish(self, change: asyncpg.Record, done: Outcome) -> dict[str, Any] | None:
        if done.outcome == "taken over":
            return None
        async with claims_transaction(self.pool, SENDER) as conn:
            try:
                recorded: dict[str, Any] = await conn.fetchval(
                    queries.PLATFORM_CHANGE_FINISH,
                    change["change_id"],
                    self.worker,
                    done.outcome,
                    None if done.seen is None else json.dumps(done.seen),
                    done.answer,
                    done.retry_seconds,
                )
            except asyncpg.PostgresError as exc:
                if (getattr(exc, "sqlstate", "") or "") != "AO409":
                    raise
                log.warning(
                    "platform change taken over", extra={"change_id": str(change["change_id"])}
                )
                return None
        return recorded


def _plan(
    budgets: tuple[BudgetObject, ...],
    expected: Decimal | None,
    target: Decimal | None,
    step: Decimal,
) -> list[dict[str, Any]]:
    """Each budget object from its amount to its share of the target: one object takes the target,
    ad sets each the same factor (in the currency's smallest unit)."""
    assert expected is not None and target is not None
    if len(budgets) == 1:
        return [
            {"id": budgets[0].id, "from": format(budgets[0].amount, "f"), "to": format(target, "f")}
        ]
    factor = target / expected
    return [
        {
            "id": b.id,
            "from": format(b.amount, "f"),
            "to": format((b.amount * factor / step).to_integral_value(ROUND_HALF_EVEN) * step, "f"),
        }
        for b in budgets
    ]
