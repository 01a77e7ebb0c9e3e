"""docs/schema.sql shows the schema the migrations and function files make, and released migrations are
never edited. Each check also shows that it would notice: it is run once on a provoked difference."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg2
import pytest

from app.db import migrations
from tests.dbserver import admin_execute, with_database
from tests.schema_fingerprint import fingerprint

ROOT = migrations.PROJECT_ROOT
SNAPSHOT = ROOT / "docs" / "schema.sql"
LOCK = migrations.MIGRATIONS_DIR / "released.sha256"


def _load(url: str, sql: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def snapshot_db(pg_server):
    admin_url, _ = pg_server
    name = f"ao_snapshot_{os.getpid()}"
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    yield with_database(admin_url, name)
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_schema_snapshot_is_what_the_migrations_make(pg_server, template_db, snapshot_db):
    _load(snapshot_db, SNAPSHOT.read_text(encoding="utf-8"))
    migrated = await fingerprint(with_database(pg_server[0], template_db), seeds=False)
    from_snapshot = await fingerprint(snapshot_db, seeds=False)
    assert len(migrated) > 300
    missing = sorted(set(migrated) - set(from_snapshot))
    extra = sorted(set(from_snapshot) - set(migrated))
    assert (missing, extra) == ([], []), "docs/schema.sql is stale: run `make schema`"

    # Provoked: a function edited without regenerating the snapshot is noticed.
    _load(
        snapshot_db,
        "CREATE OR REPLACE FUNCTION public.ao_money(p numeric) RETURNS text LANGUAGE sql "
        "IMMUTABLE AS $$ SELECT p::text $$",
    )
    assert await fingerprint(snapshot_db, seeds=False) != migrated


def edited_migrations(lock_text: str, root: Path) -> list[str]:
    """Files of the lock whose content changed, and migration files missing from the lock."""
    recorded = dict(reversed(line.split(maxsplit=1)) for line in lock_text.splitlines())
    problems = [
        f"{name} was edited after its release"
        for name, digest in recorded.items()
        if not (root / name).exists() or migrations.released_digest(root / name) != digest
    ]
    on_disk = sorted((root / "sql" / "migrations").glob("*.sql")) + sorted(
        (root / "migrations" / "versions").glob("*.py")
    )
    problems += [
        f"{p.relative_to(root)} is not recorded: run `make schema`"
        for p in on_disk
        if str(p.relative_to(root)) not in recorded
    ]
    return problems


def test_released_migrations_are_never_edited(tmp_path):
    assert edited_migrations(LOCK.read_text(), ROOT) == []

    # Provoked: a copy of the tree with one released migration edited, one new file unrecorded.
    copy = tmp_path / "tree"
    for rel in [line.split(maxsplit=1)[1] for line in LOCK.read_text().splitlines()]:
        target = copy / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / rel).read_bytes())
    corrected = copy / "sql" / "migrations" / "002_access.sql"
    corrected.write_text("-- a comment corrected after the release\n" + corrected.read_text())
    assert edited_migrations(LOCK.read_text(), copy) == []  # a comment may be corrected
    edited = copy / "sql" / "migrations" / "001_schema.sql"
    edited.write_text(edited.read_text() + "\nSELECT 1; -- an afterthought\n")
    (copy / "sql" / "migrations" / "999_new.sql").write_text("SELECT 1;\n")
    assert edited_migrations(LOCK.read_text(), copy) == [
        "sql/migrations/001_schema.sql was edited after its release",
        "sql/migrations/999_new.sql is not recorded: run `make schema`",
    ]


def test_every_function_lives_in_a_function_file(template_db, pg_server):
    """A function in the database is defined in sql/functions/ (or, for those a check needs, in the
    migration of its table); a function no file defines is dropped by a migration."""
    defined = set()
    sources = list(migrations.FUNCTIONS_DIR.glob("*.sql")) + [
        migrations.MIGRATIONS_DIR / "008_hardening.sql",
        migrations.MIGRATIONS_DIR / "016_house_in_order.sql",
        migrations.MIGRATIONS_DIR / "017_ad_accounts.sql",
        migrations.MIGRATIONS_DIR / "018_platform_changes.sql",
    ]
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("CREATE OR REPLACE FUNCTION "):
                defined.add(line.split()[4].split("(")[0])
    conn = psycopg2.connect(with_database(pg_server[0], template_db))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT CASE WHEN pronamespace = 'app_auth'::regnamespace THEN 'app_auth.' ELSE '' END"
                " || proname FROM pg_proc"
                " WHERE pronamespace IN ('public'::regnamespace, 'app_auth'::regnamespace)"
            )
            in_database = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert in_database == defined


def unanalyzed_work_tables(sql: str) -> list[str]:
    """The transaction-local tables a function makes and does not analyze after making them."""
    missing = []
    for name, body in re.findall(r"CREATE OR REPLACE FUNCTION (\S+?)\(.*?\$\$(.*?)\$\$", sql, re.S):
        for made in re.finditer(r"CREATE TEMP TABLE (\w+)", body):
            if not re.search(rf"\bANALYZE {made.group(1)}\b", body[made.end() :]):
                missing.append(f"{name}: {made.group(1)}")
    return missing


def test_every_work_table_is_analyzed_where_it_is_made():
    """No plan hinges on a guess: a work table is analyzed by the step that makes it, before any
    other statement joins it (the planner knows nothing of a new temporary table's contents)."""
    sql = "\n".join(p.read_text() for p in sorted(migrations.FUNCTIONS_DIR.glob("*.sql")))
    assert "CREATE TEMP TABLE _ao_stats" in sql and unanalyzed_work_tables(sql) == []
    provoked = sql.replace("ANALYZE _ao_plan ", "-- ")
    assert unanalyzed_work_tables(provoked) == ["_ao_build_plan: _ao_plan"]
