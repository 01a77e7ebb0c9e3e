from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import MISSING, BaseModel, Field

from app.models.common import MONEY_LIMIT, StrictModel

Ratio = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(strict=True, gt=0, le=1_000_000)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
MinSpend = Annotated[float, Field(strict=True, ge=0, lt=MONEY_LIMIT, allow_inf_nan=False)]
ScaleFactor = Annotated[float, Field(strict=True, gt=1, le=10, allow_inf_nan=False)]
Frequency = Annotated[float, Field(strict=True, gt=0, le=1_000_000, allow_inf_nan=False)]
RateRatio = Annotated[float, Field(strict=True, ge=1, le=1_000_000, allow_inf_nan=False)]


class AutonomousSettingsBase(BaseModel):
    min_spend: MinSpend
    max_scale_factor: ScaleFactor
    min_scale_confidence: Ratio
    post_spacing_hours: NonNegativeInt
    post_lead_minutes: NonNegativeInt
    impact_window_hours: PositiveInt
    rollback_quiet_hours: NonNegativeInt
    opportunity_quiet_days: NonNegativeInt
    low_conversion_min_clicks: PositiveInt
    low_conversion_max_rate: Ratio
    high_traffic_click_quantile: Ratio
    high_traffic_rate_ratio: Ratio
    decline_ratio: Ratio
    decline_min_clicks: PositiveInt
    under_delivery_ratio: Ratio
    audience_high_ctr: Ratio
    audience_low_conversion_rate: Ratio
    audience_low_ctr: Ratio
    audience_min_impressions: PositiveInt
    fatigue_min_frequency: Frequency
    fatigue_ctr_drop: Ratio
    timing_min_ratio: RateRatio
    timing_min_clicks: PositiveInt


class AutonomousSettingsPublic(AutonomousSettingsBase):
    updated_at: datetime
    updated_by: str | None


class AutonomousSettingsUpdate(StrictModel):
    """Every field optional; only those sent change. Ranges as in AutonomousSettingsBase."""

    min_spend: MinSpend | MISSING = MISSING
    max_scale_factor: ScaleFactor | MISSING = MISSING
    min_scale_confidence: Ratio | MISSING = MISSING
    post_spacing_hours: NonNegativeInt | MISSING = MISSING
    post_lead_minutes: NonNegativeInt | MISSING = MISSING
    impact_window_hours: PositiveInt | MISSING = MISSING
    rollback_quiet_hours: NonNegativeInt | MISSING = MISSING
    opportunity_quiet_days: NonNegativeInt | MISSING = MISSING
    low_conversion_min_clicks: PositiveInt | MISSING = MISSING
    low_conversion_max_rate: Ratio | MISSING = MISSING
    high_traffic_click_quantile: Ratio | MISSING = MISSING
    high_traffic_rate_ratio: Ratio | MISSING = MISSING
    decline_ratio: Ratio | MISSING = MISSING
    decline_min_clicks: PositiveInt | MISSING = MISSING
    under_delivery_ratio: Ratio | MISSING = MISSING
    audience_high_ctr: Ratio | MISSING = MISSING
    audience_low_conversion_rate: Ratio | MISSING = MISSING
    audience_low_ctr: Ratio | MISSING = MISSING
    audience_min_impressions: PositiveInt | MISSING = MISSING
    fatigue_min_frequency: Frequency | MISSING = MISSING
    fatigue_ctr_drop: Ratio | MISSING = MISSING
    timing_min_ratio: RateRatio | MISSING = MISSING
    timing_min_clicks: PositiveInt | MISSING = MISSING
