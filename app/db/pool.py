"""The asyncpg pool and the per-request transaction that carries the caller's claims."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

API_ROLE = "ao_app"

# One round trip: the claims and the role are transaction-local (SET LOCAL), as PostgREST does.
_ENTER_REQUEST = "SELECT set_config('request.jwt.claims', $1, true), set_config('role', $2, true)"

# SQLSTATEs that mean the server or the connection is gone, not that the request was wrong:
# class 08 (connection exception), 53300 too many connections, 57P01-57P03 shutdown/starting up.
UNAVAILABLE_SQLSTATES = ("53300", "57P01", "57P02", "57P03")


class DatabaseUnavailable(Exception):
    """No database connection could be had or kept for this request: answered 503."""


def is_connection_error(exc: BaseException) -> bool:
    """True for an error that says the database cannot be reached, not that a statement failed."""
    if isinstance(exc, DatabaseUnavailable | asyncpg.InterfaceError | OSError | TimeoutError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
    return isinstance(exc, asyncpg.exceptions.InternalClientError)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _end_open_transaction(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's RESET ALL round trip.

    Request code only ever changes transaction-local state (SET LOCAL, xact advisory locks), which
    ends with its transaction; so the one thing to undo is a transaction left open by an error.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    database_url: str, min_size: int = 1, max_size: int = 10, connect_timeout: float = 5.0
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn=database_url,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        init=_init_connection,
        reset=_end_open_transaction,
        server_settings={"application_name": "autonomous-ops"},
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def acquire(pool: asyncpg.Pool, acquire_timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection within ``acquire_timeout`` seconds, else DatabaseUnavailable.

    A connection that died while idle (the server restarted) is replaced by a new one on the next
    acquire, so the pool heals by itself once the database answers again.
    """
    try:
        conn = await pool.acquire(timeout=acquire_timeout)
    except Exception as exc:
        if is_connection_error(exc) or isinstance(exc, asyncpg.PostgresError):
            # Any error while connecting (the database refusing connections included) is an outage.
            raise DatabaseUnavailable() from exc
        raise
    try:
        yield conn
    except BaseException as exc:
        if is_connection_error(exc):
            conn.terminate()  # a connection that failed so is never handed to anyone else
        raise
    finally:
        try:
            await pool.release(conn)
        except Exception as exc:
            if not is_connection_error(exc):
                raise


@asynccontextmanager
async def claims_transaction(
    pool: asyncpg.Pool, claims: dict[str, Any], acquire_timeout: float = 5.0
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction running as the restricted API role with ``request.jwt.claims`` set."""
    async with acquire(pool, acquire_timeout) as conn, conn.transaction():
        await conn.execute(_ENTER_REQUEST, json.dumps(claims), API_ROLE)
        yield conn
