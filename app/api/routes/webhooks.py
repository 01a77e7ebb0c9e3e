"""Webhook endpoints: where events go. The signing secret is shown once (at creation and rotation),
kept encrypted, and never appears in a response, a log or an error afterwards."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.crypto import TokenCipher
from app.core.errors import ProblemError
from app.core.guarded_fetch import FetchRefused, GuardedFetcher
from app.db import queries
from app.models.common import KeysetCursor, Limit, decode_cursor, page_of
from app.models.webhooks import (
    DeliveryStatus,
    WebhookAttemptPublic,
    WebhookCreate,
    WebhookDeliveriesPublic,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhooksPublic,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(tags=["webhooks"])

UNREACHABLE = "must be an http(s) URL whose host resolves to a public address"


def new_secret() -> str:
    """whsec_ + base64 of 32 random bytes, the shape Standard Webhooks libraries take."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def _vet(request: Request, url: str) -> None:
    fetcher: GuardedFetcher = request.app.state.fetcher
    try:
        await fetcher.vet(url, what="url")
    except FetchRefused:
        raise ProblemError(
            422, f"url: {UNREACHABLE}", errors=[{"field": "url", "message": UNREACHABLE}]
        ) from None


def _cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.cipher
    return cipher


async def _endpoint(conn: ConnDep, webhook_id: uuid.UUID) -> WebhookPublic:
    row = await conn.fetchrow(queries.WEBHOOK_GET, webhook_id)
    if row is None:
        raise ProblemError(404, f"no webhook {webhook_id}")
    return WebhookPublic.model_validate(dict(row))


@router.post(
    "/webhooks", status_code=201, response_model=WebhookWithSecret, responses=problems(422)
)
async def create_webhook(conn: ConnDep, request: Request, body: WebhookCreate) -> JSONResponse:
    """Register an endpoint. The response carries its signing secret, the only time it is shown."""
    await _vet(request, body.url)
    secret = new_secret()
    row = await conn.fetchrow(
        queries.WEBHOOK_INSERT,
        body.url,
        body.description,
        list(dict.fromkeys(body.event_types)),
        body.format,
        body.is_active,
        _cipher(request).encrypt(secret),
    )
    created = WebhookWithSecret.model_validate({**dict(row), "secret": secret})
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/webhooks/{created.id}", "Cache-Control": "no-store"},
    )


@router.get("/webhooks", response_model=WebhooksPublic)
async def list_webhooks(
    conn: ConnDep, is_active: bool | None = None, limit: Limit = 50, cursor: KeysetCursor = None
) -> dict[str, Any]:
    """Endpoints, newest first (never their secrets)."""
    after_time, after_id = decode_cursor(cursor)
    rows = await conn.fetch(queries.WEBHOOK_LIST, is_active, after_time, after_id, limit + 1)
    return page_of(rows, limit, WebhookPublic)


@router.get("/webhooks/{webhook_id:uuid}", response_model=WebhookPublic)
async def get_webhook(conn: ConnDep, webhook_id: uuid.UUID) -> WebhookPublic:
    return await _endpoint(conn, webhook_id)


@router.patch("/webhooks/{webhook_id:uuid}", response_model=WebhookPublic, responses=problems(422))
async def update_webhook(
    conn: ConnDep, request: Request, webhook_id: uuid.UUID, body: WebhookUpdate
) -> WebhookPublic:
    """Change an endpoint (deactivate it with is_active false: nothing is ever deleted)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "url" in changes:
        await _vet(request, changes["url"])
    if "event_types" in changes:
        changes["event_types"] = list(dict.fromkeys(changes["event_types"]))
    row = await conn.fetchrow(queries.WEBHOOK_PATCH, webhook_id, changes)
    if row is None:
        raise ProblemError(404, f"no webhook {webhook_id}")
    return WebhookPublic.model_validate(dict(row))


@router.post(
    "/webhooks/{webhook_id:uuid}/rotate-secret",
    response_model=WebhookWithSecret,
    responses=problems(404),
)
async def rotate_webhook_secret(
    conn: ConnDep, request: Request, webhook_id: uuid.UUID
) -> JSONResponse:
    """A new signing secret, shown once; deliveries from now on are signed with it."""
    secret = new_secret()
    row = await conn.fetchrow(queries.WEBHOOK_ROTATE, webhook_id, _cipher(request).encrypt(secret))
    if row is None:
        raise ProblemError(404, f"no webhook {webhook_id}")
    rotated = WebhookWithSecret.model_validate({**dict(row), "secret": secret})
    return JSONResponse(rotated.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post(
    "/webhooks/{webhook_id:uuid}/test",
    status_code=202,
    response_model=WebhookDeliveryPublic,
    responses=problems(404),
)
async def test_webhook(conn: ConnDep, webhook_id: uuid.UUID) -> WebhookDeliveryPublic:
    """Queue a webhook.test event for this endpoint; follow it in its deliveries."""
    delivery_id = await conn.fetchval(queries.WEBHOOK_TEST, webhook_id)
    return await _delivery(conn, delivery_id)


@router.get("/webhooks/{webhook_id:uuid}/deliveries", response_model=WebhookDeliveriesPublic)
async def list_webhook_deliveries(
    conn: ConnDep,
    webhook_id: uuid.UUID,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    cursor: KeysetCursor = None,
) -> dict[str, Any]:
    """The endpoint's deliveries, newest first, each with its attempts (status code, latency, the
    first 1 KB of the answer)."""
    await _endpoint(conn, webhook_id)
    after_time, after_id = decode_cursor(cursor)
    rows = await conn.fetch(
        queries.WEBHOOK_DELIVERIES, webhook_id, status, after_time, after_id, limit + 1
    )
    page = page_of(rows, limit, WebhookDeliveryPublic)
    await _attach_attempts(conn, page["items"])
    return page


@router.post(
    "/webhook-deliveries/{delivery_id:uuid}/redeliver",
    status_code=202,
    response_model=WebhookDeliveryPublic,
    responses=problems(404, 409),
)
async def redeliver_webhook(conn: ConnDep, delivery_id: uuid.UUID) -> WebhookDeliveryPublic:
    """Send a delivery again: the same event and webhook-id, a new 24-hour retry window."""
    await conn.fetchval(queries.WEBHOOK_REDELIVER, delivery_id)
    return await _delivery(conn, delivery_id)


async def _delivery(conn: ConnDep, delivery_id: uuid.UUID) -> WebhookDeliveryPublic:
    row = await conn.fetchrow(queries.WEBHOOK_DELIVERY_GET, delivery_id)
    if row is None:
        raise ProblemError(404, f"no webhook delivery {delivery_id}")
    delivery = WebhookDeliveryPublic.model_validate(dict(row))
    await _attach_attempts(conn, [delivery])
    return delivery


async def _attach_attempts(conn: ConnDep, deliveries: list[WebhookDeliveryPublic]) -> None:
    if not deliveries:
        return
    rows = await conn.fetch(queries.WEBHOOK_ATTEMPTS, [d.id for d in deliveries])
    by_delivery: dict[uuid.UUID, list[WebhookAttemptPublic]] = {}
    for r in rows:
        by_delivery.setdefault(r["delivery_id"], []).append(
            WebhookAttemptPublic.model_validate(dict(r))
        )
    for d in deliveries:
        d.attempt_log = by_delivery.get(d.id, [])
