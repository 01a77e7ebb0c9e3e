from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
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
    KeysetCursor,
    Limit,
    OffsetCursor,
    decode_cursor,
    decode_offset,
    offset_page,
    page_of,
)

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


async def _fetch(conn: ConnDep, campaign_id: uuid.UUID) -> CampaignPublic:
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
    )
    campaign = await _fetch(conn, new_id)
    return JSONResponse(
        campaign.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/campaigns/{new_id}"},
    )


@router.get("", response_model=CampaignsPublic)
async def list_campaigns(
    conn: ConnDep,
    status: CampaignStatus | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, object]:
    after_created, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.CAMPAIGN_LIST, status, after_created, after_id, limit + 1)
    return page_of(rows, limit, CampaignPublic)


@router.get("/underperforming", response_model=UnderperformingCampaigns)
async def underperforming(
    conn: ConnDep,
    limit: Limit = 50,
    cursor: OffsetCursor = None,
) -> dict[str, object]:
    """identify_underperforming_campaigns(): what the pause rules would do, and who is losing money."""
    offset = decode_offset(cursor)
    rows = await conn.fetch(queries.UNDERPERFORMING, limit + 1, offset)
    return offset_page(rows, limit, offset, UnderperformingCampaign)


@router.get("/scaling-candidates", response_model=ScalingCandidates)
async def scaling_candidates(
    conn: ConnDep,
    limit: Limit = 50,
    cursor: OffsetCursor = None,
) -> dict[str, object]:
    """identify_scaling_candidates(): current → proposed budget, confidence, capped."""
    offset = decode_offset(cursor)
    rows = await conn.fetch(queries.SCALING_CANDIDATES, limit + 1, offset)
    return offset_page(rows, limit, offset, ScalingCandidate)


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
async def get_campaign(conn: ConnDep, campaign_id: uuid.UUID) -> CampaignPublic:
    return await _fetch(conn, campaign_id)


@router.patch("/{campaign_id:uuid}", response_model=CampaignPublic)
async def update_campaign(
    conn: ConnDep, campaign_id: uuid.UUID, body: CampaignUpdate
) -> CampaignPublic:
    changes = body.model_dump(mode="json", exclude_unset=True)
    updated = await conn.fetchval(queries.CAMPAIGN_PATCH, campaign_id, changes)
    if updated is None:
        raise ProblemError(404, f"no campaign {campaign_id}")
    return await _fetch(conn, campaign_id)
