"""One path to the schema: `alembic upgrade head` on an empty database equals what the tests use."""

from __future__ import annotations

import os

import asyncpg

from app.db.migrations import head_revision
from tests.dbserver import OPEN_PORTFOLIO_LIMITS, admin_execute, alembic, with_database
from tests.schema_fingerprint import fingerprint


async def test_alembic_cli_from_empty_equals_test_schema(pg_server, template_db):
    admin_url, _ = pg_server
    name = f"ao_alembic_{os.getpid()}"
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    try:
        url = with_database(admin_url, name)
        alembic(url, "upgrade", "head")
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        await conn.close()
        # the test template differs by its opened portfolio limits only (see conftest)
        admin_execute(url, OPEN_PORTFOLIO_LIMITS)
        fresh = await fingerprint(url)
        used = await fingerprint(with_database(admin_url, template_db))
        assert len(fresh) > 100
        assert fresh == used
        # A second run is a no-op, not an error.
        alembic(url, "upgrade", "head")
    finally:
        admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_every_function_is_commented(db):
    missing = await db.fetch(
        "SELECT p.oid::regprocedure::text AS f FROM pg_proc p "
        "WHERE p.pronamespace IN ('public'::regnamespace, 'app_auth'::regnamespace) "
        "AND obj_description(p.oid, 'pg_proc') IS NULL"
    )
    assert [r["f"] for r in missing] == []


async def test_builtin_rules_and_settings_are_seeded(db):
    rules = await db.fetch(
        "SELECT name, priority, rule_type FROM autonomous_rules WHERE is_builtin ORDER BY priority DESC"
    )
    assert [(r["name"], r["priority"], r["rule_type"]) for r in rules] == [
        ("Critical ROI Pause", 100, "pause"),
        ("Low ROI Pause", 90, "pause"),
        ("Aggressive Scale", 85, "scale"),
        ("High ROI Scale", 80, "scale"),
        ("High CTR Auto-Post", 50, "post"),
    ]
    s = await db.fetchrow(
        "SELECT min_spend, max_scale_factor, min_scale_confidence, rollback_quiet_hours FROM autonomous_settings"
    )
    assert (float(s[0]), float(s[1]), float(s[2]), s[3]) == (50.0, 2.0, 0.75, 168)
