"""What the dashboard reads beyond the lists: a campaign's series, the daily money, a rule preview."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.common import HeldCode, Name200, StrictModel
from app.models.rules import (
    ACCOUNTS_DESCRIPTION,
    READING_DESCRIPTION,
    AccountIds,
    Action,
    Conditions,
    Confidence,
    Cooldown,
    Priority,
    Reading,
)

Bucket = Literal["day", "hour"]


class MetricPoint(BaseModel):
    bucket_start: datetime
    impressions: int
    clicks: int
    conversions: int
    spend: float
    revenue: float
    roi: float | None = Field(description="revenue ÷ spend in the bucket; null with no spend")


class CampaignSeriesPublic(BaseModel):
    campaign_id: uuid.UUID
    currency: str = Field(description="the account's currency, ISO 4217")
    timezone: str = Field(description="the account's time zone: the days and hours of the buckets")
    bucket: Bucket
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    points: list[MetricPoint]


class DailyPoint(BaseModel):
    day: str = Field(description="the date in the account's time zone")
    paused: int
    scaled: int
    posted: int
    optimized: int
    expected_saved: float = Field(
        description="loss avoided per day by the pauses in effect, as expected"
    )
    expected_added: float = Field(
        description="profit per day added by the scales in effect, as expected"
    )
    measured_saved: float = Field(
        description="measured change in profit per day of the pauses in effect"
    )
    measured_added: float = Field(
        description="measured change in profit per day of the scales in effect"
    )


class DailySeries(BaseModel):
    currency: str = Field(
        description="ISO 4217: the money of these days is in it, never summed across"
    )
    days: list[DailyPoint]


class DailyStatsPublic(BaseModel):
    account_id: uuid.UUID | None = Field(description="the account asked for; null: every account")
    series: list[DailySeries] = Field(description="one per currency")


class RulePreviewRequest(StrictModel):
    """A rule body as POST /rules takes it (the name only words the reasons)."""

    name: Name200 | None = None
    rule_type: Literal["pause", "scale", "post"]
    priority: Priority = 50
    conditions: Conditions
    action: Action
    min_confidence: Confidence = 0
    cooldown_hours: Cooldown = 24
    reading: Reading = Field(default="matured", description=READING_DESCRIPTION)
    account_ids: AccountIds | None = Field(default=None, description=ACCOUNTS_DESCRIPTION)


class RulePreviewItem(HeldCode):
    campaign_id: uuid.UUID
    campaign_title: str
    action_type: str
    confidence: float
    roi: float | None
    spend: float
    daily_budget: float
    new_budget: float | None
    reason: str | None
    expected_impact: dict[str, Any] | None


class RulePreviewPublic(BaseModel):
    evaluated: int = Field(description="active campaigns looked at")
    rule_errors: list[str]
    items: list[RulePreviewItem] = Field(
        description="what it would do now (held_code null) and what a guardrail would hold back"
    )
