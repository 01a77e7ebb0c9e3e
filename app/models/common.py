"""Shared model pieces: the bounds of money, counts and text, list pages, cursors."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

MAX_LIMIT = 200

# The `limit` query parameter every list takes.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page (1-200)")]


# Bounds shared by the API and the database (which checks them again, for psql callers too).
MONEY_LIMIT = 1e12  # money is >= 0 and < 10^12
COUNT_MAX = 2**53 - 1  # counts are whole numbers a JSON client represents exactly
RULE_VALUE_LIMIT = 1e12  # rule values have |v| < 10^12

# Text holds no NUL or other C0 control character except tab and newline.
TEXT_PATTERN = r"^[^\x00-\x08\x0B-\x1F]*$"
# The same, with at least one character that is neither a space nor a control character.
NONBLANK_TEXT_PATTERN = r"^[^\x00-\x08\x0B-\x1F]*[^\x00-\x20][^\x00-\x08\x0B-\x1F]*$"
URL_PATTERN = r"^https?://[^\x00-\x20\x7F]+$"
# Printable ASCII without spaces: tokens, keys.
PRINTABLE_PATTERN = r"^[\x21-\x7E]+$"
# The words a 422 uses for each pattern (with an example), never the pattern itself; a test holds
# every pattern of the OpenAPI document to this.
PATTERN_MESSAGES = {
    TEXT_PATTERN: "must not contain control characters (tab and newline are allowed), e.g. Spring sale",
    NONBLANK_TEXT_PATTERN: "must contain a visible character and no control characters (tab and newline are allowed), e.g. Spring sale",
    URL_PATTERN: "must be an http:// or https:// URL without spaces or control characters, e.g. https://example.com/spring",
    PRINTABLE_PATTERN: "must be printable ASCII without spaces, e.g. cron-2026-11-27T12",
}


def _utc(value: datetime) -> datetime:
    """Every time is kept in UTC; a naive one is taken as UTC. RFC 3339 allows offsets up to ±23:59,
    so the very first and last hours of years 1 and 9999 may lie outside what a datetime holds in
    UTC: such an instant becomes the nearest one it can hold."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


MOMENT_WORDS = (
    "must be a date-time such as 2026-11-01T08:30:00Z (RFC 3339; without an offset it is UTC), "
    "or a date such as 2026-11-01 (its midnight UTC)"
)
PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})?"
)


def parse_moment(value: Any) -> datetime:
    """A date-time (RFC 3339) or a plain date (its midnight UTC), in UTC; ValueError in words."""
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str) and (PLAIN_DATE.fullmatch(value) or _DATE_TIME.fullmatch(value)):
        text = value.replace(",", ".")
        text = text[:-1] + "+00:00" if text[-1:] in "Zz" else text
        try:
            return _utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise PydanticCustomError("moment", MOMENT_WORDS)


# Every date-time a caller sends: RFC 3339, or a plain date for its midnight UTC.
Moment = Annotated[
    datetime,
    BeforeValidator(parse_moment),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ],
            "description": "a date-time (RFC 3339), or a date for its midnight UTC",
        }
    ),
]


Money = Annotated[float, Field(strict=True, ge=0, lt=MONEY_LIMIT, allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True, ge=0, le=COUNT_MAX)]
Flag = Annotated[bool, Field(strict=True)]
Url = Annotated[str, Field(max_length=2048, pattern=URL_PATTERN)]


# Free text, by the longest each field takes; names are 1 to N characters and not blank.
Text100 = Annotated[str, Field(max_length=100, pattern=TEXT_PATTERN)]
Text200 = Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN)]
Text1000 = Annotated[str, Field(max_length=1000, pattern=TEXT_PATTERN)]
Text2000 = Annotated[str, Field(max_length=2000, pattern=TEXT_PATTERN)]
Text10000 = Annotated[str, Field(max_length=10_000, pattern=TEXT_PATTERN)]
Name200 = Annotated[str, Field(min_length=1, max_length=200, pattern=NONBLANK_TEXT_PATTERN)]
Name500 = Annotated[str, Field(min_length=1, max_length=500, pattern=NONBLANK_TEXT_PATTERN)]
NonBlank1000 = Annotated[str, Field(min_length=1, max_length=1000, pattern=NONBLANK_TEXT_PATTERN)]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silence. Their number,
    flag and time types take JSON as the schema gives it (no "1" for true, no number for a time)."""

    model_config = ConfigDict(extra="forbid")


# Cursors are opaque to clients; their shape is exact, so a cursor that matches it is always valid.
# A keyset cursor is the last item's time (microseconds since the epoch) and id; an offset cursor (for
# lists computed on the fly) is a position.
KEYSET_CURSOR_PATTERN = r"^[0-9]{1,17}\.[0-9a-f]{32}$"
OFFSET_CURSOR_PATTERN = r"^[0-9]{1,9}$"
# Either kind, for a list that pages both ways (opportunities by newest or by attention).
ANY_CURSOR_PATTERN = f"(?:{KEYSET_CURSOR_PATTERN})|(?:{OFFSET_CURSOR_PATTERN})"
_CURSOR_WORDS = (
    "must be a cursor this list issued: the next_cursor of the previous page, as it came"
)
PATTERN_MESSAGES[KEYSET_CURSOR_PATTERN] = _CURSOR_WORDS
PATTERN_MESSAGES[OFFSET_CURSOR_PATTERN] = _CURSOR_WORDS
PATTERN_MESSAGES[ANY_CURSOR_PATTERN] = _CURSOR_WORDS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

KeysetCursor = Annotated[
    str | None,
    Query(pattern=KEYSET_CURSOR_PATTERN, description="next_cursor of the previous page"),
]
OffsetCursor = Annotated[
    str | None,
    Query(pattern=OFFSET_CURSOR_PATTERN, description="next_cursor of the previous page"),
]


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{row_id.hex}"


def decode_cursor(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    if not cursor:
        return None, None
    micros, hex_id = cursor.split(".")
    return _EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id)


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
    return int(cursor) if cursor else 0


def offset_page(rows: list[Any], limit: int, offset: int, model: type[BaseModel]) -> dict[str, Any]:
    items = rows[:limit]
    next_cursor = str(offset + limit) if len(rows) > limit else None
    return {"items": [model.model_validate(dict(r)) for r in items], "next_cursor": next_cursor}


# The codes a guardrail or a limit holds a decision back with (sql/functions/08_plan*.sql).
HELD_CODES = (
    "below_confidence, below_min_spend, capped, no_budget_to_scale, immature_data, awaiting_decision, shared_budget, "
    "rollback_quiet, cooldown, post_spacing, no_account, paused_in_cycle, data_outage, pause_limit or "
    "budget_limit"
)


class HeldReason(BaseModel):
    """Why a decision is held back, in words (blocked_reason is its former name, still shown)."""

    held_reason: str | None = None
    blocked_reason: str | None = Field(
        default=None, deprecated=True, description="the former name of held_reason"
    )

    @model_validator(mode="after")
    def _former_names(self) -> HeldReason:
        for former, current in (("blocked_reason", "held_reason"), ("blocked_code", "held_code")):
            if former in type(self).model_fields:
                self.__dict__[former] = getattr(self, current)
        return self


class HeldCode(HeldReason):
    """Why a decision is held back: its code and words (blocked_code and blocked_reason are their
    former names, still shown)."""

    held_code: str | None = Field(default=None, description=HELD_CODES)
    blocked_code: str | None = Field(
        default=None, deprecated=True, description="the former name of held_code"
    )
