"""The platform change sender: claims due changes from the outbox (sql/functions/25_platform_changes.sql,
SKIP LOCKED and a lease), applies each on its platform, reading first (app/services/apply.py), and
records what it found. Woken within a second by the NOTIFY of a change written (a cycle in autopilot, an
approval, a rollback), and every few seconds for the retries that come due by time; each pass also
expires the proposals no one decided on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.core.claims import SENDER
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db import queries
from app.db.pool import claims_transaction
from app.platforms import open_client
from app.platforms.base import Pace, PlatformClient
from app.services.apply import Outcome, Sender
from app.services.sync import worker_name

log = logging.getLogger("app.background.changes")

CHANGE_POLL_SECONDS = 5.0
CHANGE_BATCH = 20
# A sender waits out a short rate limit; a longer one puts the change back to be tried when it allows.
SENDER_MAX_WAIT_SECONDS = 60.0


def change_pass(pool: asyncpg.Pool, settings: Settings, cipher: TokenCipher) -> Any:
    sender = Sender(pool, worker_name(), settings.change_lease_seconds)

    async def one_pass() -> PassReport:
        return await send_due(pool, settings, cipher, sender)

    return one_pass


async def send_due(
    pool: asyncpg.Pool,
    settings: Settings,
    cipher: TokenCipher,
    sender: Sender,
    limit: int = CHANGE_BATCH,
) -> PassReport:
    async with claims_transaction(pool, SENDER) as conn:
        await conn.fetchval(queries.PROPOSALS_EXPIRE)
        claimed = await conn.fetch(
            queries.PLATFORM_CHANGES_CLAIM, sender.worker, limit, settings.change_lease_seconds
        )
    report = PassReport(claimed=len(claimed))
    by_account: dict[Any, list[asyncpg.Record]] = {}
    for change in claimed:
        by_account.setdefault(change["account_id"], []).append(change)
    for changes in by_account.values():
        async with account_client(settings, cipher, changes[0]) as client:
            for change in changes:
                done = (
                    await sender.apply(change, client)
                    if client is not None
                    else Outcome(
                        "retry",
                        answer="the account's credentials do not decrypt",
                        retry_seconds=15 * 60,
                    )
                )
                recorded = await sender.finish(change, done)
                report.count(done.outcome if recorded is not None else "taken over")
                log.info(
                    "platform change",
                    extra={
                        "change_id": str(change["change_id"]),
                        "outcome": done.outcome,
                        "answer": done.answer,
                    },
                )
    return report


@asynccontextmanager
async def account_client(
    settings: Settings, cipher: TokenCipher, change: asyncpg.Record
) -> AsyncIterator[PlatformClient | None]:
    """One client for the changes of one account in a pass (one token, one connection); None when
    its credentials do not decrypt."""
    blob = change["credentials_encrypted"]
    try:
        credentials: dict[str, str] = json.loads(cipher.decrypt(blob)) if blob is not None else {}
    except ValueError:
        yield None
        return
    async with open_client(
        platform=change["platform"],
        external_id=change["account_external_id"],
        currency=change["currency"],
        is_sandbox=change["is_sandbox"],
        credentials=credentials,
        settings=settings,
        pace=Pace(asyncio.sleep, max_wait=SENDER_MAX_WAIT_SECONDS),
    ) as client:
        yield client
