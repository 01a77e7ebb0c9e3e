from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.common import Flag, NonBlank1000, StrictModel

ActionType = Literal["pause", "scale", "post", "optimize"]
ActionStatus = Literal["pending", "executed", "rolled_back", "failed"]


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


class ActionsPublic(BaseModel):
    items: list[ActionPublic]
    next_cursor: str | None = None


class RollbackRequest(StrictModel):
    reason: NonBlank1000 | None = None
    force: Flag = False
