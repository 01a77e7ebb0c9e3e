from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic_core import PydanticCustomError

from app.api.deps import AccountConnDep, AdminDep, ConnDep
from app.api.openapi import problems
from app.core.crypto import TokenCipher
from app.core.errors import ProblemError
from app.db import queries
from app.db.pool import claims_transaction
from app.models.ad_accounts import (
    AccountMaturityPublic,
    AdAccountCreate,
    AdAccountPublic,
    AdAccountsPublic,
    AdAccountStatus,
    AdAccountSyncPublic,
    AdAccountSyncsPublic,
    AdAccountUpdate,
    AdPlatform,
)
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of
from app.platforms.base import CredentialsRefused, PlatformError, Throttled, Unreachable
from app.services.sync import encrypt_credentials, read_account_info

router = APIRouter(prefix="/ad-accounts", tags=["ad accounts"])


def _cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.cipher
    return cipher


def _refused(exc: PlatformError) -> ProblemError:
    if isinstance(exc, Throttled):
        return ProblemError(
            503,
            f"the platform asks to wait before connecting: {exc}",
            headers={"Retry-After": str(int(exc.retry_after) + 1)},
        )
    if isinstance(exc, Unreachable):
        return ProblemError(
            503, f"the platform did not answer ({exc}); try again", headers={"Retry-After": "30"}
        )
    words = str(exc)
    return ProblemError(
        422, f"credentials: {words}", errors=[{"field": "credentials", "message": words}]
    )


async def _check_with_platform(
    request: Request, platform: str, external_id: str, credentials: dict[str, str]
) -> tuple[str, str, str]:
    """The account's name, currency and time zone as its platform has them (the credentials work)."""

    try:
        info = await read_account_info(
            platform, external_id, credentials, request.app.state.settings, max_wait=0
        )
    except (CredentialsRefused, PlatformError) as exc:
        raise _refused(exc) from None
    return info.name, info.currency, info.timezone


@router.post("", status_code=201, response_model=AdAccountPublic, responses=problems(409, 503))
async def connect_ad_account(
    request: Request, principal: AdminDep, body: AdAccountCreate
) -> JSONResponse:
    """Connect a Meta or Google Ads account: its name, currency and time zone are read from the
    platform (which checks the credentials), its credentials encrypted, and its first sync (the
    backfill) starts at once. A manual account is made from the name, currency and timezone given."""
    blob: bytes | None = None
    last4: str | None = None
    name, currency, timezone = body.name, body.currency, body.timezone
    if body.platform != "manual":
        assert body.credentials is not None
        plain = body.credentials.plain()
        platform_name, currency, timezone = await _check_with_platform(
            request, body.platform, body.external_id, plain
        )
        name = name or platform_name or body.external_id
        blob, last4 = encrypt_credentials(_cipher(request), plain)
    settings = request.app.state.settings
    async with claims_transaction(
        request.app.state.pool, principal.claims, settings.db_acquire_timeout_seconds
    ) as conn:
        row = await conn.fetchrow(
            queries.AD_ACCOUNT_INSERT,
            body.platform,
            body.external_id,
            name,
            currency,
            timezone,
            "autopilot" if body.platform == "manual" else (body.mode or "observe"),
            blob,
            last4,
            False,
            principal.actor,
        )
        if body.platform != "manual":
            await conn.fetchrow(
                queries.AD_ACCOUNT_SYNC_REQUEST, row["id"], "connect", principal.actor
            )
    account = AdAccountPublic.model_validate(dict(row))
    return JSONResponse(
        account.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/ad-accounts/{account.id}"},
    )


@router.get("", response_model=AdAccountsPublic)
async def list_ad_accounts(
    conn: AccountConnDep,
    platform: AdPlatform | None = None,
    status: AdAccountStatus | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.AD_ACCOUNT_LIST, platform, status, after, after_id, limit + 1)
    return page_of(rows, limit, AdAccountPublic)


async def _get(conn: AccountConnDep, ad_account_id: uuid.UUID) -> AdAccountPublic:
    row = await conn.fetchrow(queries.AD_ACCOUNT_GET, ad_account_id)
    if row is None:
        raise ProblemError(404, f"no ad account {ad_account_id}")
    return AdAccountPublic.model_validate(dict(row))


@router.get("/{ad_account_id:uuid}", response_model=AdAccountPublic)
async def get_ad_account(conn: AccountConnDep, ad_account_id: uuid.UUID) -> AdAccountPublic:
    return await _get(conn, ad_account_id)


