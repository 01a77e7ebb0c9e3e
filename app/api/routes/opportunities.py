from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import AccountConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.models.common import (
    ANY_CURSOR_PATTERN,
    KEYSET_CURSOR_PATTERN,
    OFFSET_CURSOR_PATTERN,
    Limit,
    decode_cursor,
    decode_offset,
    offset_page,
    page_of,
)
from app.models.opportunities import (
    OpportunitiesPublic,
    OpportunityPublic,
    OpportunityResolve,
    OpportunityStatus,
    OpportunityType,
    Severity,
)

router = APIRouter(prefix="/opportunities", tags=["opportunities"])


def _require_cursor_of_sort(pattern: str, cursor: str | None) -> None:
    """Each sort pages with its own cursor shape; the other sort's cursor names no position here."""
    if cursor is not None and not re.fullmatch(pattern, cursor):
        raise ProblemError(
            422,
            "cursor: not a cursor this list issued: use next_cursor",
            errors=[{"field": "cursor", "message": "not a cursor of this sort: use next_cursor"}],
        )


@router.get("", response_model=OpportunitiesPublic)
async def list_opportunities(
    conn: AccountConnDep,
    status: OpportunityStatus | None = None,
    severity: Severity | None = None,
    opportunity_type: OpportunityType | None = None,
    campaign_id: uuid.UUID | None = None,
    sort: Annotated[
        Literal["newest", "attention"],
        Query(description="newest first, or what needs attention first: severity, then spend"),
    ] = "newest",
    limit: Limit = 50,
    cursor: Annotated[
        str | None,
        Query(
            pattern=ANY_CURSOR_PATTERN,
            description="next_cursor of the previous page (of the same sort)",
        ),
    ] = None,
) -> dict[str, object]:
    """Detected opportunities, newest first or by what needs attention."""
    if sort == "attention":
        _require_cursor_of_sort(OFFSET_CURSOR_PATTERN, cursor)
        offset = decode_offset(cursor)
        rows = await conn.fetch(
            queries.OPPORTUNITY_ATTENTION,
            status,
            severity,
            opportunity_type,
            campaign_id,
            offset,
            limit + 1,
        )
        return offset_page(rows, limit, offset, OpportunityPublic)
    _require_cursor_of_sort(KEYSET_CURSOR_PATTERN, cursor)
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.OPPORTUNITY_LIST,
        status,
        severity,
        opportunity_type,
        campaign_id,
        after,
        after_id,
        limit + 1,
    )
    return page_of(rows, limit, OpportunityPublic, key="detected_at")


async def _fetch(conn: AccountConnDep, opportunity_id: uuid.UUID) -> OpportunityPublic:
    row = await conn.fetchrow(queries.OPPORTUNITY_GET, opportunity_id)
    if row is None:
        raise ProblemError(404, f"no opportunity {opportunity_id}")
    return OpportunityPublic.model_validate(dict(row))


@router.get("/{opportunity_id:uuid}", response_model=OpportunityPublic)
async def get_opportunity(conn: AccountConnDep, opportunity_id: uuid.UUID) -> OpportunityPublic:
    return await _fetch(conn, opportunity_id)


async def _transition(
    conn: AccountConnDep, opportunity_id: uuid.UUID, transition: str, note: str | None = None
) -> OpportunityPublic:
    moved = await conn.fetchval(queries.OPPORTUNITY_TRANSITION, opportunity_id, transition, note)
    opportunity = await _fetch(conn, opportunity_id)
    action_id = moved.get("action_id")
    return opportunity.model_copy(update={"action_id": uuid.UUID(action_id) if action_id else None})


@router.post(
    "/{opportunity_id:uuid}/start", response_model=OpportunityPublic, responses=problems(409)
)
async def start_opportunity(conn: AccountConnDep, opportunity_id: uuid.UUID) -> OpportunityPublic:
    """open → in_progress; anything else is 409."""
    return await _transition(conn, opportunity_id, "start")


@router.post(
    "/{opportunity_id:uuid}/resolve", response_model=OpportunityPublic, responses=problems(409)
)
async def resolve_opportunity(
    conn: AccountConnDep, opportunity_id: uuid.UUID, body: OpportunityResolve | None = None
) -> OpportunityPublic:
    """open | in_progress → resolved, logging an optimize action with who resolved it."""
    return await _transition(conn, opportunity_id, "resolve", body.note if body else None)


@router.post(
    "/{opportunity_id:uuid}/dismiss", response_model=OpportunityPublic, responses=problems(409)
)
async def dismiss_opportunity(conn: AccountConnDep, opportunity_id: uuid.UUID) -> OpportunityPublic:
    """open | in_progress → dismissed; not raised again for opportunity_quiet_days."""
    return await _transition(conn, opportunity_id, "dismiss")
