from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.models.common import Count, Moment, Money, Name200, StrictModel

MAX_METRIC_ROWS = 10_000


class MetricRowIn(StrictModel):
    campaign_id: uuid.UUID | None = None
    external_id: Name200 | None = None
    account_id: uuid.UUID | None = Field(
        default=None,
        description="the ad account whose campaign has this external_id (the manual account when omitted)",
    )
    period_start: Moment
    period_end: Moment
    impressions: Count = 0
    reach: Count | None = None
    clicks: Count = 0
    conversions: Count = 0
    spend: Money = 0
    revenue: Money = 0

    @model_validator(mode="after")
    def _check(self) -> MetricRowIn:
        if (self.campaign_id is None) == (self.external_id is None):
            raise ValueError("give exactly one of campaign_id or external_id")
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class MetricsBatchIn(StrictModel):
    rows: Annotated[list[MetricRowIn], Field(min_length=1, max_length=MAX_METRIC_ROWS)]


class MetricsBatchResult(BaseModel):
    rows: int
    campaigns: int
