"""GET /stats and GET /stats/daily: the counters and the money of the automation, for the dashboard."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.db import queries
from app.models.cycles import StatsPublic
from app.models.dashboard import DailyPoint, DailyStatsPublic

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=StatsPublic)
async def stats(conn: ConnDep) -> StatsPublic:
    return StatsPublic.model_validate(await conn.fetchval(queries.STATS))


@router.get("/stats/daily", response_model=DailyStatsPublic, responses=problems(422))
async def stats_daily(
    conn: ConnDep,
    days: Annotated[
        int, Query(ge=1, le=366, description="how many days back, today included")
    ] = 30,
) -> dict[str, Any]:
    """Per day: actions by type, and the money per day of the pauses and scales in effect, expected
    and measured (for the Overview's charts)."""
    rows = await conn.fetch(queries.STATS_DAILY, days)
    return {"days": [DailyPoint.model_validate(dict(r)) for r in rows]}
