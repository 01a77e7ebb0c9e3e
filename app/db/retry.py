"""Transient conflicts between concurrent writers: a deadlock or a serialization failure is retried
once inside the service; if it happens again, the caller is answered 503 with Retry-After (the
database was busy, nothing was changed), never 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")

# deadlock_detected, serialization_failure, lock_not_available (a lock_timeout ran out)
TRANSIENT_SQLSTATES = ("40P01", "40001", "55P03")


class DatabaseBusy(Exception):
    """A conflict with concurrent work that one retry did not clear; nothing was changed."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.PostgresError) and (
        getattr(exc, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` (a transaction of its own each time); once more after a transient conflict."""
    try:
        return await work()
    except asyncpg.PostgresError as exc:
        if not is_transient(exc):
            raise
    try:
        return await work()
    except asyncpg.PostgresError as exc:
        if is_transient(exc):
            raise DatabaseBusy() from exc
        raise


async def in_savepoint(conn: asyncpg.Connection, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` inside the caller's transaction, in a savepoint: a transient conflict undoes only
    the savepoint (its locks go with it) and ``work`` runs once more."""

    async def attempt() -> T:
        async with conn.transaction():
            return await work()

    return await retrying(attempt)
