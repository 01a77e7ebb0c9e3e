from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of
from app.models.social import PostPublic, SchedulePublic, SchedulesPublic

router = APIRouter(prefix="/schedules", tags=["schedules"])

ScheduleStatus = Literal["pending", "posting", "posted", "failed", "cancelled"]


async def _with_posts(conn: ConnDep, schedules: list[SchedulePublic]) -> list[SchedulePublic]:
    rows = await conn.fetch(queries.SCHEDULE_POSTS, [s.id for s in schedules])
    by_schedule: dict[uuid.UUID, list[PostPublic]] = {}
    for r in rows:
        by_schedule.setdefault(r["schedule_id"], []).append(PostPublic.model_validate(dict(r)))
    return [
        s.model_copy(update={"posts": posts, "deliveries": posts})
        for s in schedules
        for posts in [by_schedule.get(s.id, [])]
    ]


@router.get("", response_model=SchedulesPublic)
async def list_schedules(
    conn: ConnDep,
    status: ScheduleStatus | None = None,
    campaign_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, Any]:
    """Scheduled posts, newest first, each with its posts (one per platform)."""
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.SCHEDULE_LIST, status, campaign_id, after, after_id, limit + 1)
    page = page_of(rows, limit, SchedulePublic)
    page["items"] = await _with_posts(conn, page["items"])
    return page


async def _fetch(conn: ConnDep, schedule_id: uuid.UUID) -> SchedulePublic:
    row = await conn.fetchrow(queries.SCHEDULE_GET, schedule_id)
    if row is None:
        raise ProblemError(404, f"no schedule {schedule_id}")
    return (await _with_posts(conn, [SchedulePublic.model_validate(dict(row))]))[0]


@router.get("/{schedule_id:uuid}", response_model=SchedulePublic)
async def get_schedule(conn: ConnDep, schedule_id: uuid.UUID) -> SchedulePublic:
    return await _fetch(conn, schedule_id)


@router.post("/{schedule_id:uuid}/cancel", response_model=SchedulePublic, responses=problems(409))
async def cancel_schedule(conn: ConnDep, schedule_id: uuid.UUID) -> SchedulePublic:
    """Cancel while pending (nothing sent yet); otherwise 409."""
    await conn.execute(queries.SCHEDULE_CANCEL, schedule_id)
    return await _fetch(conn, schedule_id)
