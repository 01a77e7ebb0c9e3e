"""The settings are defined once, by the table autonomous_settings (names, defaults, ranges as checks);
the API's model must say the same: the same names in the same order, and at every bound the model
accepts exactly what the database accepts. The check is also run on a model made to disagree."""

from __future__ import annotations

import math
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from app.models.settings import AutonomousSettingsBase, AutonomousSettingsUpdate

CURVES: list[Any] = [
    [1],
    [0.6, 0.8, 0.9, 0.95, 1],
    [0.5, 0.5, 1],
    [0.5, 0.4, 1],  # falls
    [0.5, 0.9],  # does not end at 1
    [0, 1],
    [1e-9, 1],
    [0.5, 1.0000001],
    [],
    [0.5] * 27 + [1],
    [0.5] * 28 + [1],  # 29 days
]


def _probes(model: type[BaseModel], name: str) -> list[Any]:
    """Values at and around each bound the model states for a setting, and one inside (for a curve:
    curves good and bad)."""
    info = model.model_fields[name]
    if getattr(info.annotation, "__origin__", None) is list:
        return CURVES
    integer = info.annotation is int
    step = 1 if integer else 1e-9
    values: list[float | int] = [0, 1, 2]
    for bound in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            edge = getattr(bound, attr, None)
            if edge is not None:
                values += [edge - step, edge, edge + step]
    values += [1e12 if not integer else 2_000_000_000, -1]
    if not integer:  # steps too small to mean anything, above 0 and above 1
        values += [5e-324, 1e-10, 1 + 1e-12]
    return sorted({int(v) if integer else float(v) for v in values if math.isfinite(v)})


def _model_accepts(model: type[BaseModel], name: str, value: Any) -> bool:
    info = model.model_fields[name]
    try:
        TypeAdapter(
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        ).validate_python(value)
    except ValidationError:
        return False
    return True


async def _database_accepts(db: asyncpg.Connection, name: str, value: Any) -> bool:
    try:
        async with db.transaction():
            # the name comes from the catalogue (autonomous_setting_names), never from input
            await db.execute(f'UPDATE autonomous_settings SET "{name}" = $1', value)  # noqa: S608
            raise _Undo
    except _Undo:
        return True
    except (asyncpg.CheckViolationError, asyncpg.NumericValueOutOfRangeError, asyncpg.DataError):
        return False


class _Undo(Exception):
    pass


async def disagreements(db: asyncpg.Connection, base: type[BaseModel]) -> list[str]:
    names = await db.fetchval("SELECT autonomous_setting_names()")
    found = []
    if names != list(base.model_fields):
        found.append(f"names: table {names} vs model {list(base.model_fields)}")
    for name in set(names) & set(base.model_fields):
        for value in _probes(base, name):
            in_model = _model_accepts(base, name, value)
            in_table = await _database_accepts(db, name, value)
            if in_model != in_table:
                found.append(f"{name}={value}: model {in_model}, table {in_table}")
    return found


async def test_the_model_states_the_table(db):
    assert await disagreements(db, AutonomousSettingsBase) == []
    # The PATCH model is derived from it: the same fields, each optional, and the accounts' overrides.
    assert list(AutonomousSettingsUpdate.model_fields) == [
        *AutonomousSettingsBase.model_fields,
        "account_overrides",
    ]


async def test_a_model_that_disagrees_is_caught(db):
    fields: dict[str, Any] = {
        n: (info.annotation, info) for n, info in AutonomousSettingsBase.model_fields.items()
    }
    # A bound moved in the model only: the table still refuses 11.
    fields["max_scale_factor"] = (float, Field(gt=1, le=20))
    drifted = create_model("Drifted", **fields)
    found = await disagreements(db, drifted)
    assert any(f.startswith("max_scale_factor=") for f in found), found
    # A setting the table does not have.
    extra = create_model("Extra", __base__=AutonomousSettingsBase, surprise=(int, Field(ge=0)))
    assert any(f.startswith("names:") for f in await disagreements(db, extra))


async def test_an_accounts_overrides_have_the_global_rows_ranges(db):
    """The settings an account overrides are the columns of account_settings, and at every bound the
    override model and the table accept what the global row accepts."""
    from app.models.settings import ACCOUNT_SETTINGS, AccountSettingsOverride

    assert list(ACCOUNT_SETTINGS) == await db.fetchval("SELECT autonomous_account_setting_names()")
    assert list(AccountSettingsOverride.model_fields) == list(ACCOUNT_SETTINGS)
    account = await db.fetchval(
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
        " VALUES ('manual', 'probe', 'Probe', 'USD', 'UTC') RETURNING id"
    )
    # the scale rules apply to another account, so that their factors do not bound this one's
    await db.execute(
        "UPDATE autonomous_rules SET account_ids = ARRAY[ao_manual_account_id()] WHERE rule_type = 'scale'"
    )
    found = []
    for name in ACCOUNT_SETTINGS:
        for value in _probes(AutonomousSettingsBase, name):
            in_global = await _database_accepts(db, name, value)
            try:
                AccountSettingsOverride.model_validate({name: value})
                in_model = True
            except ValidationError:
                in_model = False
            try:
                async with db.transaction():
                    await db.execute(
                        "SELECT update_autonomous_settings($1::jsonb)",
                        {"account_overrides": {str(account): {name: value}}},
                    )
                    raise _Undo
            except _Undo:
                in_table = True
            except asyncpg.PostgresError:
                in_table = False
            if not in_global == in_model == in_table:
                found.append(
                    f"{name}={value}: global {in_global}, model {in_model}, table {in_table}"
                )
    assert found == []
