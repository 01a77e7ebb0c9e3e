"""GET /stats and GET /stats/daily: the counters and the money of the automation, for the dashboard."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import AccountConnDep
from app.api.openapi import problems
from app.db import queries
from app.models.cycles import StatsPublic
from app.models.dashboard import DailyPoint, DailySeries, DailyStatsPublic

router = APIRouter(tags=["stats"])


AccountFilter = Annotated[
    uuid.UUID | None, Query(description="one ad account only (404 when it is not one of yours)")
]


@router.get("/stats", response_model=StatsPublic, responses=problems(404))
async def stats(conn: AccountConnDep, account_id: AccountFilter = None) -> StatsPublic:
    """Counts of what the automation did, and the money per currency (never added across)."""
    return StatsPublic.model_validate(await conn.fetchval(queries.STATS, account_id))


@router.get("/stats/daily", response_model=DailyStatsPublic, responses=problems(404, 422))
async def stats_daily(
    conn: AccountConnDep,
    days: Annotated[
        int, Query(ge=1, le=366, description="how many days back, today included")
    ] = 30,
    account_id: AccountFilter = None,
) -> dict[str, Any]:
    """Per currency and day (the accounts' own days, in their time zones): actions by type, and the
    money per day of the pauses and scales in effect, expected and measured (for the Overview's
    charts). Money is never added across currencies: each currency is a series of its own."""
    rows = await conn.fetch(queries.STATS_DAILY, days, account_id)
    series: dict[str, list[DailyPoint]] = {}
    for r in rows:
        point = dict(r)
        series.setdefault(point.pop("currency"), []).append(DailyPoint.model_validate(point))
    return {
        "account_id": account_id,
        "series": [DailySeries(currency=c, days=points) for c, points in series.items()],
    }
