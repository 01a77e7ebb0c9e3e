"""The settings: the columns of autonomous_settings (names, defaults, ranges as checks) are the source;
this model states the same for the API, and a test holds the two together."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import MISSING, AfterValidator, BaseModel, Field, create_model
from pydantic_core import PydanticCustomError

from app.models.common import MONEY_LIMIT, StrictModel


def _steps_from(origin: float) -> AfterValidator:
    """A number setting is its origin (0, or 1 for a factor or ratio that starts there) or at least
    10^-9 away from it: a smaller step means nothing and underflows the detectors' statistics."""

    def check(value: float) -> float:
        if value != origin and abs(value - origin) < 1e-9:
            raise PydanticCustomError(
                "setting_step",
                "must be {origin} or at least 0.000000001 away from it (e.g. {example}, not {origin} + 1e-12)",
                {"origin": f"{origin:g}", "example": f"{origin + 0.5:g}"},
            )
        return value

    return AfterValidator(check)


Ratio = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False), _steps_from(0)]
PositiveInt = Annotated[int, Field(strict=True, gt=0, le=1_000_000)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
MinSpend = Annotated[
    float, Field(strict=True, ge=0, lt=MONEY_LIMIT, allow_inf_nan=False), _steps_from(0)
]
ScaleFactor = Annotated[float, Field(strict=True, gt=1, le=10, allow_inf_nan=False), _steps_from(1)]
Frequency = Annotated[
    float, Field(strict=True, gt=0, le=1_000_000, allow_inf_nan=False), _steps_from(0)
]
RateRatio = Annotated[
    float, Field(strict=True, ge=1, le=1_000_000, allow_inf_nan=False), _steps_from(1)
]
OpenRatio = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False), _steps_from(0)]
Percent = Annotated[float, Field(strict=True, gt=0, le=1000, allow_inf_nan=False), _steps_from(0)]


def _maturity_curve(curve: list[float]) -> list[float]:
    """Never decreasing, the last share 1 (each share's bounds are its item type's)."""
    for i, share in enumerate(curve):
        if i and share < curve[i - 1]:
            raise PydanticCustomError(
                "maturity_curve",
                "share [{i}] ({share}) must not be below the share before it ({before})",
                {"i": i, "share": f"{share:g}", "before": f"{curve[i - 1]:g}"},
            )
    if curve[-1] != 1:
        raise PydanticCustomError(
            "maturity_curve",
            "the last share [{i}] must be 1 (all of a day reported), not {share}",
            {"i": len(curve) - 1, "share": f"{curve[-1]:g}"},
        )
    return curve


Share = Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)]
MaturityCurve = Annotated[
    list[Share], Field(min_length=1, max_length=28), AfterValidator(_maturity_curve)
]


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
    breaker_revenue_ratio: OpenRatio
    breaker_spend_ratio: OpenRatio
    max_pause_spend_share: OpenRatio
    max_daily_budget_increase_pct: Percent
    max_total_daily_budget: MinSpend | None
    approval_ttl_hours: Annotated[int, Field(strict=True, ge=1, le=720)] = Field(
        description="hours a proposed change of a connected campaign waits for a person before it expires"
    )
    maturity_default_curve: MaturityCurve = Field(
        description="the share of a day's final conversions and revenue reported 0, 1, 2, … whole days after"
        " it ended, for connected accounts with too few days to learn their own (never decreasing, the last 1)"
    )
    maturity_min_days: Annotated[int, Field(strict=True, ge=1, le=365)] = Field(
        description="the days an account's syncs must have seen before its own maturity curve is used"
    )
    hourly_retention_days: Annotated[int, Field(strict=True, ge=30, le=36500)] = Field(
        description="the days hourly metric rows are kept before they are rolled up into days (at least"
        " 30, the longest window the rules read; an hourly backtest needs its hours too)"
    )


# What an ad account can set for itself: the guardrails and the blast-radius limits (the columns of
# account_settings; a test holds the two together).
ACCOUNT_SETTINGS = (
    "min_spend",
    "max_scale_factor",
    "min_scale_confidence",
    "rollback_quiet_hours",
    "post_spacing_hours",
    "breaker_revenue_ratio",
    "breaker_spend_ratio",
    "max_pause_spend_share",
    "max_daily_budget_increase_pct",
    "max_total_daily_budget",
)
OVERRIDES_DESCRIPTION = (
    "per ad account, the guardrails and limits it sets for itself, which take precedence over the"
    " global values: {account id: {setting: value}}; in PATCH a null takes the global value again."
    " The settings an account can override: " + ", ".join(ACCOUNT_SETTINGS)
)
MAX_OVERRIDDEN_ACCOUNTS = 200


class AutonomousSettingsPublic(AutonomousSettingsBase):
    updated_at: datetime
    updated_by: str | None
    account_overrides: dict[uuid.UUID, dict[str, float | int]] = Field(
        default_factory=dict, description=OVERRIDES_DESCRIPTION
    )


def _override_model(base: type[BaseModel]) -> type[StrictModel]:
    """An account's overrides: each overridable setting with its bounds, optional, null to clear."""
    fields: dict[str, Any] = {}
    for name in ACCOUNT_SETTINGS:
        info = base.model_fields[name]
        annotation: Any = (
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        )
        fields[name] = (annotation | None | MISSING, MISSING)
    return create_model(
        "AccountSettingsOverride",
        __base__=StrictModel,
        __doc__="The settings an account overrides; null takes the global value again.",
        **fields,
    )


def _all_optional(base: type[BaseModel], overrides: type[StrictModel]) -> type[StrictModel]:
    """The PATCH body of a model: each of its fields, with the same bounds, optional but not null;
    and the accounts' overrides."""
    fields: dict[str, Any] = {
        name: (
            (Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation)
            | MISSING,
            MISSING,
        )
        for name, info in base.model_fields.items()
    }
    fields["account_overrides"] = (
        Annotated[
            dict[uuid.UUID, overrides],  # type: ignore[valid-type]
            Field(max_length=MAX_OVERRIDDEN_ACCOUNTS, description=OVERRIDES_DESCRIPTION),
        ]
        | MISSING,
        MISSING,
    )
    return create_model(
        "AutonomousSettingsUpdate",
        __base__=StrictModel,
        __doc__="Every setting optional; only those sent change. Ranges as in GET /settings.",
        **fields,
    )


if TYPE_CHECKING:
    AccountSettingsOverride = StrictModel
    AutonomousSettingsUpdate = StrictModel
else:
    AccountSettingsOverride = _override_model(AutonomousSettingsBase)
    AutonomousSettingsUpdate = _all_optional(AutonomousSettingsBase, AccountSettingsOverride)
