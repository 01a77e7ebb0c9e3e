from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.common import Moment, Name200, StrictModel, Text2000
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

BacktestStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
BacktestStep = Literal["day", "hour"]


class RuleBody(StrictModel):
    """A rule tried in a backtest without being created: the fields of POST /rules."""

    name: Name200 | None = None
    description: Text2000 | None = None
    rule_type: Literal["pause", "scale"]
    priority: Priority = 50
    conditions: Conditions
    action: Action
    min_confidence: Confidence = 0
    cooldown_hours: Cooldown = 24
    reading: Reading = Field(default="matured", description=READING_DESCRIPTION)
    account_ids: AccountIds | None = Field(default=None, description=ACCOUNTS_DESCRIPTION)


SettingValue = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]


class BacktestCreate(StrictModel):
    from_: Moment = Field(
        alias="from", description="the replay starts here (what ended before is history)"
    )
    to: Moment = Field(description="the replay ends here: after from, at most 400 days later")
    step: BacktestStep = Field(default="day", description="how often the decisions are replayed")
    rules: (
        Literal["active"]
        | Annotated[list[uuid.UUID | RuleBody], Field(min_length=1, max_length=100)]
    ) = Field(
        default="active",
        description='"active" (the active rules), or rule ids and at most 20 rule bodies tried without creating them',
    )
    settings: Annotated[dict[str, SettingValue], Field(max_length=50)] = Field(
        default_factory=dict,
        description="setting overrides for the replay (names and ranges as PATCH /settings)",
    )

    model_config = ConfigDict(populate_by_name=True)


class BacktestPublic(BaseModel):
    id: uuid.UUID
    status: BacktestStatus
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    step: BacktestStep
    rules: Any
    settings: dict[str, Any]
    steps_total: int
    progress: float = Field(description="0 to 1")
    result: dict[str, Any] | None = Field(
        description="when succeeded: totals, per rule, decisions (first 5,000), daily timeline; over a"
        " history with revisions, readings: the totals (regrets included) with young days read as they"
        " will show (matured) and as reported"
    )
    error: str | None
    created_by: str | None
    cancelled_by: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BacktestsPublic(BaseModel):
    items: list[BacktestPublic]
    next_cursor: str | None


class ImportReport(BaseModel):
    format: Literal["meta", "google", "generic"]
    rows: int
    campaigns: int
    campaigns_created: int
    date_from: datetime | None
    date_to: datetime | None
    unmapped_columns: list[str]
    skipped_total_rows: int
    rounded_conversions: int = Field(description="rows whose fractional conversions were rounded")
