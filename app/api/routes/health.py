from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.core.errors import problem_response
from app.db import queries

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """Readiness: the database answers and its schema is at the migrations' head."""
    head = request.app.state.migration_head
    try:
        async with request.app.state.pool.acquire() as conn:
            current = await conn.fetchval(queries.READY_REVISION)
    except (asyncpg.PostgresError, OSError, TimeoutError):
        return problem_response(503, "database unreachable")
    if current != head:
        return problem_response(
            503, f"database schema is at {current}, migrations head is {head}", revision=current
        )
    return {"status": "ready", "revision": str(current)}


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.request_metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
    )
