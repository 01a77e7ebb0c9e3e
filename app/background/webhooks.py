"""The webhook sender: at least once, signed, never blocking one endpoint on another.

Deliveries are claimed from the outbox with SKIP LOCKED (sql/functions/20_events.sql), a lease each:
a sender that dies mid-attempt leaves its deliveries due again when the lease lapses. Each attempt is
one POST through the guarded fetcher (the URL vetted again, no redirects followed), with a time limit;
a 2xx answer delivers it, anything else (a timeout, a reset, 3xx, 4xx, 5xx) retries it after an
exponential backoff with full jitter, for 24 hours. Every attempt is logged with its status, latency
and the first 1 KB of the answer. What is sent is app/services/event_messages.py's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from app.background.loop import PassReport
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.core.guarded_fetch import FetchRefused, GuardedFetcher
from app.db import queries
from app.services.approvals import with_links
from app.services.event_messages import render

log = logging.getLogger("app.background.webhooks")

EXCERPT_BYTES = 1024


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempts − 1))]."""
    return random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0)))  # noqa: S311 (jitter)


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
    ) -> PassReport:
        async with pool.acquire() as conn:
            # An attempt ends within the timeout; past it (and a margin) the sender is gone.
            lease = int(self.settings.webhook_timeout_seconds) + 5
            claimed = await conn.fetch(queries.WEBHOOK_CLAIM, limit, lease)
        report = PassReport(claimed=len(claimed))
        gate = asyncio.Semaphore(concurrency)

        async def one(row: asyncpg.Record) -> None:
            async with gate:
                report.count(await self._attempt(pool, row))

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
            payload = row["payload"]
            if row["event_type"] == "action.proposed":
                payload = with_links(self.settings.jwt_key(), self.settings.base_url, payload)
            content, headers = render(
                row["format"],
                row["event_id"],
                row["event_type"],
                payload,
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
