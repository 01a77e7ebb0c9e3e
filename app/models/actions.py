from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.common import Flag, NonBlank1000, StrictModel

ActionType = Literal["pause", "scale", "post", "optimize"]
ActionStatus = Literal[
    "proposed", "pending", "executed", "rolled_back", "failed", "rejected", "expired"
]
ChangeState = Literal["pending", "applying", "applied", "failed", "conflict", "unknown"]


class ActionPlatformChange(BaseModel):
    """Where an action of a connected campaign stands on its platform (its latest change)."""

    id: uuid.UUID
    purpose: Literal["apply", "rollback"]
    state: ChangeState
    attempts: int
    last_answer: str | None


class ActionPublic(BaseModel):
    id: uuid.UUID | None = Field(
        default=None, description="null for the planned actions of a dry run"
    )
    cycle_id: uuid.UUID | None = None
    campaign_id: uuid.UUID
    campaign_title: str | None = None
    rule_id: uuid.UUID | None = None
    rule_name: str | None = None
    action_type: ActionType
    reason: str
    previous_state: dict[str, Any]
    new_state: dict[str, Any]
    confidence: float
    expected_impact: dict[str, Any]
    actual_impact: dict[str, Any] | None = None
    status: ActionStatus | Literal["planned"]
    created_at: datetime | None = None
    executed_at: datetime | None = None
    rolled_back_at: datetime | None = None
    rolled_back_by: str | None = None
    rollback_reason: str | None = None
    created_by: str | None = None
    expires_at: datetime | None = Field(
        default=None, description="a proposal's deadline: past it, it expires undecided"
    )
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, description="who approved or rejected it")
    status_reason: str | None = Field(
        default=None,
        description="why it failed, was rejected or expired (the platform's words, a conflict)",
    )
    platform_change: ActionPlatformChange | None = Field(
        default=None, description="for a campaign of a connected account: its platform change"
    )


class ActionsPublic(BaseModel):
    items: list[ActionPublic]
    next_cursor: str | None = None


class RollbackRequest(StrictModel):
    reason: NonBlank1000 | None = None
    force: Flag = False


class RejectRequest(StrictModel):
    reason: NonBlank1000 | None = None
