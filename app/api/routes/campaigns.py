from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.api.deps import AccountConnDep, ConnDep, time_limit
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.db.retry import in_savepoint
from app.models.actions import ActionPublic
from app.models.campaigns import (
    CampaignCreate,
    CampaignPublic,
    CampaignsPublic,
    CampaignStatus,
    CampaignUpdate,
    ScalingCandidate,
    ScalingCandidates,
    UnderperformingCampaign,
    UnderperformingCampaigns,
)
from app.models.common import (
    PLAIN_DATE,
    KeysetCursor,
    Limit,
    Moment,
    OffsetCursor,
    decode_cursor,
    decode_offset,
    offset_page,
    page_of,
)
from app.models.dashboard import Bucket, CampaignSeriesPublic, MetricPoint

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


async def _fetch(conn: AccountConnDep, campaign_id: uuid.UUID) -> CampaignPublic:
    row = await conn.fetchrow(queries.CAMPAIGN_GET, campaign_id)
    if row is None:
        raise ProblemError(404, f"no campaign {campaign_id}")
    return CampaignPublic.model_validate(dict(row))


@router.post("", status_code=201, response_model=CampaignPublic, responses=problems(409))
async def create_campaign(conn: ConnDep, body: CampaignCreate) -> JSONResponse:
    new_id = await conn.fetchval(
        queries.CAMPAIGN_INSERT,
        body.external_id,
        body.title,
        body.description,
        body.image_url,
        body.cta_label,
        body.landing_url,
        body.status,
        body.daily_budget,
        body.max_budget,
        body.started_at,
        body.account_id,
    )
    campaign = await _fetch(conn, new_id)
    return JSONResponse(
        campaign.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/campaigns/{new_id}"},
    )


@router.get("", response_model=CampaignsPublic)
async def list_campaigns(
    conn: AccountConnDep,
    status: CampaignStatus | None = None,
    account_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    after_created, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.CAMPAIGN_LIST, status, after_created, after_id, limit + 1, account_id
    )
    return page_of(rows, limit, CampaignPublic)


async def _analytics_page(
    conn: AccountConnDep,
    request: Request,
    query: str,
    limit: int,
    cursor: str | None,
    model: Any,
    account_id: uuid.UUID | None,
) -> dict[str, object]:
    """A page of an analytics list: the plan a cycle would make now, under the time limit."""
    offset = decode_offset(cursor)
    await time_limit(conn, request)
    rows = await conn.fetch(query, limit + 1, offset, account_id)
    return offset_page(rows, limit, offset, model)


@router.get("/underperforming", response_model=UnderperformingCampaigns)
async def underperforming(
    conn: AccountConnDep,
    request: Request,
    limit: Limit = 50,
    cursor: OffsetCursor = None,
    account_id: uuid.UUID | None = None,
) -> dict[str, object]:
    """identify_underperforming_campaigns(): what the pause rules would do, and who is losing money."""
    return await _analytics_page(
        conn, request, queries.UNDERPERFORMING, limit, cursor, UnderperformingCampaign, account_id
    )


@router.get("/scaling-candidates", response_model=ScalingCandidates)
async def scaling_candidates(
    conn: AccountConnDep,
    request: Request,
    limit: Limit = 50,
    cursor: OffsetCursor = None,
    account_id: uuid.UUID | None = None,
) -> dict[str, object]:
    """identify_scaling_candidates(): current → proposed budget, confidence, capped."""
    return await _analytics_page(
        conn, request, queries.SCALING_CANDIDATES, limit, cursor, ScalingCandidate, account_id
    )


@router.post(
    "/{campaign_id:uuid}/post",
    status_code=201,
    response_model=ActionPublic,
    responses=problems(409),
)
async def post_campaign(conn: ConnDep, campaign_id: uuid.UUID) -> ActionPublic:
    """Schedule a social post of this campaign now + lead time (409 within the spacing)."""
    action = await conn.fetchval(queries.CAMPAIGN_POST, campaign_id)
    return ActionPublic.model_validate(action)


@router.get("/{campaign_id:uuid}", response_model=CampaignPublic)
async def get_campaign(conn: AccountConnDep, campaign_id: uuid.UUID) -> CampaignPublic:
    return await _fetch(conn, campaign_id)


@router.patch("/{campaign_id:uuid}", response_model=CampaignPublic)
async def update_campaign(
    conn: AccountConnDep, campaign_id: uuid.UUID, body: CampaignUpdate
) -> CampaignPublic:
    changes = body.model_dump(mode="json", exclude_unset=True)
    updated = await in_savepoint(
        conn, lambda: conn.fetchval(queries.CAMPAIGN_PATCH, campaign_id, changes)
    )
    if updated is None:
        raise ProblemError(404, f"no campaign {campaign_id}")
    return await _fetch(conn, campaign_id)


def _account_midnight(raw: str | None, zone: ZoneInfo) -> datetime | None:
    """A plain date sent for a campaign's chart: its midnight in the account's time zone."""
    if raw is None or not PLAIN_DATE.fullmatch(raw):
        return None
    return datetime.combine(date.fromisoformat(raw), time(), zone).astimezone(UTC)


@router.get(
    "/{campaign_id:uuid}/metrics", response_model=CampaignSeriesPublic, responses=problems(422)
)
async def campaign_series(
    conn: AccountConnDep,
    request: Request,
    campaign_id: uuid.UUID,
    from_: Annotated[
        Moment | None,
        Query(
            alias="from",
            description="a date-time, or a date for its midnight in the account's time zone;"
            " default: 30 days before to",
        ),
    ] = None,
    to: Annotated[
        Moment | None,
        Query(
            description="a date-time, or a date for its midnight in the account's time zone; default: now"
        ),
    ] = None,
    bucket: Annotated[Bucket, Query(description="day (≤ 400 days) or hour (≤ 31 days)")] = "day",
) -> dict[str, Any]:
    """The campaign's spend, revenue, ROI, clicks, impressions and conversions per day or hour of its
    account's time zone (a point per bucket, zeros where nothing ran), for its chart."""
    account = await conn.fetchrow(queries.CAMPAIGN_ACCOUNT, campaign_id)
    if account is None:
        raise ProblemError(404, f"no campaign {campaign_id}")
    try:
        zone = ZoneInfo(account["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # a zone PostgreSQL knows and this Python does not: dates as UTC
    end = _account_midnight(request.query_params.get("to"), zone) or to or datetime.now(UTC)
    start = (
        _account_midnight(request.query_params.get("from"), zone)
        or from_
        or end - timedelta(days=30)
    )
    rows = await conn.fetch(queries.CAMPAIGN_SERIES, campaign_id, start, end, bucket)
    return {
        "campaign_id": campaign_id,
        "currency": account["currency"],
        "timezone": account["timezone"],
        "bucket": bucket,
        "from_": start,
        "to": end,
        "points": [MetricPoint.model_validate(dict(r)) for r in rows],
    }
