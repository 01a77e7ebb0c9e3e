"""Alembic, driven from Python: the same revisions ``alembic upgrade head`` applies."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
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


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text(encoding="utf-8")


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
