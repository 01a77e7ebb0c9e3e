"""Webhook delivery: at least once, signed, never blocking one endpoint on another.

Deliveries are claimed from the outbox with SKIP LOCKED (sql/functions/20_events.sql), a lease each:
a sender that dies mid-attempt leaves its deliveries due again when the lease lapses. Each attempt is
one POST through the guarded fetcher (the URL vetted again, no redirects followed), with a time limit;
a 2xx answer delivers it, anything else (a timeout, a reset, 3xx, 4xx, 5xx) retries it after an
exponential backoff with full jitter, for 24 hours. Every attempt is logged with its status, latency
and the first 1 KB of the answer.

``standard`` bodies follow the Standard Webhooks specification: ``webhook-id`` (the event id, the same
on every redelivery), ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``. ``slack`` bodies are a Slack incoming-webhook message, one line per event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.core.guarded_fetch import FetchRefused, GuardedFetcher
from app.db import queries
from app.models.webhooks import event_data
from app.services.wakeups import run_on_wake

log = logging.getLogger("app.webhooks")

EXCERPT_BYTES = 1024
POLL_SECONDS = 1.0


@dataclass
class DeliveryReport:
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempts − 1))]."""
    return random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0)))  # noqa: S311 (jitter)


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


def _money(value: Any) -> str:
    try:
        return f"${float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def _ratio(value: Any) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return "?"


def slack_text(body: dict[str, Any]) -> str:
    """One readable line for a Slack channel."""
    kind, d = body["type"], body["data"]
    title = d.get("campaign_title") or d.get("campaign_id") or ""
    if kind == "action.executed":
        if d["action_type"] == "pause":
            return f":pause_button: Paused “{title}”: {d['reason']}"
        if d["action_type"] == "scale":
            budget = _money((d.get("new_state") or {}).get("daily_budget"))
            return f":chart_with_upwards_trend: Scaled “{title}” to {budget} a day: {d['reason']}"
        if d["action_type"] == "post":
            platforms = ", ".join((d.get("new_state") or {}).get("platforms") or [])
            return f":mega: Scheduled a post of “{title}” to {platforms or 'its platforms'}"
        return f"{d['action_type']} on “{title}”: {d['reason']}"
    if kind == "action.rolled_back":
        why = f" ({d['rollback_reason']})" if d.get("rollback_reason") else ""
        return f":leftwards_arrow_with_hook: Rolled back the {d['action_type']} of “{title}”{why}"
    if kind == "cycle.failed":
        return f":x: A {d['trigger']} cycle failed and changed nothing: {d.get('error')}"
    if kind == "cycle.held":
        limits = (d.get("summary") or {}).get("limits") or {}
        return (
            f":octagonal_sign: A {d['trigger']} cycle was held: revenue is at "
            f"{_ratio(limits.get('revenue_ratio'))} and conversions at "
            f"{_ratio(limits.get('conversions_ratio'))} of their recent daily average while spend is at "
            f"{_ratio(limits.get('spend_ratio'))}; a broken feed? Nothing was paused or scaled. "
            f"Release it with POST /cycles/{d['id']}/release once the data is right."
        )
    if kind == "cycle.limited":
        limits = (d.get("summary") or {}).get("limits") or {}
        return (
            f":shield: The limits held back {limits.get('pauses_held', 0)} pauses and "
            f"{limits.get('scales_held', 0)} scales in a {d['trigger']} cycle "
            f"({limits.get('scales_partial', 0)} scales granted in part)"
        )
    if kind == "rule.error":
        return f":warning: Rule “{d['name']}” failed and was skipped: {d['error']}"
    if kind == "opportunity.opened":
        return f":bulb: {d['severity'].capitalize()} opportunity on “{title}”: {d['description']}"
    if kind == "post.failed":
        return f":x: A {d['platform']} post of “{title}” failed: {d.get('last_error')}"
    if kind == "post.unknown":
        return (
            f":grey_question: A {d['platform']} post of “{title}” may or may not have gone out; "
            f"check {d['platform']} before posting it again"
        )
    if kind == "social_account.expired":
        return (
            f":key: The {d['platform']} account {d['account_id']} needs reconnecting: "
            "the platform refused its token"
        )
    return str(d.get("message") or kind)


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


class WebhookSender:
    def __init__(self, settings: Settings, cipher: TokenCipher) -> None:
        self.settings = settings
        self.cipher = cipher
        self.fetcher = GuardedFetcher(
            allow_private=settings.media_fetch_allow_private,
            timeout=settings.webhook_timeout_seconds,
            max_bytes=1024 * 1024,
            max_redirects=0,
            user_agent="autonomous-ops-webhooks",
        )

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def deliver_once(
        self, pool: asyncpg.Pool, limit: int = 100, concurrency: int = 32
    ) -> DeliveryReport:
        async with pool.acquire() as conn:
            # An attempt ends within the timeout; past it (and a margin) the sender is gone.
            lease = int(self.settings.webhook_timeout_seconds) + 5
            claimed = await conn.fetch(queries.WEBHOOK_CLAIM, limit, lease)
        report = DeliveryReport(claimed=len(claimed))
        gate = asyncio.Semaphore(concurrency)

        async def one(row: asyncpg.Record) -> None:
            async with gate:
                outcome = await self._attempt(pool, row)
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1

        await asyncio.gather(*(one(row) for row in claimed))
        if claimed:
            log.info("webhooks sent", extra={"claimed": report.claimed, **report.outcomes})
        return report

    async def _attempt(self, pool: asyncpg.Pool, row: asyncpg.Record) -> str:
        status_code: int | None = None
        excerpt: str | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            secret = self.cipher.decrypt(row["secret_encrypted"])
            content, headers = render(
                row["format"],
                row["event_id"],
                row["event_type"],
                row["payload"],
                secret,
                datetime.now(UTC),
            )
            answer = await self.fetcher.fetch(
                row["url"],
                method="POST",
                content=content,
                headers=headers,
                follow_redirects=False,
                what="the webhook URL",
            )
            status_code = answer.status_code
            excerpt = answer.content[:EXCERPT_BYTES].decode("utf-8", errors="replace")
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except FetchRefused as exc:
            error = str(exc)
        except ValueError as exc:  # a secret that cannot be decrypted: no attempt can succeed
            error = str(exc)
        latency_ms = int((time.perf_counter() - started) * 1000)
        delivered = error is None
        retry_at = None
        if not delivered:
            delay = retry_delay(
                row["attempt"],
                self.settings.webhook_retry_base_seconds,
                self.settings.webhook_retry_cap_seconds,
            )
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        async with pool.acquire() as conn:
            status = await conn.fetchval(
                queries.WEBHOOK_RECORD,
                row["delivery_id"],
                row["attempt"],
                status_code,
                latency_ms,
                excerpt,
                error,
                delivered,
                retry_at,
            )
        if not delivered:
            log.info(
                "webhook attempt failed",
                extra={
                    "delivery_id": str(row["delivery_id"]),
                    "event_id": row["event_id"],
                    "attempt": row["attempt"],
                    "status_code": status_code,
                    "error": error,
                    "now": status,
                },
            )
        return status or "stale"


async def run_webhook_sender(
    pool: asyncpg.Pool, sender: WebhookSender, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    async def deliver_due() -> None:
        while not stop.is_set() and (await sender.deliver_once(pool)).claimed:
            pass

    # Retries come due by time, not by notification: the short poll picks them up.
    await run_on_wake(deliver_due, wake, stop, POLL_SECONDS, log, "webhook pass failed")
