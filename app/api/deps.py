"""Dependencies: the caller (from the bearer token) and its database transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
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


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """401 without a valid token, 403 for a valid one that is neither admin nor service.

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
    if not principal.is_privileged:
        raise ProblemError(403, "this API is for admins and service callers only")
    return principal


AdminDep = Annotated[Principal, Depends(get_principal)]


async def get_conn(request: Request, principal: AdminDep) -> AsyncIterator[asyncpg.Connection]:
    """The request's transaction, under the restricted role with the caller's claims.

    It commits when the route returns and rolls back when it raises, before the response is sent.
    """
    pool: asyncpg.Pool = request.app.state.pool
    timeout = request.app.state.settings.db_acquire_timeout_seconds
    async with claims_transaction(pool, principal.claims, timeout) as conn:
        yield conn


ConnDep = Annotated[asyncpg.Connection, Depends(get_conn, scope="function")]


async def time_limit(conn: asyncpg.Connection, request: Request) -> None:
    """Previews and analytics plan the whole portfolio: their statements get QUERY_TIMEOUT_SECONDS,
    past which they are stopped (they run without JIT, so the limit takes effect) and answered 503."""
    seconds = request.app.state.settings.query_timeout_seconds
    await conn.execute(queries.STATEMENT_TIMEOUT, f"{int(seconds * 1000)}ms")
