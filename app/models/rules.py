from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, AfterValidator, BaseModel, Field, field_validator
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.models.common import RULE_VALUE_LIMIT, Flag, Name200, StrictModel, Text2000
from app.models.rule_language import action_schema, conditions_schema

RuleType = Literal["pause", "scale", "post"]
EvaluationType = Literal["schedule", "trigger"]
EVALUATION_DESCRIPTION = (
    "schedule: evaluated by cycles; trigger: also as soon as new metrics for a campaign arrive"
)
AccountIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=200)]
ACCOUNTS_DESCRIPTION = "the ad accounts the rule applies to; null (the default): every account"
Reading = Literal["matured", "as_reported"]
READING_DESCRIPTION = (
    "matured: the young days of connected accounts read as they will show once late conversions"
    " arrive (reported ÷ the account's maturity curve); as_reported: as reported so far"
)
Priority = Annotated[int, Field(strict=True, ge=0, le=1000)]
Confidence = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Cooldown = Annotated[int, Field(strict=True, ge=0, le=8760)]

MAX_TREE_DEPTH = 32  # generous: the database names the part that nests too deep (groups: 3)
MAX_TREE_NODES = 100_000  # far above what the schema allows (20 per group, 3 deep)
MAX_CONDITIONS = 50  # what a person writes; the database holds rules to the same


def _bounded_tree(value: Any) -> Any:
    """The JSON of a rule's conditions or action: finite numbers with |v| < 10^12, keys and strings
    of clean text, a bounded size. Its meaning (metrics, operators, windows) the database checks.

    An error carries the path inside the tree (``all[0].value``), which the 422 appends to the field.
    """
    nodes = 0

    def refuse(path: str, message: str) -> None:
        raise PydanticCustomError("rule_json", message, {"path": path})

    def walk(node: Any, path: str, depth: int) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_TREE_NODES or depth > MAX_TREE_DEPTH:
            refuse(path, f"is too large: at most {MAX_TREE_NODES} values, {MAX_TREE_DEPTH} deep")
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, int | float):
            if (isinstance(node, float) and not math.isfinite(node)) or abs(
                node
            ) >= RULE_VALUE_LIMIT:
                refuse(path, "must be a finite number with |value| < 1000000000000")
        elif isinstance(node, str):
            if len(node) > 200 or _CONTROL.search(node):
                refuse(path, "must be text of at most 200 characters without control characters")
        elif isinstance(node, dict):
            for key, child in node.items():
                if len(key) > 100 or _CONTROL.search(key):
                    refuse(path, "has a key longer than 100 characters or with control characters")
                walk(child, f"{path}.{key}" if path else key, depth + 1)
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]", depth + 1)

    walk(value, "", 0)
    return value


def _at_most_50_conditions(value: dict[str, Any]) -> dict[str, Any]:
    """Refused before anything else reads it: a tree of thousands of conditions costs minutes."""

    def count(node: Any) -> int:
        if isinstance(node, dict):
            return ("metric" in node) + sum(count(v) for v in node.values())
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return 0

    found = count(value)
    if found > MAX_CONDITIONS:
        raise PydanticCustomError(
            "rule_json",
            "a rule has at most {limit} conditions; this one has {found}: split it into rules",
            {"path": "", "limit": MAX_CONDITIONS, "found": found},
        )
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0B-\x1F]")
Conditions = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_tree),
    AfterValidator(_at_most_50_conditions),
    WithJsonSchema(conditions_schema()),
]
Action = Annotated[dict[str, Any], AfterValidator(_bounded_tree), WithJsonSchema(action_schema())]


class RuleCreate(StrictModel):
    name: Name200
    description: Text2000 | None = None
    rule_type: RuleType
    priority: Priority = 50
    is_active: Flag = True
    conditions: Conditions
    action: Action
    min_confidence: Confidence = 0
    cooldown_hours: Cooldown = 24
    evaluation_type: EvaluationType = Field(default="schedule", description=EVALUATION_DESCRIPTION)
    reading: Reading = Field(default="matured", description=READING_DESCRIPTION)
    account_ids: AccountIds | None = Field(default=None, description=ACCOUNTS_DESCRIPTION)


class RuleUpdate(StrictModel):
    """Only the fields sent change. ``rule_type`` never changes: create a new rule instead."""

    name: Name200 | MISSING = MISSING
    description: Text2000 | None | MISSING = MISSING
    is_active: Flag | MISSING = MISSING
    priority: Priority | MISSING = MISSING
    conditions: Conditions | MISSING = MISSING
    action: Action | MISSING = MISSING
    min_confidence: Confidence | MISSING = MISSING
    cooldown_hours: Cooldown | MISSING = MISSING
    evaluation_type: EvaluationType | MISSING = MISSING
    reading: Reading | MISSING = MISSING
    account_ids: AccountIds | None | MISSING = MISSING
    rule_type: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("rule_type", mode="before")
    @classmethod
    def _immutable(cls, v: Any) -> Any:
        raise ValueError("rule_type cannot change; create a new rule and deactivate this one")


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
    evaluation_type: EvaluationType
    reading: Reading
    account_ids: list[uuid.UUID] | None = Field(description=ACCOUNTS_DESCRIPTION)
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime


class RulesPublic(BaseModel):
    items: list[RulePublic]
    next_cursor: str | None = None
