from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.api.deps import AccountConnDep
from app.db import queries
from app.models.actions import ChangeState
from app.models.common import KeysetCursor, Limit, decode_cursor, encode_cursor
from app.models.platform_changes import PlatformChangePublic, PlatformChangesPublic

router = APIRouter(prefix="/platform-changes", tags=["platform changes"])


@router.get("", response_model=PlatformChangesPublic)
async def list_platform_changes(
    conn: AccountConnDep,
    state: ChangeState | None = None,
    account_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    """The writes to the ad platforms, newest first: each pause, scale or rollback of a connected
    campaign, its state (pending, applying, applied, failed, conflict, unknown), attempts and the
    platform's last answer."""
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.PLATFORM_CHANGE_LIST, state, account_id, after, after_id, limit + 1
    )
    items = [PlatformChangePublic.model_validate(r["change"]) for r in rows[:limit]]
    next_cursor = (
        encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit and items else None
    )
    return {"items": items, "next_cursor": next_cursor}
