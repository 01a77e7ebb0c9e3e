from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.core.errors import ProblemError
from app.db import queries
from app.db.pool import claims_transaction
from app.services.cycles import SERVICE_CLAIMS
from app.services.images import ImageUnavailable, fetch_image, optimize_for_instagram

router = APIRouter(tags=["media"])


@router.get("/media/campaigns/{campaign_id}.jpg", include_in_schema=False)
async def campaign_image(request: Request, campaign_id: uuid.UUID) -> Response:
    """Public, for Instagram to fetch: the campaign's image as an optimized JPEG (ids are unguessable)."""
    async with claims_transaction(request.app.state.pool, SERVICE_CLAIMS) as conn:
        image_url = await conn.fetchval(queries.CAMPAIGN_IMAGE_URL, campaign_id)
    if not image_url:
        raise ProblemError(404, f"campaign {campaign_id} has no image")
    try:
        source = await fetch_image(request.app.state.http, image_url)
        jpeg = await asyncio.to_thread(optimize_for_instagram, source)
    except ImageUnavailable as exc:
        raise ProblemError(502, str(exc)) from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=300"})
