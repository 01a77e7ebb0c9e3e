from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import AccountConnDep, time_limit
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.db import queries
from app.models.common import Limit, OffsetCursor, decode_offset, offset_page
from app.models.dashboard import RulePreviewPublic, RulePreviewRequest
from app.models.rules import RuleCreate, RulePublic, RulesPublic, RuleType, RuleUpdate

router = APIRouter(prefix="/rules", tags=["rules"])


async def _fetch(conn: AccountConnDep, rule_id: uuid.UUID) -> RulePublic:
    row = await conn.fetchrow(queries.RULE_GET, rule_id)
    if row is None:
        raise ProblemError(404, f"no rule {rule_id}")
    return RulePublic.model_validate(dict(row))


@router.get("", response_model=RulesPublic)
async def list_rules(
    conn: AccountConnDep,
    rule_type: RuleType | None = None,
    is_active: bool | None = None,
    limit: Limit = 50,
    cursor: OffsetCursor = None,
) -> dict[str, object]:
    """Rules in the order a cycle applies them: priority, highest first, then name."""
    offset = decode_offset(cursor)
    rows = await conn.fetch(queries.RULE_LIST, rule_type, is_active, limit + 1, offset)
    return offset_page(rows, limit, offset, RulePublic)


@router.post("", status_code=201, response_model=RulePublic, responses=problems(409))
async def create_rule(conn: AccountConnDep, body: RuleCreate) -> JSONResponse:
    new_id = await conn.fetchval(
        queries.RULE_INSERT,
        body.name,
        body.description,
        body.rule_type,
        body.priority,
        body.is_active,
        body.conditions,
        body.action,
        body.min_confidence,
        body.cooldown_hours,
        body.evaluation_type,
        body.reading,
        body.account_ids,
    )
    rule = await _fetch(conn, new_id)
    return JSONResponse(
        rule.model_dump(mode="json"), status_code=201, headers={"Location": f"/rules/{new_id}"}
    )


@router.get("/{rule_id:uuid}", response_model=RulePublic)
async def get_rule(conn: AccountConnDep, rule_id: uuid.UUID) -> RulePublic:
    return await _fetch(conn, rule_id)


@router.patch("/{rule_id:uuid}", response_model=RulePublic, responses=problems(409))
async def update_rule(conn: AccountConnDep, rule_id: uuid.UUID, body: RuleUpdate) -> RulePublic:
    changes = body.model_dump(mode="json", exclude_unset=True)
    if await conn.fetchval(queries.RULE_PATCH, rule_id, changes) is None:
        raise ProblemError(404, f"no rule {rule_id}")
    return await _fetch(conn, rule_id)


@router.post("/preview", response_model=RulePreviewPublic, responses=problems(422))
async def preview_rule(
    conn: AccountConnDep, request: Request, body: RulePreviewRequest
) -> RulePreviewPublic:
    """What a rule body would do now, as the only active rule with every guardrail applied: a scoped
    dry run; nothing is saved. Errors name the field as POST /rules does. Stopped (503) past
    QUERY_TIMEOUT_SECONDS."""
    await time_limit(conn, request)
    result = await conn.fetchval(queries.RULE_PREVIEW, body.model_dump_json())
    return RulePreviewPublic.model_validate(result)
