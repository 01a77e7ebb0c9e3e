from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ConnDep
from app.db import queries
from app.models.settings import AutonomousSettingsPublic, AutonomousSettingsUpdate

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("", response_model=AutonomousSettingsPublic)
async def get_settings(conn: ConnDep) -> AutonomousSettingsPublic:
    """Guardrails and detector thresholds."""
    return AutonomousSettingsPublic.model_validate(dict(await conn.fetchrow(queries.SETTINGS_GET)))


@router.patch("", response_model=AutonomousSettingsPublic)
async def update_settings(
    conn: ConnDep, body: AutonomousSettingsUpdate
) -> AutonomousSettingsPublic:
    changes = body.model_dump(mode="json", exclude_unset=True)
    row = await conn.fetchrow(queries.SETTINGS_UPDATE, changes)
    return AutonomousSettingsPublic.model_validate(dict(row))
