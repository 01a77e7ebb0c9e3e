from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.models.common import StrictModel

Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0, le=1_000_000)]
NonNegativeInt = Annotated[int, Field(ge=0, le=1_000_000)]


class AutonomousSettingsBase(BaseModel):
    min_spend: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    max_scale_factor: Annotated[float, Field(gt=1, le=10, allow_inf_nan=False)]
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
    fatigue_min_frequency: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    fatigue_ctr_drop: Ratio
    timing_min_ratio: Annotated[float, Field(ge=1, allow_inf_nan=False)]
    timing_min_clicks: PositiveInt


class AutonomousSettingsPublic(AutonomousSettingsBase):
    updated_at: datetime
    updated_by: str | None


class AutonomousSettingsUpdate(StrictModel):
    """Every field optional; only those sent change. Ranges as in AutonomousSettingsBase."""

    min_spend: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    max_scale_factor: Annotated[float, Field(gt=1, le=10, allow_inf_nan=False)] | None = None
    min_scale_confidence: Ratio | None = None
    post_spacing_hours: NonNegativeInt | None = None
    post_lead_minutes: NonNegativeInt | None = None
    impact_window_hours: PositiveInt | None = None
    rollback_quiet_hours: NonNegativeInt | None = None
    opportunity_quiet_days: NonNegativeInt | None = None
    low_conversion_min_clicks: PositiveInt | None = None
    low_conversion_max_rate: Ratio | None = None
    high_traffic_click_quantile: Ratio | None = None
    high_traffic_rate_ratio: Ratio | None = None
    decline_ratio: Ratio | None = None
    decline_min_clicks: PositiveInt | None = None
    under_delivery_ratio: Ratio | None = None
    audience_high_ctr: Ratio | None = None
    audience_low_conversion_rate: Ratio | None = None
    audience_low_ctr: Ratio | None = None
    audience_min_impressions: PositiveInt | None = None
    fatigue_min_frequency: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    fatigue_ctr_drop: Ratio | None = None
    timing_min_ratio: Annotated[float, Field(ge=1, allow_inf_nan=False)] | None = None
    timing_min_clicks: PositiveInt | None = None
