from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.actions import ActionPublic
from app.models.common import Flag, HeldCode, StrictModel

CycleStatus = Literal["running", "succeeded", "failed", "skipped", "held"]
CycleTrigger = Literal["api", "cron", "sql", "cli", "metrics", "release"]


class CycleRun(StrictModel):
    dry_run: Flag = False


class HeldBack(HeldCode):
    campaign_id: uuid.UUID
    title: str
    action_type: str
    rule_name: str
    confidence: float


class DetectorError(BaseModel):
    """An opportunity detector that raised on some figure: skipped for that cycle, the others ran."""

    detector: str
    error: str


class RuleError(BaseModel):
    """A rule that raised while it was evaluated: skipped for that cycle, the others acted."""

    rule_id: uuid.UUID
    name: str
    error: str


class CycleSummary(BaseModel):
    cycle_id: uuid.UUID
    status: CycleStatus
    dry_run: bool
    trigger: CycleTrigger | None = None
    paused: int
    scaled: int
    posted: int
    opportunities_detected: int
    impacts_measured: int = 0
    actions: list[ActionPublic]
    actions_total: int = 0
    held_back: list[HeldBack] = []
    held_back_total: int = 0
    rule_errors: list[RuleError] = []
    detector_errors: list[DetectorError] = []
    posting_note: str | None = None
    error: str | None = None
    replayed: bool = False
    scope: int | None = None
    limits: dict[str, Any] | None = Field(
        default=None,
        description="the blast-radius limits: held (the data-outage breaker), the portfolio's ratios, "
        "what the mass-pause and budget limits held",
    )


class CyclePublic(BaseModel):
    id: uuid.UUID
    trigger: CycleTrigger
    triggered_by: str | None
    dry_run: bool
    status: CycleStatus
    scope: int | None = Field(
        default=None,
        description="trigger metrics: how many campaigns the scoped evaluation looked at",
    )
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] | None
    error: str | None
    released_at: datetime | None = None
    released_by: str | None = None
    released_by_cycle_id: uuid.UUID | None = None


class CyclesPublic(BaseModel):
    items: list[CyclePublic]
    next_cursor: str | None = None


class CurrencyMoney(BaseModel):
    currency: str = Field(description="ISO 4217")
    accounts: int
    active_campaigns: int
    daily_budget_active: float
    spend: float
    revenue: float


class StatsPublic(BaseModel):
    total_actions: int
    paused: int
    scaled: int
    posted: int
    rolled_back: int
    open_opportunities: int
    last_cycle: dict[str, Any] | None
    money: list[CurrencyMoney] = Field(
        default_factory=list,
        description="per currency, never added across: the active campaigns' daily budgets and the "
        "campaigns' lifetime spend and revenue",
    )
