"""Shared model pieces: finite money, list pages, keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.errors import ProblemError

MAX_LIMIT = 200

# The `limit` query parameter every list takes.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page (1-200)")]


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


NonNegativeMoney = Annotated[float, Field(ge=0, allow_inf_nan=False), AfterValidator(_finite)]
NonNegativeCount = Annotated[int, Field(ge=0, le=2**62)]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silence."""

    model_config = ConfigDict(extra="forbid")


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if not cursor:
        return None, None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise ProblemError(
            422,
            "cursor: not a cursor this API issued",
            errors=[{"field": "cursor", "message": "use next_cursor from a previous page"}],
        ) from None


def page_of(
    rows: list[Any], limit: int, model: type[BaseModel], key: str = "created_at"
) -> dict[str, Any]:
    """Shape ``limit + 1`` fetched rows into a page whose cursor points past the last item."""
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit and items:
        last = items[-1]
        next_cursor = encode_cursor(last[key], last["id"])
    return {"items": [model.model_validate(dict(r)) for r in items], "next_cursor": next_cursor}


def decode_offset(cursor: str | None) -> int:
    """Lists computed on the fly (rules by priority, analytics) page by position."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, TypeError, KeyError, binascii.Error):
        pass
    raise ProblemError(
        422,
        "cursor: not a cursor this API issued",
        errors=[{"field": "cursor", "message": "use next_cursor from a previous page"}],
    )


def offset_page(rows: list[Any], limit: int, offset: int, model: type[BaseModel]) -> dict[str, Any]:
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        raw = json.dumps({"offset": offset + limit}).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {"items": [model.model_validate(dict(r)) for r in items], "next_cursor": next_cursor}
