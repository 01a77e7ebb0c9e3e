"""A cycle's work tables stay in memory: the migrations give every session of the database 256 MB of
temporary buffers (never less than an operator set, and only where the migrating role may set it), and
the formatters every reason and description calls are inlined into the statements that call them."""

from __future__ import annotations

import json

import asyncpg
import psycopg2

from app.db import migrations

SETTING = migrations.MIGRATIONS_DIR / "015_work_table_memory.sql"


def database_settings(admin_url: str, name: str) -> list[str]:
    conn = psycopg2.connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """SELECT coalesce(s.setconfig, '{}') FROM pg_database d
                   LEFT JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0
                    WHERE d.datname = %s""",
                (name,),
            )
            return list(cur.fetchone()[0])
    finally:
        conn.close()


async def session_temp_buffers(db_url: str) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetchval("SHOW temp_buffers")
    finally:
        await conn.close()


def test_the_migrated_database_gives_sessions_256_mb_of_temporary_buffers(pg_server, template_db):
    assert "temp_buffers=256MB" in database_settings(pg_server[0], template_db)


async def test_the_setting_reaches_new_sessions_and_is_never_lowered(db_url, pg_server):
    name = db_url.rsplit("/", 1)[1]
    # a database cloned from the template starts without database settings (CREATE DATABASE copies none);
    # here it starts at PostgreSQL's default, whatever the server's own setting
    assert database_settings(pg_server[0], name) == []
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(f"ALTER DATABASE {name} SET temp_buffers = '8MB'")
    finally:
        await conn.close()
    assert await session_temp_buffers(db_url) == "8MB"

    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(SETTING.read_text())
    finally:
        await conn.close()
    assert database_settings(pg_server[0], name) == ["temp_buffers=256MB"]
    assert await session_temp_buffers(db_url) == "256MB"

    # an operator's larger setting stays
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(f"ALTER DATABASE {name} SET temp_buffers = '1GB'")
        await conn.close()
        conn = await asyncpg.connect(db_url)
        await conn.execute(SETTING.read_text())
    finally:
        await conn.close()
    assert database_settings(pg_server[0], name) == ["temp_buffers=1GB"]


async def test_a_role_that_may_not_set_it_is_told_and_nothing_changes(db_url, pg_server):
    name = db_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(db_url)
    notices: list[str] = []
    conn.add_log_listener(lambda _conn, message: notices.append(message.message))
    try:
        async with conn.transaction():
            await conn.execute(
                "SET LOCAL temp_buffers = '8MB'"
            )  # below 256 MB, whatever the server's
            await conn.execute("SET LOCAL ROLE ao_app")
            await conn.execute(SETTING.read_text())
    finally:
        await conn.close()
    assert database_settings(pg_server[0], name) == []
    assert any("only the owner of database" in n and "256MB" in n for n in notices), notices


async def test_money_and_rate_texts_are_inlined_where_they_are_called(db):
    """An IMMUTABLE SQL function over to_char (STABLE) would never be inlined: each call would run
    through the SQL-function executor, several times the cost of the formatting."""
    await db.execute("CREATE TEMP TABLE figures AS SELECT 1234.5::numeric AS x")
    plan = await db.fetchval(
        "EXPLAIN (VERBOSE, FORMAT JSON) SELECT ao_money(x), ao_pct(x / 10000) FROM figures"
    )
    output = " ".join((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Output"])
    assert "to_char" in output
    assert "ao_money" not in output and "ao_pct" not in output
    assert await db.fetchrow("SELECT ao_money(x) AS m, ao_pct(x / 10000) AS p FROM figures") == (
        "$1,234.50",
        "12.35%",
    )
