from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.api.deps import AccountConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.db.retry import in_savepoint
from app.models.actions import (
    ActionPublic,
    ActionsPublic,
    ActionStatus,
    ActionType,
    RejectRequest,
    RollbackRequest,
)
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of

router = APIRouter(prefix="/actions", tags=["actions"])


@router.get("", response_model=ActionsPublic)
async def list_actions(
    conn: AccountConnDep,
    status: ActionStatus | None = None,
    action_type: ActionType | None = None,
    campaign_id: uuid.UUID | None = None,
    cycle_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    """The audit trail, newest first."""
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.ACTION_LIST, status, action_type, campaign_id, cycle_id, after, after_id, limit + 1
    )
    return page_of(rows, limit, ActionPublic)


async def _fetch(conn: AccountConnDep, action_id: uuid.UUID) -> ActionPublic:
    row = await conn.fetchrow(queries.ACTION_GET, action_id)
    if row is None:
        raise ProblemError(404, f"no action {action_id}")
    return ActionPublic.model_validate(dict(row))


@router.get("/{action_id:uuid}", response_model=ActionPublic)
async def get_action(conn: AccountConnDep, action_id: uuid.UUID) -> ActionPublic:
    return await _fetch(conn, action_id)


@router.post("/{action_id:uuid}/rollback", response_model=ActionPublic, responses=problems(409))
async def rollback_action(
    conn: AccountConnDep, action_id: uuid.UUID, body: RollbackRequest | None = None
) -> ActionPublic:
    """Restore the campaign's status and budget (or cancel a pending post); 409 when refused. For a
    campaign of a connected account the old values go to its platform first (the action shows its
    `platform_change`), and the action is rolled back once the platform has them."""
    body = body or RollbackRequest()
    await in_savepoint(
        conn, lambda: conn.fetchval(queries.ACTION_ROLLBACK, action_id, body.reason, body.force)
    )
    return await _fetch(conn, action_id)


@router.post("/{action_id:uuid}/approve", response_model=ActionPublic, responses=problems(409))
async def approve_action(conn: AccountConnDep, action_id: uuid.UUID) -> ActionPublic:
    """Approve a proposed pause or scale: it goes to its platform at once (once, however many times it
    is approved). 409 saying why for one approved, applied, rejected or expired already."""
    await in_savepoint(conn, lambda: conn.fetchval(queries.ACTION_APPROVE, action_id))
    return await _fetch(conn, action_id)


@router.post("/{action_id:uuid}/reject", response_model=ActionPublic, responses=problems(409))
async def reject_action(
    conn: AccountConnDep, action_id: uuid.UUID, body: RejectRequest | None = None
) -> ActionPublic:
    """Reject a proposed pause or scale: nothing changes anywhere; 409 as for approving."""
    body = body or RejectRequest()
    await in_savepoint(conn, lambda: conn.fetchval(queries.ACTION_REJECT, action_id, body.reason))
    return await _fetch(conn, action_id)
