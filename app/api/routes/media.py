from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.core.claims import MEDIA
from app.core.errors import ProblemError
from app.db import queries
from app.db.pool import claims_transaction
from app.services.images import CampaignImages, ImageUnavailable

router = APIRouter(tags=["media"])


@router.get("/media/campaigns/{campaign_id:uuid}.jpg", include_in_schema=False)
async def campaign_image(request: Request, campaign_id: uuid.UUID) -> Response:
    """Public, for Instagram to fetch: the campaign's image as an optimized JPEG (ids are unguessable)."""
    timeout = request.app.state.settings.db_acquire_timeout_seconds
    async with claims_transaction(request.app.state.pool, MEDIA, timeout) as conn:
        image_url = await conn.fetchval(queries.CAMPAIGN_IMAGE_URL, campaign_id)
    if not image_url:
        raise ProblemError(404, f"campaign {campaign_id} has no image")
    images: CampaignImages = request.app.state.images
    try:
        jpeg = await images.jpeg(campaign_id, image_url)
    except ImageUnavailable as exc:
        raise ProblemError(502, str(exc)) from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=300"})
