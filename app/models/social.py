from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, AfterValidator, BaseModel, BeforeValidator, Field, SecretStr
from pydantic.json_schema import WithJsonSchema

from app.models.common import PATTERN_MESSAGES, PRINTABLE_PATTERN, Moment, StrictModel, Text200

Platform = Literal["instagram", "facebook", "x"]


def _x_alias(value: Any) -> Any:
    return "x" if value == "twitter" else value


# What a client may send: "twitter" is still taken for X.
PlatformIn = Annotated[
    Platform,
    BeforeValidator(_x_alias),
    WithJsonSchema(
        {
            "type": "string",
            "enum": ["instagram", "facebook", "x", "twitter"],
            "description": "twitter is taken as x",
        }
    ),
]
AccountStatus = Literal["active", "expired", "revoked"]
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
PATTERN_MESSAGES[ACCOUNT_ID_PATTERN] = (
    "must be the platform's id of the account: letters, digits and _ . : - only, e.g. 1789012345678901"
)


def _printable(token: SecretStr) -> SecretStr:
    # The value itself never appears in an error.
    if not re.fullmatch(PRINTABLE_PATTERN, token.get_secret_value()):
        raise ValueError("must be printable ASCII without spaces, e.g. EAAG...")
    return token


Token = Annotated[
    SecretStr,
    Field(min_length=8, max_length=4096, json_schema_extra={"pattern": PRINTABLE_PATTERN}),
    AfterValidator(_printable),
]
AccountId = Annotated[str, Field(min_length=1, max_length=200, pattern=ACCOUNT_ID_PATTERN)]


class SocialAccountCreate(StrictModel):
    platform: PlatformIn
    account_id: AccountId
    display_name: Text200 | None = None
    access_token: Token
    refresh_token: Token | None = None
    token_expires_at: Moment | None = None


class SocialAccountUpdate(StrictModel):
    """Rotate the tokens, change the name or expiry, or deactivate (status revoked)."""

    display_name: Text200 | None | MISSING = MISSING
    access_token: Token | MISSING = MISSING
    refresh_token: Token | None | MISSING = MISSING
    token_expires_at: Moment | None | MISSING = MISSING
    status: Literal["active", "revoked"] | MISSING = MISSING


class SocialAccountPublic(BaseModel):
    id: uuid.UUID
    platform: Platform
    account_id: str
    display_name: str | None
    token_last4: str | None = Field(
        description="the last 4 characters of the access token; never more"
    )
    has_refresh_token: bool
    token_expires_at: datetime | None
    status: AccountStatus
    created_at: datetime
    updated_at: datetime


class SocialAccountsPublic(BaseModel):
    items: list[SocialAccountPublic]
    next_cursor: str | None = None


class PostPublic(BaseModel):
    """A schedule's post on one platform: its state, the platform's ids, its attempts."""

    id: uuid.UUID
    platform: Platform
    account_id: uuid.UUID | None
    status: Literal["pending", "sending", "posted", "failed", "unknown"]
    external_post_ids: list[str]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    posted_at: datetime | None


class SchedulePublic(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_title: str | None = None
    action_id: uuid.UUID | None
    scheduled_for: datetime
    platforms: list[Platform]
    content: dict[str, Any]
    status: Literal["pending", "posting", "posted", "failed", "cancelled"]
    created_at: datetime
    updated_at: datetime
    posts: list[PostPublic] = Field(default=[], description="one per platform")
    deliveries: list[PostPublic] = Field(
        default=[], deprecated=True, description="the former name of posts (the same list)"
    )


class SchedulesPublic(BaseModel):
    items: list[SchedulePublic]
    next_cursor: str | None = None
