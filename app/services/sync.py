"""Ad accounts: connecting one (its currency and time zone read from the platform), and syncing one.

A sync claims one due account (sql/functions/24_ad_accounts.sql: SKIP LOCKED and a lease, renewed while
the read waits out rate limits), reads it through its platform's client (app/platforms/), and records
everything read in one transaction; on any failure it records only the failure, with the platform's
words, so what was stored before stays. Credentials are decrypted only here and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from app.core.claims import SYNC
from app.core.config import Settings
from app.core.crypto import TokenCipher, last4
from app.db import queries
from app.db.pool import claims_transaction
from app.platforms import open_client
from app.platforms.base import (
    AccountInfo,
    CredentialsRefused,
    InsightRow,
    Pace,
    PlatformError,
    Sleep,
    Throttled,
)

log = logging.getLogger("app.services.sync")

# A failed sync (not refused, not throttled) is tried again after this, or the interval if shorter.
RETRY_SECONDS = 15 * 60


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def secret_of(credentials: dict[str, str]) -> str:
    """The credential whose last 4 characters an account shows."""
    return credentials.get("access_token") or credentials.get("refresh_token") or ""


async def read_account_info(
    platform: str,
    external_id: str,
    credentials: dict[str, str],
    settings: Settings,
    *,
    is_sandbox: bool = False,
    max_wait: float = 0,
) -> AccountInfo:
    """The account as its platform has it (name, currency, time zone): what connecting checks. It
    waits for nothing: a platform that asks to wait (or does not answer) is the caller's to retry."""
    async with open_client(
        platform=platform,
        external_id=external_id,
        currency="USD",
        is_sandbox=is_sandbox,
        credentials=credentials,
        settings=settings,
        pace=Pace(asyncio.sleep, max_wait=max_wait),
    ) as client:
        return await client.read_account()


def _money(value: Decimal) -> str:
    return format(value, "f")


def _row(r: InsightRow) -> dict[str, Any]:
    return {
        "external_id": r.external_id,
        "day": r.day.isoformat(),
        "hour": r.hour,
        "impressions": r.impressions,
        "reach": r.reach,
        "clicks": r.clicks,
        "conversions": r.conversions,
        "spend": _money(r.spend),
        "revenue": _money(r.revenue),
    }


async def read_for_sync(
    claimed: asyncpg.Record, credentials: dict[str, str], settings: Settings, pace: Pace
) -> dict[str, Any]:
    """Everything one sync reads: the account, its campaigns, the days of the range, today's hours."""
    today: date = claimed["today"]
    days = settings.sync_backfill_days if claimed["first_sync"] else settings.sync_lookback_days
    since, until = today - timedelta(days=days), today - timedelta(days=1)
    async with open_client(
        platform=claimed["platform"],
        external_id=claimed["external_id"],
        currency=claimed["currency"],
        is_sandbox=claimed["is_sandbox"],
        credentials=credentials,
        settings=settings,
        pace=pace,
    ) as client:
        account = await client.read_account()
        campaigns = await client.campaigns()
        rows = await client.insights(since, until, today)
    return {
        "account": asdict(account),
        "date_from": since.isoformat(),
        "date_to": until.isoformat(),
        "hourly_day": today.isoformat(),
        "campaigns": [
            {
                "external_id": c.external_id,
                "title": c.title,
                "status": c.status,
                "platform_status": c.platform_status,
                "daily_budget": None if c.daily_budget is None else _money(c.daily_budget),
                "budget_shared": c.budget_shared,
            }
            for c in campaigns
        ],
        "rows": [_row(r) for r in rows],
        "requests": pace.requests,
        "throttled_seconds": round(pace.throttled_seconds, 3),
    }


async def _renew_lease(
    pool: asyncpg.Pool, sync_id: uuid.UUID, lease: int, lost: asyncio.Event
) -> None:
    while True:
        await asyncio.sleep(lease / 3)
        async with claims_transaction(pool, SYNC) as conn:
            if not await conn.fetchval(queries.SYNC_RENEW, sync_id, lease):
                lost.set()
                return


