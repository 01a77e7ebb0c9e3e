from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.common import NonBlank1000, StrictModel

OpportunityType = Literal[
    "low_conversion",
    "high_traffic_low_conversion",
    "declining_performance",
    "budget_inefficiency",
    "audience_mismatch",
    "creative_fatigue",
    "timing_optimization",
]
OpportunityStatus = Literal["open", "in_progress", "resolved", "dismissed"]
Severity = Literal["critical", "high", "medium", "low"]


class OpportunityPublic(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    campaign_title: str | None = None
    opportunity_type: OpportunityType
    severity: Severity
    description: str
    suggested_action: str
    confidence_score: float
    evidence: dict[str, Any]
    status: OpportunityStatus
    detected_at: datetime
    updated_at: datetime
    resolved_by: str | None
    action_id: uuid.UUID | None = Field(
        default=None, description="the optimize action a resolve wrote (on the resolve response)"
    )


class OpportunitiesPublic(BaseModel):
    items: list[OpportunityPublic]
    next_cursor: str | None = None


class OpportunityResolve(StrictModel):
    note: NonBlank1000 | None = None
