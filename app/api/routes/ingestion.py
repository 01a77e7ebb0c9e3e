"""POST /metrics: campaign metric rows in (GET /metrics, the Prometheus page, is app/api/routes/prometheus.py)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import TypeAdapter

from app.api.deps import ConnDep
from app.db import queries
from app.db.retry import in_savepoint
from app.models.metrics import MetricRowIn, MetricsBatchIn, MetricsBatchResult

router = APIRouter(tags=["metrics"])

_rows_json = TypeAdapter(list[MetricRowIn])


@router.post("/metrics", response_model=MetricsBatchResult)
async def ingest_metrics(conn: ConnDep, body: MetricsBatchIn) -> MetricsBatchResult:
    """Upsert up to 10,000 metric rows in one set-based statement; all or nothing. A conflict with
    concurrent work is retried once, then answered 503 with Retry-After."""
    payload = _rows_json.dump_json(body.rows, exclude_none=False).decode()
    result = await in_savepoint(conn, lambda: conn.fetchval(queries.METRICS_INGEST, payload))
    return MetricsBatchResult.model_validate(result)
