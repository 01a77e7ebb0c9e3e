"""Alembic, driven from Python: the same revisions ``alembic upgrade head`` applies, then the functions.

Two kinds of SQL files: ``sql/migrations/NNN_*.sql``, one per alembic revision, append-only (tables,
constraints, indexes, triggers, policies, seed rows; what a released one runs is never edited, a test
holds them to ``sql/migrations/released.sha256``); and ``sql/functions/NN_*.sql``, the current code of
every function, re-applied in name order, in the migration's transaction, whenever any of them
changed (``schema_functions`` records what was applied). ``docs/schema.sql`` shows the result.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
FUNCTIONS_DIR = SQL_DIR / "functions"
MIGRATION_LOCK_KEY = 7_415_002  # advisory lock held while migrating, so replicas don't race


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def sqlalchemy_url(database_url: str) -> str:
    """asyncpg and libpq URLs differ only in scheme spellings; SQLAlchemy wants psycopg2's."""
    for prefix in ("postgres://", "postgresql://", "postgresql+asyncpg://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg2://" + database_url[len(prefix) :]
    return database_url


def released_digest(path: Path) -> str:
    """The digest sql/migrations/released.sha256 records of a migration file: what it runs. For a SQL
    file its lines without the comment lines (a comment can be corrected after the release, a
    statement never); for a revision file, the whole file."""
    data = path.read_bytes()
    if path.suffix == ".sql":
        lines = data.decode("utf-8").splitlines()
        data = "\n".join(ln for ln in lines if not ln.lstrip().startswith("--")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def read_sql(name: str) -> str:
    return (MIGRATIONS_DIR / name).read_text(encoding="utf-8")


def apply_sql_file(name: str) -> None:
    """Run one versioned SQL file inside the current migration's transaction.

    The raw DBAPI cursor runs the whole file (dollar-quoted PL/pgSQL included) as one batch,
    with no interpolation of ``%`` or ``:name``.
    """
    from alembic import op

    dbapi = op.get_bind().connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(read_sql(name))
    finally:
        cursor.close()


def function_files() -> list[tuple[str, str]]:
    """The function files in the order they are applied, each with the SHA-256 of its text."""
    return [
        (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(FUNCTIONS_DIR.glob("*.sql"))
    ]


def apply_functions(dbapi_connection: Any) -> bool:
    """Re-apply every function file, in order, when any differs from what was applied last.

    Runs inside the caller's transaction (the migration's), after the migrations. Returns whether
    anything was applied.
    """
    wanted = function_files()
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT file, sha256 FROM schema_functions ORDER BY file")
        if [tuple(row) for row in cursor.fetchall()] == wanted:
            return False
        for name, _ in wanted:
            cursor.execute((FUNCTIONS_DIR / name).read_text(encoding="utf-8"))
        cursor.execute(
            "DELETE FROM schema_functions WHERE NOT file = ANY (%s)",
            ([name for name, _ in wanted],),
        )
        for name, digest in wanted:
            cursor.execute(
                "INSERT INTO schema_functions (file, sha256) VALUES (%s, %s) "
                "ON CONFLICT (file) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()",
                (name, digest),
            )
        return True
    finally:
        cursor.close()
