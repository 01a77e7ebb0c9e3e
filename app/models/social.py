from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from app.models.common import StrictModel

Platform = Literal["instagram", "facebook", "twitter"]
AccountStatus = Literal["active", "expired", "revoked"]
Token = Annotated[SecretStr, Field(min_length=8, max_length=4096)]


class SocialAccountCreate(StrictModel):
    platform: Platform
    account_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
    display_name: Annotated[str, Field(max_length=200)] | None = None
    access_token: Token
    refresh_token: Token | None = None
    token_expires_at: datetime | None = None


class SocialAccountUpdate(StrictModel):
    """Rotate the tokens, change the name or expiry, or deactivate (status revoked)."""

    display_name: Annotated[str, Field(max_length=200)] | None = None
    access_token: Token | None = None
    refresh_token: Token | None = None
    token_expires_at: datetime | None = None
    status: Literal["active", "revoked"] | None = None

    @field_validator("access_token")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("may not be null; omit it to keep the current token")
        return v


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


class DeliveryPublic(BaseModel):
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
    deliveries: list[DeliveryPublic] = []


class SchedulesPublic(BaseModel):
    items: list[SchedulePublic]
    next_cursor: str | None = None
