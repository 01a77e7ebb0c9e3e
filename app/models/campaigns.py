from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import MISSING, BaseModel, Field, model_validator

from app.models.common import (
    HeldReason,
    Moment,
    Money,
    Name200,
    Name500,
    StrictModel,
    Text100,
    Text10000,
    Url,
)

CampaignStatus = Literal["draft", "active", "paused", "completed"]


class CampaignCreate(StrictModel):
    account_id: uuid.UUID | None = Field(
        default=None, description="the ad account it belongs to (the manual account when omitted)"
    )
    external_id: Name200
    title: Name500
    description: Text10000 | None = None
    image_url: Url | None = None
    cta_label: Text100 | None = None
    landing_url: Url | None = None
    status: CampaignStatus = "draft"
    daily_budget: Money = 0
    max_budget: Money | None = None
    started_at: Moment | None = None

    @model_validator(mode="after")
    def _budget_cap(self) -> CampaignCreate:
        if self.max_budget is not None and self.max_budget < self.daily_budget:
            raise ValueError("max_budget must be >= daily_budget")
        return self


class CampaignUpdate(StrictModel):
    """Only the fields sent change; those that may be cleared accept null."""

    title: Name500 | MISSING = MISSING
    description: Text10000 | None | MISSING = MISSING
    image_url: Url | None | MISSING = MISSING
    cta_label: Text100 | None | MISSING = MISSING
    landing_url: Url | None | MISSING = MISSING
    status: CampaignStatus | MISSING = MISSING
    daily_budget: Money | MISSING = MISSING
    max_budget: Money | None | MISSING = MISSING
    started_at: Moment | None | MISSING = MISSING


class CampaignPublic(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    external_id: str = Field(description="the platform's campaign id (unique within its account)")
    title: str
    description: str | None
    image_url: str | None
    cta_label: str | None
    landing_url: str | None
    status: CampaignStatus
    daily_budget: float
    max_budget: float | None
    started_at: datetime | None
    created_at: datetime
    updated_at: datetime
    impressions: int
    reach: int
    clicks: int
    conversions: int
    spend: float
    revenue: float
    roi: float | None = Field(description="revenue ÷ spend; null before any spend")
    ctr: float | None = Field(description="clicks ÷ impressions")
    conversion_rate: float | None = Field(description="conversions ÷ clicks")
    cpa: float | None = Field(description="spend ÷ conversions")
    platform_status: str | None = Field(
        default=None, description="the status its platform showed at the last sync (null: none)"
    )
    platform_daily_budget: float | None = Field(
        default=None, description="the daily budget its platform showed at the last sync"
    )
    platform_seen_at: datetime | None = Field(default=None, description="when that sync read it")


class CampaignsPublic(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None = None


class UnderperformingCampaign(HeldReason):
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    currency: str = Field(
        description="the account's currency (ISO 4217): the money of this row is in it"
    )
    title: str
    roi: float | None
    spend: float
    ctr: float | None
    hours_running: float
    recommendation: str
    severity: Literal["critical", "high", "medium", "low"]
    confidence: float
    rule_name: str | None


class UnderperformingCampaigns(BaseModel):
    items: list[UnderperformingCampaign]
    next_cursor: str | None = None


class ScalingCandidate(HeldReason):
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    currency: str = Field(
        description="the account's currency (ISO 4217): the money of this row is in it"
    )
    title: str
    roi: float | None
    current_budget: float
    proposed_budget: float | None
    factor: float | None
    confidence: float
    capped: bool
    rule_name: str


class ScalingCandidates(BaseModel):
    items: list[ScalingCandidate]
    next_cursor: str | None = None
