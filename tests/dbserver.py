"""Which PostgreSQL the tests use: TEST_DATABASE_URL, else the local server, else the embedded one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# The portfolio limits (mass-pause share, budget growth per 24 h) opened, and back at their defaults:
# fixtures and the cycle benchmark's baselines decide campaign by campaign, so they run with them open.
OPEN_PORTFOLIO_LIMITS = (
    "UPDATE autonomous_settings SET max_pause_spend_share = 1, max_daily_budget_increase_pct = 1000"
)
DEFAULT_PORTFOLIO_LIMITS = (
    "UPDATE autonomous_settings SET max_pause_spend_share = DEFAULT,"
    " max_daily_budget_increase_pct = DEFAULT"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def server_url() -> tuple[str, str]:
    """The admin URL of the server to use and what kind it is (env, local or embedded)."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"], "env"
    if _reachable("127.0.0.1", 5432):
        try:
            psycopg2.connect(LOCAL_URL, connect_timeout=3).close()
            return LOCAL_URL, "local"
        except psycopg2.Error:
            pass
    from app.db import embedded

    return embedded.start(Path(tempfile.mkdtemp(prefix="ao-test-pg-"))), "embedded"


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def admin_execute(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def alembic(url: str, *args: str) -> None:
    """Our alembic, in a process of its own (its context is global to a process), on ``url``."""
    from app.db.migrations import PROJECT_ROOT

    proc = subprocess.run(  # noqa: S603 (our own alembic, on a test's database)
        [sys.executable, "-m", "alembic", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
