from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from app.api.deps import AdminDep, ConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError, problem_response
from app.db import queries
from app.db.retry import in_savepoint
from app.models.common import PRINTABLE_PATTERN, KeysetCursor, Limit, decode_cursor, page_of
from app.models.cycles import (
    CyclePublic,
    CycleRun,
    CyclesPublic,
    CycleStatus,
    CycleSummary,
    CycleTrigger,
)
from app.services.cycles import run_cycle

router = APIRouter(tags=["cycles"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=PRINTABLE_PATTERN),
]


@router.post(
    "/cycles",
    status_code=201,
    response_model=CycleSummary,
    responses=problems(409, 500),
)
async def create_cycle(
    conn: ConnDep,
    principal: AdminDep,
    idempotency_key: IdempotencyKey = None,
    body: CycleRun | None = None,
) -> JSONResponse:
    """Run a cycle now (or a dry run). The cycle is recorded whatever its outcome."""
    summary = await in_savepoint(
        conn,
        lambda: run_cycle(
            conn,
            dry_run=(body or CycleRun()).dry_run,
            trigger="api",
            actor=principal.actor,
            idempotency_key=idempotency_key,
        ),
    )
    # Returned, not raised: the request's transaction must commit the skipped or failed record.
    if summary["status"] == "skipped":
        return problem_response(
            409, "another cycle is running; try again when it ends", cycle_id=summary["cycle_id"]
        )
    if summary["status"] == "failed":
        return problem_response(
            500,
            f"the cycle failed and changed nothing; see GET /cycles/{summary['cycle_id']}",
            cycle_id=summary["cycle_id"],
        )
    body_out = CycleSummary.model_validate(summary).model_dump(mode="json")
    headers = {"Location": f"/cycles/{summary['cycle_id']}"}
    if summary.get("replayed"):
        headers["Idempotency-Replayed"] = "true"
    return JSONResponse(body_out, status_code=201, headers=headers)


@router.get("/cycles", response_model=CyclesPublic)
async def list_cycles(
    conn: ConnDep,
    status: CycleStatus | None = None,
    trigger: CycleTrigger | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.CYCLE_LIST, status, trigger, after, after_id, limit + 1)
    return page_of(rows, limit, CyclePublic, key="started_at")


@router.get("/cycles/{cycle_id:uuid}", response_model=CyclePublic)
async def get_cycle(conn: ConnDep, cycle_id: uuid.UUID) -> CyclePublic:
    row = await conn.fetchrow(queries.CYCLE_GET, cycle_id)
    if row is None:
        raise ProblemError(404, f"no cycle {cycle_id}")
    return CyclePublic.model_validate(dict(row))


@router.post(
    "/cycles/{cycle_id:uuid}/release",
    status_code=201,
    response_model=CycleSummary,
    responses=problems(404, 409),
)
async def release_cycle(conn: ConnDep, principal: AdminDep, cycle_id: uuid.UUID) -> JSONResponse:
    """Lift a data-outage hold: a new cycle (trigger release) applies what the breaker held; the
    mass-pause and budget limits still apply. Once per held cycle (409 otherwise)."""
    summary = await conn.fetchval(queries.CYCLE_RELEASE, cycle_id, principal.actor)
    body = CycleSummary.model_validate(summary).model_dump(mode="json")
    return JSONResponse(
        body, status_code=201, headers={"Location": f"/cycles/{summary['cycle_id']}"}
    )
