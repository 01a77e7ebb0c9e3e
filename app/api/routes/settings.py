from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import AccountConnDep, ConnDep
from app.db import queries
from app.models.settings import AutonomousSettingsPublic, AutonomousSettingsUpdate

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("", response_model=AutonomousSettingsPublic)
async def get_settings(conn: AccountConnDep) -> AutonomousSettingsPublic:
    """Guardrails and detector thresholds, and the accounts' overrides (a token scoped to accounts
    sees its own accounts' only)."""
    return AutonomousSettingsPublic.model_validate(dict(await conn.fetchrow(queries.SETTINGS_GET)))


@router.patch("", response_model=AutonomousSettingsPublic)
async def update_settings(
    conn: ConnDep, body: AutonomousSettingsUpdate
) -> AutonomousSettingsPublic:
    """Changes the settings sent, and under ``account_overrides`` each listed account's overrides
    (null takes the global value again); an unknown account or setting is a 422 naming it."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    await conn.fetchval(queries.SETTINGS_UPDATE, changes)
    return AutonomousSettingsPublic.model_validate(dict(await conn.fetchrow(queries.SETTINGS_GET)))
