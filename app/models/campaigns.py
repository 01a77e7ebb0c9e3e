from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from app.models.common import NonNegativeMoney, StrictModel

CampaignStatus = Literal["draft", "active", "paused", "completed"]
Url = Annotated[str, Field(max_length=2048, pattern=r"^https?://\S+$")]


class CampaignCreate(StrictModel):
    external_id: Annotated[str, Field(min_length=1, max_length=200)]
    title: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(max_length=10_000)] | None = None
    image_url: Url | None = None
    cta_label: Annotated[str, Field(max_length=100)] | None = None
    landing_url: Url | None = None
    status: CampaignStatus = "draft"
    daily_budget: NonNegativeMoney = 0
    max_budget: NonNegativeMoney | None = None
    started_at: datetime | None = None

    @model_validator(mode="after")
    def _budget_cap(self) -> CampaignCreate:
        if self.max_budget is not None and self.max_budget < self.daily_budget:
            raise ValueError("max_budget must be >= daily_budget")
        return self


class CampaignUpdate(StrictModel):
    title: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    image_url: Url | None = None
    cta_label: Annotated[str, Field(max_length=100)] | None = None
    landing_url: Url | None = None
    status: CampaignStatus | None = None
    daily_budget: NonNegativeMoney | None = None
    max_budget: NonNegativeMoney | None = None
    started_at: datetime | None = None

    @model_validator(mode="after")
    def _not_null(self) -> CampaignUpdate:
        for name in ("title", "status", "daily_budget"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self


class CampaignPublic(BaseModel):
    id: uuid.UUID
    external_id: str
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


class CampaignsPublic(BaseModel):
    items: list[CampaignPublic]
    next_cursor: str | None = None


class UnderperformingCampaign(BaseModel):
    campaign_id: uuid.UUID
    title: str
    roi: float | None
    spend: float
    ctr: float | None
    hours_running: float
    recommendation: str
    severity: Literal["critical", "high", "medium", "low"]
    confidence: float
    rule_name: str | None
    blocked_reason: str | None


class UnderperformingCampaigns(BaseModel):
    items: list[UnderperformingCampaign]
    next_cursor: str | None = None


class ScalingCandidate(BaseModel):
    campaign_id: uuid.UUID
    title: str
    roi: float | None
    current_budget: float
    proposed_budget: float | None
    factor: float | None
    confidence: float
    capped: bool
    rule_name: str
    blocked_reason: str | None


class ScalingCandidates(BaseModel):
    items: list[ScalingCandidate]
    next_cursor: str | None = None