@router.patch("/{ad_account_id:uuid}", response_model=AdAccountPublic, responses=problems(503))
async def update_ad_account(
    request: Request, principal: AdminDep, ad_account_id: uuid.UUID, body: AdAccountUpdate
) -> AdAccountPublic:
    """Rename, change the mode, revoke or reactivate; new credentials are checked with the platform
    first, and revive an account in error (it syncs at once)."""
    settings = request.app.state.settings
    pool = request.app.state.pool
    fields = body.model_fields_set
    blob: bytes | None = None
    last4: str | None = None
    if "credentials" in fields:
        async with claims_transaction(
            pool, principal.claims, settings.db_acquire_timeout_seconds
        ) as conn:
            found = await conn.fetchrow(queries.AD_ACCOUNT_CREDENTIALS, ad_account_id)
        if found is None:
            raise ProblemError(404, f"no ad account {ad_account_id}")
        if found["platform"] == "manual" or found["is_sandbox"]:
            raise ProblemError(
                422,
                "credentials: this account has no platform credentials",
                errors=[
                    {"field": "credentials", "message": "this account has no platform credentials"}
                ],
            )
        credentials = body.credentials
        assert not isinstance(credentials, type(None))
        try:
            credentials.needed(found["platform"])  # type: ignore[union-attr]
        except PydanticCustomError as exc:
            field = str((exc.context or {}).get("path", "credentials"))
            raise ProblemError(
                422,
                f"{field}: {exc.message()}",
                errors=[{"field": field, "message": exc.message()}],
            ) from None
        plain = credentials.plain()  # type: ignore[union-attr]
        await _check_with_platform(request, found["platform"], found["external_id"], plain)
        blob, last4 = encrypt_credentials(_cipher(request), plain)
    changes: dict[str, Any] = body.model_dump(mode="json", include=fields - {"credentials"})
    async with claims_transaction(
        pool, principal.claims, settings.db_acquire_timeout_seconds
    ) as conn:
        row = await conn.fetchrow(queries.AD_ACCOUNT_PATCH, ad_account_id, changes, blob, last4)
        if row is None:
            raise ProblemError(404, f"no ad account {ad_account_id}")
        if (
            row["platform"] != "manual"
            and row["next_sync_at"] is not None
            and (blob is not None or changes.get("status") == "active")
        ):
            await conn.execute(queries.SYNC_WAKE, ad_account_id)
    return AdAccountPublic.model_validate(dict(row))


@router.post(
    "/{ad_account_id:uuid}/sync",
    status_code=202,
    response_model=AdAccountSyncPublic,
    responses=problems(404, 409),
)
async def sync_ad_account(
    conn: ConnDep, principal: AdminDep, ad_account_id: uuid.UUID
) -> JSONResponse:
    """Sync the account now: the sync asked for (or the one already running) comes back at once, and a
    worker (or the service, with the scheduler on) takes it within seconds."""
    row = await conn.fetchrow(
        queries.AD_ACCOUNT_SYNC_REQUEST, ad_account_id, "api", principal.actor
    )
    sync = AdAccountSyncPublic.model_validate(dict(row))
    return JSONResponse(
        sync.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/ad-accounts/{ad_account_id}/syncs"},
    )


@router.get("/{ad_account_id:uuid}/syncs", response_model=AdAccountSyncsPublic)
async def list_syncs(
    conn: AccountConnDep, ad_account_id: uuid.UUID, limit: Limit = 50, cursor: KeysetCursor = None
) -> dict[str, object]:
    """The account's syncs, newest first: started, finished, the days read, rows read and revised,
    requests made, seconds held back by rate limits, and the error of one that failed."""
    await _get(conn, ad_account_id)
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.AD_ACCOUNT_SYNCS, ad_account_id, after, after_id, limit + 1)
    return page_of(rows, limit, AdAccountSyncPublic, key="started_at")


@router.get(
    "/{ad_account_id:uuid}/maturity", response_model=AccountMaturityPublic, responses=problems(409)
)
async def get_maturity(conn: AccountConnDep, ad_account_id: uuid.UUID) -> AccountMaturityPublic:
    """How complete the account's recent days are: the share of a day's final conversions and revenue
    reported 0, 1, 2, … whole days after it ended, learned from what its syncs saw (``source``
    learned) or the settings' default until it has ``min_days`` days; 409 for a manual account, whose
    figures are taken as final."""
    await _get(conn, ad_account_id)
    row = await conn.fetchval(queries.AD_ACCOUNT_MATURITY, ad_account_id)
    if row is None:
        raise ProblemError(409, "a manual account's figures are taken as final: it has no curve")
    return AccountMaturityPublic.model_validate(row)
