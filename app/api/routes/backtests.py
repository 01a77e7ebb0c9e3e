"""Backtests: the rules replayed over the metrics history, queued and run in the background."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.models.backtests import BacktestCreate, BacktestPublic, BacktestsPublic, BacktestStatus
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of

router = APIRouter(tags=["backtests"])


def _rules_json(body: BacktestCreate) -> str:
    if isinstance(body.rules, str):
        return json.dumps(body.rules)
    return json.dumps(
        [
            str(r) if isinstance(r, uuid.UUID) else r.model_dump(mode="json", exclude_none=True)
            for r in body.rules
        ]
    )


@router.post("/backtests", status_code=202, response_model=BacktestPublic, responses=problems(422))
async def create_backtest(conn: ConnDep, body: BacktestCreate) -> JSONResponse:
    """Queue a backtest; follow it at its Location (status, progress, then the result). Backtests run
    one at a time, in order: a second one waits in the queue."""
    backtest_id = await conn.fetchval(
        queries.BACKTEST_CREATE,
        body.from_,
        body.to,
        body.step,
        _rules_json(body),
        json.dumps(body.settings),
    )
    created = await _get(conn, backtest_id)
    return JSONResponse(
        created.model_dump(mode="json", by_alias=True),
        status_code=202,
        headers={"Location": f"/backtests/{backtest_id}"},
    )


@router.get("/backtests", response_model=BacktestsPublic)
async def list_backtests(
    conn: ConnDep,
    status: BacktestStatus | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, Any]:
    """Backtests, newest first, each result cut to its totals."""
    after, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.BACKTEST_LIST, status, after, after_id, limit + 1)
    return page_of(rows, limit, BacktestPublic)


@router.get("/backtests/{backtest_id:uuid}", response_model=BacktestPublic)
async def get_backtest(conn: ConnDep, backtest_id: uuid.UUID) -> BacktestPublic:
    return await _get(conn, backtest_id)


@router.post(
    "/backtests/{backtest_id:uuid}/cancel",
    response_model=BacktestPublic,
    responses=problems(404, 409),
)
async def cancel_backtest(conn: ConnDep, backtest_id: uuid.UUID) -> BacktestPublic:
    """Cancel a queued or running backtest (409 for one that has ended): a queued one never runs, a
    running one stops at its next step; neither is ever run again."""
    await conn.fetchval(queries.BACKTEST_CANCEL, backtest_id)
    return await _get(conn, backtest_id)


async def _get(conn: ConnDep, backtest_id: uuid.UUID) -> BacktestPublic:
    row = await conn.fetchrow(queries.BACKTEST_GET, backtest_id)
    if row is None:
        raise ProblemError(404, f"no backtest {backtest_id}")
    return BacktestPublic.model_validate(dict(row))
