from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.errors import RETRY_AFTER_SECONDS, problem_response
from app.db import queries
from app.db.pool import acquire

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


class Ready(BaseModel):
    status: Literal["ready"]
    revision: str


@router.get("/readyz", response_model=Ready)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """Readiness: the database answers, its schema is at the migrations' head and its functions are
    this version's."""
    head = request.app.state.migration_head
    try:
        async with acquire(
            request.app.state.pool, request.app.state.settings.db_acquire_timeout_seconds
        ) as conn:
            current = await conn.fetchval(queries.READY_REVISION)
            functions = [tuple(r) for r in await conn.fetch(queries.READY_FUNCTIONS)]
    except Exception:  # whatever the database did, readiness is a yes or a no, never a 500
        return problem_response(
            503, "database unreachable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    if current != head:
        return problem_response(
            503,
            f"database schema is at {current}, migrations head is {head}",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            revision=current,
        )
    if functions != request.app.state.function_files:
        return problem_response(
            503,
            "the database's functions differ from this version's sql/functions: migrate",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            revision=current,
        )
    return {"status": "ready", "revision": str(current)}
