"""How the Graph API's answers are read: budgets in the currency's minor units, the usage headers a
sync paces itself by, the value of the one purchase type counted, the hour of an hourly row, and a
campaign's status as the engine's word."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from app.platforms.base import MalformedAnswer, decimal_of

# Marketing API "Currency codes": budgets of these currencies are whole units (offset 1).
ZERO_DECIMAL = {"JPY", "KRW", "TWD", "CLP", "COP", "CRC", "HUF", "ISK", "IDR", "PYG", "VND"}
USAGE_HEADERS = (
    "x-business-use-case-usage",
    "x-ad-account-usage",
    "x-fb-ads-insights-throttle",
    "x-app-usage",
)
USAGE_KEYS = ("call_count", "total_cputime", "total_time", "acc_id_util_pct", "app_id_util_pct")


def minor_units_offset(currency: str) -> int:
    return 1 if currency.upper() in ZERO_DECIMAL else 100


def usage_of(headers: Any) -> tuple[float, float]:
    """The highest usage an answer's headers report (percent) and the wait Meta names (seconds)."""
    highest, regain = 0.0, 0.0
    for name in USAGE_HEADERS:
        try:
            doc = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        entries: list[Any] = []
        if name == "x-business-use-case-usage" and isinstance(doc, dict):
            for items in doc.values():
                entries += items if isinstance(items, list) else []
        elif isinstance(doc, dict):
            entries.append(doc)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in USAGE_KEYS:
                highest = max(highest, _number(entry.get(key)))
            regain = max(regain, _number(entry.get("estimated_time_to_regain_access")) * 60)
    return highest, regain


def _number(value: Any) -> float:
    try:
        number = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number and abs(number) != float("inf") else 0.0


def minor_amount(amount: Decimal, currency: str) -> str:
    """An amount as the Graph API takes a budget: whole minor units of the account's currency."""
    return str(int((amount * minor_units_offset(currency)).to_integral_value()))


def action_value(entries: Any, kind: str | None, what: str) -> Decimal:
    """The value of the one purchase type counted (0 when the row has none)."""
    if entries is not None and not isinstance(entries, list):
        raise MalformedAnswer(f"{what} is not a list")
    for entry in entries or []:
        if isinstance(entry, dict) and kind is not None and entry.get("action_type") == kind:
            return decimal_of(entry.get("value", 0), f"{what} {kind}")
    return Decimal(0)


def hour_of(text: Any, what: str) -> int:
    """The hour of ``"14:00:00 - 14:59:59"``."""
    value = str(text or "")
    if len(value) < 2 or not value[:2].isdigit() or not 0 <= int(value[:2]) <= 23:
        raise MalformedAnswer(f"{what}: {value[:30]!r} is not an hour of the day")
    return int(value[:2])


def status_of(row: dict[str, Any]) -> str:
    """The status a person set (``status``), as the engine's word."""
    value = row.get("status")
    if value == "ACTIVE":
        return "active"
    if value in ("DELETED", "ARCHIVED"):
        return "completed"
    return "paused"
