"""The post dispatcher: claim the social posts that are due, publish each once, record every outcome
at once (sql/functions/18_dispatch.sql holds the states that make "never twice" hold).

A post is one campaign schedule on one platform (``social_posts``). The claim (pending → sending,
attempts + 1) is committed before anything is sent; each id the platform returns is stored the moment
it is returned; an answer that proves nothing was posted retries it after a backoff with full jitter;
an outcome that cannot be known makes it ``unknown`` for a person to check, never resent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db import queries
from app.services.publishers.base import (
    OutcomeUnknown,
    Publisher,
    PublishFailed,
    RetryLater,
    TokenExpired,
)
from app.services.publishers.live import LivePublisher
from app.services.publishers.sandbox import SandboxPublisher

log = logging.getLogger("app.background.posts")

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


def build_publisher(settings: Settings) -> Publisher:
    if settings.social_publisher == "sandbox":
        return SandboxPublisher(settings.data_dir)
    return LivePublisher(settings.facebook_graph_url, settings.x_api_url, settings.base_url)


def retry_time(attempts: int, not_before: datetime | None, now: datetime | None = None) -> datetime:
    """Exponential backoff with full jitter, never before the time the platform asked for."""
    now = now or datetime.now(UTC)
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    at = now + timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 (jitter, not crypto)
    return max(at, not_before) if not_before else at


async def dispatch_once(
    pool: asyncpg.Pool,
    publisher: Publisher,
    cipher: TokenCipher,
    limit: int = 50,
    concurrency: int = 16,
) -> PassReport:
    """One pass: claim up to ``limit`` due posts and publish them, ``concurrency`` at a time."""
    # The dispatcher is a trusted worker of the service, like the CLI cycle: each of its statements is
    # one autocommitted call of a SQL function, so every claim, accepted id and result is durable the
    # moment it returns, at one round trip each.
    async with pool.acquire() as conn:
        claimed = await conn.fetch(queries.POSTS_CLAIM, limit)
    report = PassReport(claimed=len(claimed))
    gate = asyncio.Semaphore(concurrency)

    async def one(row: asyncpg.Record) -> None:
        async with gate:
            report.count(await _publish(pool, publisher, cipher, row))

    await asyncio.gather(*(one(row) for row in claimed))
    if claimed:
        log.info("dispatched", extra={"claimed": report.claimed, **report.outcomes})
    return report


async def _publish(pool: asyncpg.Pool, publisher: Publisher, cipher: TokenCipher, row: Any) -> str:
    post_id = row["post_id"]

    async def accepted(external_id: str) -> None:
        async with pool.acquire() as conn:
            await conn.execute(queries.POST_ACCEPTED, post_id, external_id)

    status, error, retry_at, expired = "posted", None, None, False
    try:
        token = cipher.decrypt(row["access_token_encrypted"])
        await publisher.publish(
            row["platform"],
            row["account_id"],
            token,
            row["content"],
            accepted,
            list(row["external_post_ids"]),
        )
    except RetryLater as exc:
        if row["attempts"] >= MAX_ATTEMPTS:
            status, error = "failed", f"gave up after {row['attempts']} attempts: {exc.reason}"
        else:
            status, error = "pending", exc.reason
            retry_at = retry_time(row["attempts"], exc.not_before)
    except TokenExpired as exc:
        status, error, expired = "failed", f"the account's token is expired or revoked: {exc}", True
    except PublishFailed as exc:
        status, error = "failed", str(exc)
    except OutcomeUnknown as exc:
        status, error = "unknown", f"outcome unknown, not resent: {exc}"
    except ValueError as exc:  # the token could not be decrypted: nothing was sent
        status, error = "failed", str(exc)
    except Exception:  # anything else may have happened after sending: a person checks
        log.exception("publisher error", extra={"post_id": str(post_id)})
        status, error = "unknown", "unexpected publisher error; outcome unknown, not resent"
    async with pool.acquire() as conn:
        await conn.execute(queries.POST_FINISH, post_id, status, error, retry_at, expired)
    return status
