"""What a webhook endpoint receives for each event: the Standard Webhooks body and signature, or one
readable Slack line. Every event type has its Slack text here (a test holds the list to the database's
``ao_event_types()``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from app.models.webhooks import TEST_EVENT, EventType, event_data


def _iso(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
        except ValueError:
            return value
    return value


def event_body(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON an endpoint receives: {"type", "timestamp", "data"}, data as the API returns it."""
    return {
        "type": event_type,
        "timestamp": _iso(payload.get("timestamp")),
        "data": event_data(event_type, payload.get("data") or {}),
    }


def _money(value: Any, currency: str | None = None) -> str:
    try:
        amount = f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)
    return f"${amount}" if currency in (None, "USD") else f"{amount} {currency}"


def _ratio(value: Any) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return "?"


def _title(d: dict[str, Any]) -> str:
    return str(d.get("campaign_title") or d.get("campaign_id") or "")


def _action_executed(d: dict[str, Any]) -> str:
    title = _title(d)
    if d["action_type"] == "pause":
        return f":pause_button: Paused “{title}”: {d['reason']}"
    if d["action_type"] == "scale":
        budget = _money((d.get("new_state") or {}).get("daily_budget"))
        return f":chart_with_upwards_trend: Scaled “{title}” to {budget} a day: {d['reason']}"
    if d["action_type"] == "post":
        platforms = ", ".join((d.get("new_state") or {}).get("platforms") or [])
        return f":mega: Scheduled a post of “{title}” to {platforms or 'its platforms'}"
    return f"{d['action_type']} on “{title}”: {d['reason']}"


def _action_rolled_back(d: dict[str, Any]) -> str:
    why = f" ({d['rollback_reason']})" if d.get("rollback_reason") else ""
    return f":leftwards_arrow_with_hook: Rolled back the {d['action_type']} of “{_title(d)}”{why}"


def _limits(d: dict[str, Any]) -> dict[str, Any]:
    limits: dict[str, Any] = (d.get("summary") or {}).get("limits") or {}
    return limits


def _cycle_held(d: dict[str, Any]) -> str:
    limits = _limits(d)
    held = [a for a in limits.get("accounts") or [] if a.get("held")] or [limits]
    if len(limits.get("accounts") or []) <= 1:
        where, what = "", "Nothing was paused or scaled."
    else:
        names = ", ".join(f"“{a.get('account_name')}”" for a in held)
        where, what = (
            f" in {names}",
            "Nothing was paused or scaled there; the other accounts acted.",
        )
    figures = "; ".join(_held_figures(a) for a in held)
    return (
        f":octagonal_sign: A {d['trigger']} cycle was held{where}: {figures}; a broken feed? {what} "
        f"Release it with POST /cycles/{d['id']}/release once the data is right."
    )


def _held_figures(a: dict[str, Any]) -> str:
    currency = a.get("currency")
    return (
        f"revenue of the last 24 h {_money(a.get('revenue_24h'), currency)} is "
        f"{_ratio(a.get('revenue_ratio'))} of its daily average of "
        f"{_money(a.get('revenue_7d_daily_average'), currency)} over the 7 days before, "
        f"conversions {a.get('conversions_24h', '?')} against "
        f"{a.get('conversions_7d_daily_average', '?')} a day, while spend "
        f"{_money(a.get('spend_24h'), currency)} is {_ratio(a.get('spend_ratio'))} of its "
        f"{_money(a.get('spend_7d_daily_average'), currency)} a day"
    )


def _cycle_limited(d: dict[str, Any]) -> str:
    limits = _limits(d)
    return (
        f":shield: The limits held back {limits.get('pauses_held', 0)} pauses and "
        f"{limits.get('scales_held', 0)} scales in a {d['trigger']} cycle "
        f"({limits.get('scales_partial', 0)} scales granted in part)"
    )


def _post_unknown(d: dict[str, Any]) -> str:
    return (
        f":grey_question: A {d['platform']} post of “{_title(d)}” may or may not have gone out; "
        f"check {d['platform']} before posting it again"
    )


# One readable line per event type, for a Slack channel.
SLACK_TEXT: dict[str, Callable[[dict[str, Any]], str]] = {
    "action.executed": _action_executed,
    "action.rolled_back": _action_rolled_back,
    "cycle.failed": lambda d: (
        f":x: A {d['trigger']} cycle failed and changed nothing: {d.get('error')}"
    ),
    "cycle.held": _cycle_held,
    "cycle.limited": _cycle_limited,
    "rule.error": lambda d: f":warning: Rule “{d['name']}” failed and was skipped: {d['error']}",
    "opportunity.opened": lambda d: (
        f":bulb: {d['severity'].capitalize()} opportunity on “{_title(d)}”: {d['description']}"
    ),
    "post.failed": lambda d: (
        f":x: A {d['platform']} post of “{_title(d)}” failed: {d.get('last_error')}"
    ),
    "post.unknown": _post_unknown,
    "social_account.expired": lambda d: (
        f":key: The {d['platform']} account {d['account_id']} needs reconnecting: "
        "the platform refused its token"
    ),
    "action.proposed": lambda d: (
        f":raised_hand: Proposed: {d['action_type']} “{_title(d)}” — {d.get('reason')}. "
        f"<{d.get('approve_url')}|Approve> · <{d.get('reject_url')}|Reject> (expires {d.get('expires_at')})"
    ),
    "platform_change.conflict": lambda d: (
        f":warning: Not applied to “{_title(d)}”: it was changed on its platform since the engine saw it "
        f"(now {d.get('seen_state')}); nothing was overwritten"
    ),
    "platform_change.failed": lambda d: (
        f":x: The platform refused the {d.get('kind')} change of “{_title(d)}”: {d.get('last_answer')}"
    ),
    "ad_account.error": lambda d: (
        f":rotating_light: The {d['platform']} ad account {d['name']} ({d['external_id']}) stopped "
        f"syncing: {d.get('last_error')}"
    ),
    TEST_EVENT: lambda d: str(d.get("message") or TEST_EVENT),
}


def slack_text(body: dict[str, Any]) -> str:
    """One readable line for a Slack channel."""
    event_type: EventType | str = body["type"]
    return SLACK_TEXT[event_type](body["data"])


def render(
    fmt: str, event_id: str, event_type: str, payload: dict[str, Any], secret: str, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt (signed now, so the timestamp is fresh on each)."""
    body = event_body(event_type, payload)
    if fmt == "slack":
        line = slack_text(body)
        content = {
            "text": line,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": line}}],
        }
        return json.dumps(content, ensure_ascii=False).encode(), {
            "Content-Type": "application/json"
        }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return text.encode(), {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, text),
    }
