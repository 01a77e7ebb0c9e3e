from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from app.models.common import NonNegativeCount, NonNegativeMoney, StrictModel

MAX_METRIC_ROWS = 10_000


class MetricRowIn(StrictModel):
    campaign_id: uuid.UUID | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    period_start: datetime
    period_end: datetime
    impressions: NonNegativeCount = 0
    reach: NonNegativeCount | None = None
    clicks: NonNegativeCount = 0
    conversions: NonNegativeCount = 0
    spend: NonNegativeMoney = 0
    revenue: NonNegativeMoney = 0

    @field_validator("period_start", "period_end")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v

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