async def sync_once(
    pool: asyncpg.Pool,
    settings: Settings,
    cipher: TokenCipher,
    *,
    worker: str,
    account_id: uuid.UUID | None = None,
    sleep: Sleep = asyncio.sleep,
) -> dict[str, Any] | None:
    """Claims one due account (that one, when ``account_id`` is given) and syncs it; the sync as
    recorded, or None when none was due."""
    async with claims_transaction(pool, SYNC) as conn:
        claimed = await conn.fetchrow(
            queries.SYNC_CLAIM, worker, settings.sync_lease_seconds, account_id
        )
    if claimed is None:
        return None
    sync_id = claimed["sync_id"]
    pace = Pace(sleep)
    lost = asyncio.Event()
    renewer = asyncio.create_task(_renew_lease(pool, sync_id, settings.sync_lease_seconds, lost))
    interval = settings.sync_interval_minutes * 60
    failure: tuple[str, bool, float] | None = None
    try:
        blob = claimed["credentials_encrypted"]
        credentials: dict[str, str] = json.loads(cipher.decrypt(blob)) if blob is not None else {}
        read = await _unless_lost(read_for_sync(claimed, credentials, settings, pace), lost)
        try:
            async with claims_transaction(pool, SYNC) as conn:
                recorded: dict[str, Any] = await conn.fetchval(
                    queries.SYNC_RECORD, sync_id, json.dumps(read), interval
                )
                await conn.execute(
                    queries.MATURITY_LEARN, claimed["account_id"], settings.sync_lookback_days
                )
        except asyncpg.PostgresError as exc:
            if (getattr(exc, "sqlstate", "") or "") not in ("AO422", "AO409"):
                raise
            failure = (
                str(getattr(exc, "message", exc)).removeprefix("read: "),
                False,
                RETRY_SECONDS,
            )
        else:
            log.info(
                "ad account synced",
                extra={
                    "account_id": str(claimed["account_id"]),
                    "sync_id": str(sync_id),
                    "rows": recorded.get("rows_read"),
                    "revised": recorded.get("rows_revised"),
                    "requests": pace.requests,
                    "throttled_seconds": pace.throttled_seconds,
                },
            )
            return recorded
    except CredentialsRefused as exc:
        failure = (str(exc), True, interval)
    except Throttled as exc:
        failure = (str(exc), False, max(exc.retry_after, 60.0))
    except PlatformError as exc:
        failure = (str(exc), False, min(RETRY_SECONDS, interval))
    except ValueError as exc:  # credentials that do not decrypt
        failure = (str(exc), True, interval)
    except Exception:
        log.exception("ad account sync failed", extra={"sync_id": str(sync_id)})
        failure = (
            "the sync failed inside the service; see its log",
            False,
            min(RETRY_SECONDS, interval),
        )
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    assert failure is not None
    message, refused, retry = failure
    log.warning("ad account sync failed", extra={"sync_id": str(sync_id), "error": message})
    async with claims_transaction(pool, SYNC) as conn:
        try:
            row = await conn.fetchrow(
                queries.SYNC_FAIL,
                sync_id,
                message,
                refused,
                int(retry),
                pace.requests,
                round(pace.throttled_seconds, 3),
            )
        except asyncpg.PostgresError as exc:
            if (getattr(exc, "sqlstate", "") or "") != "AO409":
                raise
            log.warning("sync lost", extra={"error": str(exc)})
            return None  # the lease was lost: whoever holds the account now records its own sync
    return dict(row)


class LeaseLost(PlatformError):
    """The account's lease lapsed and another worker may hold it: this sync stops."""


async def _unless_lost(read: Awaitable[dict[str, Any]], lost: asyncio.Event) -> dict[str, Any]:
    task = asyncio.ensure_future(read)
    waiter = asyncio.ensure_future(lost.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise LeaseLost("the sync lost its lease on the account; another worker syncs it")
    finally:
        waiter.cancel()


async def sync_due(
    pool: asyncpg.Pool,
    settings: Settings,
    cipher: TokenCipher,
    *,
    worker: str,
    limit: int | None = None,
    sleep: Sleep = asyncio.sleep,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Syncs due accounts one after the other (``limit`` at most); how many syncs ran."""
    done = 0
    while limit is None or done < limit:
        synced = await sync_once(pool, settings, cipher, worker=worker, sleep=sleep)
        if synced is None:
            break
        done += 1
        if report is not None:
            report(synced)
    return done


def encrypt_credentials(cipher: TokenCipher, credentials: dict[str, str]) -> tuple[bytes, str]:
    return cipher.encrypt(json.dumps(credentials, sort_keys=True)), last4(secret_of(credentials))
