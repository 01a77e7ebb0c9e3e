"""GET /metrics: the service's own request metrics for Prometheus (not the campaigns' metrics, which
POST /metrics ingests: app/api/routes/ingestion.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(request: Request) -> Response:
    """Prometheus text format: request counts and latencies by method and route template."""
    return Response(
        generate_latest(request.app.state.request_metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
    )
