from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from app.models.common import StrictModel

RuleType = Literal["pause", "scale", "post"]
Priority = Annotated[int, Field(ge=0, le=1000)]
Confidence = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Cooldown = Annotated[int, Field(ge=0, le=8760)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _finite_tree(value: Any, path: str = "") -> Any:
    """JSON allows NaN and Infinity literals; a rule may hold only finite numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'} must be a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_tree(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite_tree(v, f"{path}[{i}]")
    return value


JsonTree = Annotated[dict[str, Any], AfterValidator(_finite_tree)]


class RuleCreate(StrictModel):
    name: Name
    description: Annotated[str, Field(max_length=2000)] | None = None
    rule_type: RuleType
    priority: Priority = 50
    is_active: bool = True
    conditions: JsonTree = Field(
        description='{"all"|"any": [...]}, leaves {metric, op, value, window}'
    )
    action: JsonTree = Field(description='{"type": "pause"|"scale_budget"|"post", "factor"?: F}')
    min_confidence: Confidence = 0
    cooldown_hours: Cooldown = 24


class RuleUpdate(StrictModel):
    name: Name | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    is_active: bool | None = None
    priority: Priority | None = None
    conditions: JsonTree | None = None
    action: JsonTree | None = None
    min_confidence: Confidence | None = None
    cooldown_hours: Cooldown | None = None
    rule_type: Any = Field(default=None, description="never changes; present only to explain why")

    @field_validator("rule_type")
    @classmethod
    def _immutable(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError("rule_type cannot change; create a new rule and deactivate this one")
        return v

    @field_validator(
        "name", "is_active", "priority", "conditions", "action", "min_confidence", "cooldown_hours"
    )
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("may not be null")
        return v


class RulePublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    rule_type: RuleType
    priority: int
    is_active: bool
    is_builtin: bool
    conditions: dict[str, Any]
    conditions_text: str
    action: dict[str, Any]
    min_confidence: float
    cooldown_hours: int
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class RulesPublic(BaseModel):
    items: list[RulePublic]
    next_cursor: str | None = None
