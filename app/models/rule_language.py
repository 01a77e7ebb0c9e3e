"""The rule language as JSON Schema, for the OpenAPI document (what a client may send, exactly).

The database is the judge of a rule (a trigger validates every rule written, by the API or in psql,
and names the bad part); this schema says the same thing to clients and to schemathesis, and a test
checks these lists against the database's own (``rule_metrics()``, ``rule_operators()``,
``rule_windows()``). What no JSON Schema can say is left to the database: ``low <= high`` in
``between``, a scale factor within ``settings.max_scale_factor``, an action that fits the rule type.
"""

from __future__ import annotations

from typing import Any

METRICS = (
    "roi",
    "spend",
    "revenue",
    "impressions",
    "reach",
    "clicks",
    "conversions",
    "ctr",
    "cpc",
    "cpa",
    "conversion_rate",
    "frequency",
    "hours_running",
    "days_running",
    "daily_budget",
    "budget_utilization",
)
UNWINDOWED_METRICS = ("hours_running", "days_running", "daily_budget")
OPERATORS = ("lt", "lte", "gt", "gte", "eq", "neq", "between")
WINDOWS = ("lifetime", "last_24h", "last_48h", "last_7d", "last_14d", "last_30d")
MAX_GROUP_DEPTH = 3
MAX_GROUP_SIZE = 20
VALUE_LIMIT = 1e12
MAX_SCALE_FACTOR = 10  # the highest settings.max_scale_factor; the setting itself may be lower

_VALUE = {
    "type": "number",
    "exclusiveMinimum": -VALUE_LIMIT,
    "exclusiveMaximum": VALUE_LIMIT,
}


def _leaf(metrics: tuple[str, ...], windows: tuple[str, ...], between: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["metric", "op", "value"],
        "properties": {
            "metric": {"enum": list(metrics)},
            "op": {"const": "between"}
            if between
            else {"enum": [o for o in OPERATORS if o != "between"]},
            "value": (
                {"type": "array", "items": _VALUE, "minItems": 2, "maxItems": 2}
                if between
                else _VALUE
            ),
            "window": {"enum": list(windows)},
        },
    }


def _group(child: dict[str, Any]) -> dict[str, Any]:
    members = {"type": "array", "items": child, "minItems": 1, "maxItems": MAX_GROUP_SIZE}
    return {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": [key],
                "properties": {key: members},
            }
            for key in ("all", "any")
        ]
    }


def condition_schema() -> dict[str, Any]:
    """A leaf ``{metric, op, value, window?}``: between takes ``[low, high]``; hours_running,
    days_running and daily_budget have no window but lifetime."""
    windowed = tuple(m for m in METRICS if m not in UNWINDOWED_METRICS)
    return {
        "oneOf": [
            _leaf(windowed, WINDOWS, between=False),
            _leaf(windowed, WINDOWS, between=True),
            _leaf(UNWINDOWED_METRICS, ("lifetime",), between=False),
            _leaf(UNWINDOWED_METRICS, ("lifetime",), between=True),
        ]
    }


def conditions_schema() -> dict[str, Any]:
    """``{"all": [...]}`` or ``{"any": [...]}`` of conditions and groups, nested at most 3 deep."""
    node: dict[str, Any] = _group(condition_schema())
    for _ in range(MAX_GROUP_DEPTH - 1):
        node = _group({"oneOf": [condition_schema(), node]})
    return node | {"description": conditions_schema.__doc__}


def action_schema() -> dict[str, Any]:
    """``{"type": "pause"}``, ``{"type": "scale", "factor": F}`` (1 < F <=
    settings.max_scale_factor) or ``{"type": "post"}``, the rule's own type ("scale_budget", the
    former name of scale, is still taken)."""

    def typed(name: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", *extra],
            "properties": {"type": {"const": name}, **extra},
        }

    factor = {"type": "number", "exclusiveMinimum": 1, "maximum": MAX_SCALE_FACTOR}
    return {
        "oneOf": [
            typed("pause"),
            typed("scale", factor=factor),
            typed("scale_budget", factor=factor) | {"deprecated": True},
            typed("post"),
        ],
        "description": action_schema.__doc__,
    }
