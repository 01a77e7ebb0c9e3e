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


async def create_pool(database_url: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn=database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_end_open_transaction,
        server_settings={"application_name": "autonomous-ops"},
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def claims_transaction(
    pool: asyncpg.Pool, claims: dict[str, Any]
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction running as the restricted API role with ``request.jwt.claims`` set."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_ENTER_REQUEST, json.dumps(claims), API_ROLE)
        yield conn
