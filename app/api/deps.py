"""Dependencies: the caller (from the bearer token) and its database transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.errors import ProblemError
from app.core.security import InvalidToken, Principal, decode_token
from app.db import queries
from app.db.pool import claims_transaction

_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="autonomous-ops"'}


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """401 without a valid token; 403 for a valid one that is neither admin nor service nor scoped to
    a well-formed, non-empty list of ad accounts.

    Async on purpose: a sync dependency would hop to the thread pool on every request.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ProblemError(401, "a bearer token is required", headers=_CHALLENGE)
    try:
        principal = decode_token(
            credentials.credentials,
            request.app.state.jwt_key,
            request.app.state.settings.jwt_audience,
        )
    except InvalidToken as exc:
        raise ProblemError(401, str(exc), headers=_CHALLENGE) from None
    if principal.is_privileged:
        return principal
    if principal.has_account_scope and principal.accounts is None:
        raise ProblemError(
            403,
            "app_metadata.accounts must list 1 to 200 ad account ids (UUIDs); this token's list names "
            "none or is malformed",
        )
    if principal.accounts is None:
        raise ProblemError(
            403, "this API is for admins, service callers and tokens scoped to ad accounts"
        )
    return principal


async def get_principal(caller: Annotated[Principal, Depends(get_caller)]) -> Principal:
    """An admin or a service caller: 403 for a token scoped to accounts (the route is the agency's)."""
    if not caller.is_privileged:
        raise ProblemError(
            403, "this route is for admins and service callers, not for account-scoped tokens"
        )
    return caller


AdminDep = Annotated[Principal, Depends(get_principal)]
CallerDep = Annotated[Principal, Depends(get_caller)]


@asynccontextmanager
async def _transaction(request: Request, principal: Principal) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    timeout = request.app.state.settings.db_acquire_timeout_seconds
    async with claims_transaction(pool, principal.claims, timeout) as conn:
        yield conn


async def get_conn(request: Request, principal: AdminDep) -> AsyncIterator[asyncpg.Connection]:
    """An admin's or service caller's transaction, under the restricted role with the caller's claims.

    It commits when the route returns and rolls back when it raises, before the response is sent.
    """
    async with _transaction(request, principal) as conn:
        yield conn


async def get_account_conn(
    request: Request, principal: CallerDep
) -> AsyncIterator[asyncpg.Connection]:
    """The same for the routes an account-scoped token may use too: row-level security shows it its
    accounts' rows only, so another account's object is a 404 like one that does not exist."""
    async with _transaction(request, principal) as conn:
        yield conn


ConnDep = Annotated[asyncpg.Connection, Depends(get_conn, scope="function")]
AccountConnDep = Annotated[asyncpg.Connection, Depends(get_account_conn, scope="function")]


async def time_limit(conn: asyncpg.Connection, request: Request) -> None:
    """Previews and analytics plan the whole portfolio: their statements get QUERY_TIMEOUT_SECONDS,
    past which they are stopped (they run without JIT, so the limit takes effect) and answered 503."""
    seconds = request.app.state.settings.query_timeout_seconds
    await conn.execute(queries.STATEMENT_TIMEOUT, f"{int(seconds * 1000)}ms")
