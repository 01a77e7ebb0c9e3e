"""The signed approval links of action.proposed webhooks: public (the link is the credential). GET shows
what the link decides and asks to confirm (a link preview or a mail scanner must never decide); POST
decides. A forged or altered link is 403, an expired or used one 409, and nothing changes."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.claims import APPROVAL_LINK
from app.core.errors import ProblemError
from app.db import queries
from app.db.pool import claims_transaction
from app.db.retry import in_savepoint
from app.services.approvals import Approval, LinkExpired, LinkRefused, verify

router = APIRouter(prefix="/approvals", tags=["approvals"])

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{title}</title><style>body{{font:16px system-ui,
sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}button{{font:inherit;padding:.5rem 1rem}}
</style></head><body><h1>{title}</h1><p>{body}</p>{form}</body></html>"""


def _approval(request: Request, token: str) -> Approval:
    try:
        return verify(request.app.state.jwt_key, token)
    except LinkRefused as exc:
        raise ProblemError(403, str(exc)) from None
    except LinkExpired as exc:
        raise ProblemError(409, str(exc)) from None


@router.get("/{token}", response_class=HTMLResponse, include_in_schema=False)
async def show_approval(request: Request, token: str) -> HTMLResponse:
    approval = _approval(request, token)
    settings = request.app.state.settings
    async with claims_transaction(
        request.app.state.pool, APPROVAL_LINK, settings.db_acquire_timeout_seconds
    ) as conn:
        row = await conn.fetchrow(queries.ACTION_GET, approval.action_id)
    if row is None:
        raise ProblemError(404, f"no action {approval.action_id}")
    what = f"{row['action_type']} “{row['campaign_title']}”"
    if row["status"] != "proposed":
        raise ProblemError(409, f"nothing left to decide: the {what} is {row['status']}")
    verb = approval.decision.capitalize()
    form = f'<form method="post"><button type="submit">{verb}</button></form>'
    return HTMLResponse(
        PAGE.format(
            title=html.escape(f"{verb} the {what}?"),
            body=html.escape(
                f"{row['reason']} (proposal expires {row['expires_at']:%Y-%m-%d %H:%M} UTC)"
            ),
            form=form,
        )
    )


@router.post("/{token}", response_class=HTMLResponse, include_in_schema=False)
async def decide_by_link(request: Request, token: str) -> HTMLResponse:
    approval = _approval(request, token)
    settings = request.app.state.settings
    query = queries.ACTION_APPROVE if approval.decision == "approve" else queries.ACTION_REJECT
    args = (
        (approval.action_id,)
        if approval.decision == "approve"
        else (approval.action_id, "rejected by link")
    )
    async with claims_transaction(
        request.app.state.pool, APPROVAL_LINK, settings.db_acquire_timeout_seconds
    ) as conn:
        action = await in_savepoint(conn, lambda: conn.fetchval(query, *args))
    done = "approved: it goes to its platform now" if approval.decision == "approve" else "rejected"
    title = f"{action['action_type'].capitalize()} of “{action.get('campaign_title')}” {done}"
    return HTMLResponse(PAGE.format(title=html.escape(title), body="", form=""))
