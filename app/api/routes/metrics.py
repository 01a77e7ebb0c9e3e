from __future__ import annotations

from fastapi import APIRouter
from pydantic import TypeAdapter

from app.api.deps import ConnDep
from app.db import queries
from app.models.metrics import MetricRowIn, MetricsBatchIn, MetricsBatchResult

router = APIRouter(tags=["metrics"])

_rows_json = TypeAdapter(list[MetricRowIn])


@router.post("/metrics", response_model=MetricsBatchResult)
async def ingest_metrics(conn: ConnDep, body: MetricsBatchIn) -> MetricsBatchResult:
    """Upsert up to 10,000 metric rows in one set-based statement; all or nothing."""
    payload = _rows_json.dump_json(body.rows, exclude_none=False).decode()
    result = await conn.fetchval(queries.METRICS_INGEST, payload)
    return MetricsBatchResult.model_validate(result)
