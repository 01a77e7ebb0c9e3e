from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.actions import ActionPublic, ChangeState


class PlatformChangePublic(BaseModel):
    """A write to an ad platform: a pause or scale of a connected campaign (or its rollback), from the
    state the engine last saw to the target; read before it is written, never over a person's edit."""

    id: uuid.UUID
    action_id: uuid.UUID
    purpose: Literal["apply", "rollback"]
    campaign_id: uuid.UUID
    campaign_title: str | None
    account_id: uuid.UUID
    kind: Literal["status", "budget"]
    from_state: dict[str, Any] = Field(description="what the engine last saw on the platform")
    to_state: dict[str, Any] = Field(description="what the change sets")
    seen_state: dict[str, Any] | None = Field(
        description="what the platform showed when the change ended (for a conflict: a person's values)"
    )
    state: ChangeState
    attempts: int
    next_attempt_at: datetime
    last_answer: str | None = Field(description="the platform's last answer, in its words")
    created_at: datetime
    finished_at: datetime | None


class PlatformChangesPublic(BaseModel):
    items: list[PlatformChangePublic]
    next_cursor: str | None = None


class ProposedAction(ActionPublic):
    """A proposed pause or scale, with the signed links that decide on it (for webhooks and Slack)."""

    approve_url: str | None = Field(default=None, description="a signed link that approves it")
    reject_url: str | None = Field(default=None, description="a signed link that rejects it")
