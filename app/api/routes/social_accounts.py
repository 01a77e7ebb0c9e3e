from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.crypto import TokenCipher, last4
from app.core.errors import ProblemError
from app.db import queries
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of
from app.models.social import (
    AccountStatus,
    PlatformIn,
    SocialAccountCreate,
    SocialAccountPublic,
    SocialAccountsPublic,
    SocialAccountUpdate,
)

router = APIRouter(prefix="/social-accounts", tags=["social accounts"])


def _cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.cipher
    return cipher


@router.post("", status_code=201, response_model=SocialAccountPublic, responses=problems(409))
async def connect_account(
    conn: ConnDep, request: Request, body: SocialAccountCreate
) -> JSONResponse:
    """Connect an account; its tokens are encrypted before they reach the database."""
    cipher = _cipher(request)
    access = body.access_token.get_secret_value()
    refresh = body.refresh_token.get_secret_value() if body.refresh_token else None
    row = await conn.fetchrow(
        queries.SOCIAL_ACCOUNT_INSERT,
        body.platform,
        body.account_id,
        body.display_name,
        cipher.encrypt(access),
        cipher.encrypt(refresh) if refresh else None,
        last4(access),
        body.token_expires_at,
    )
    account = SocialAccountPublic.model_validate(dict(row))
    return JSONResponse(
        account.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/social-accounts/{account.id}"},
    )


@router.get("", response_model=SocialAccountsPublic)
async def list_accounts(
    conn: ConnDep,
    platform: PlatformIn | None = None,
    status: AccountStatus | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.SOCIAL_ACCOUNT_LIST, platform, status, after, after_id, limit + 1
    )
    return page_of(rows, limit, SocialAccountPublic)


@router.patch("/{social_account_id:uuid}", response_model=SocialAccountPublic)
async def update_account(
    conn: ConnDep, request: Request, social_account_id: uuid.UUID, body: SocialAccountUpdate
) -> SocialAccountPublic:
    """Rotate tokens (an expired account becomes active again), rename, or deactivate."""
    cipher = _cipher(request)
    fields = body.model_fields_set
    changes = body.model_dump(mode="json", include=fields - {"access_token", "refresh_token"})
    if "refresh_token" in fields:
        changes["refresh_token"] = True  # a marker: the value travels encrypted as $4
    access = (
        body.access_token.get_secret_value() if isinstance(body.access_token, SecretStr) else None
    )
    refresh = (
        body.refresh_token.get_secret_value() if isinstance(body.refresh_token, SecretStr) else None
    )
    row = await conn.fetchrow(
        queries.SOCIAL_ACCOUNT_PATCH,
        social_account_id,
        changes,
        cipher.encrypt(access) if access else None,
        cipher.encrypt(refresh) if refresh else None,
        last4(access) if access else None,
    )
    if row is None:
        raise ProblemError(404, f"no social account {social_account_id}")
    return SocialAccountPublic.model_validate(dict(row))
