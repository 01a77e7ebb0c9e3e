from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.security import mint_token
from app.db import migrations
from app.db.pool import _init_connection
from app.main import create_app
from tests.dbserver import OPEN_PORTFOLIO_LIMITS, admin_execute, server_url, with_database

TEST_SECRET = "test-secret-" + "x" * 40
AUDIENCE = "authenticated"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> tuple[str, str]:
    return server_url()


@pytest.fixture(scope="session")
def template_db(pg_server: tuple[str, str]) -> Iterator[str]:
    """A database migrated by the alembic revisions, cloned by every test."""
    admin_url, _ = pg_server
    name = f"ao_tpl_{os.getpid()}"
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    migrations.upgrade(with_database(admin_url, name))
    # The portfolio limits (mass-pause share, budget growth) bind on the tiny portfolios most tests
    # build, where one campaign is all of the spend; those tests are about other decisions, so the two
    # limits are opened here. tests/test_limits.py sets them back to their defaults and tests them.
    admin_execute(with_database(admin_url, name), OPEN_PORTFOLIO_LIMITS)
    yield name
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(pg_server: tuple[str, str], template_db: str) -> Iterator[str]:
    """A fresh database of its own for each test, cloned from the migrated template."""
    admin_url, _ = pg_server
    name = f"ao_t_{os.getpid()}_{next(_counter)}"
    admin_execute(
        admin_url,
        f"DROP DATABASE IF EXISTS {name}",
        f"CREATE DATABASE {name} TEMPLATE {template_db}",
    )
    yield with_database(admin_url, name)
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the test database (as psql would be)."""
    conn = await asyncpg.connect(db_url)
    await _init_connection(conn)  # jsonb as Python values, as in the service
    try:
        yield conn
    finally:
        await conn.close()


NO_PLATFORM = "http://127.0.0.1:9"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        migrate_on_start=False,
        scheduler_enabled=False,
        # no test reaches a real ad platform: one that does not point at a fake finds nothing here
        meta_graph_url=NO_PLATFORM,
        google_ads_api_url=NO_PLATFORM,
        google_oauth_token_url=f"{NO_PLATFORM}/token",
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def token(kind: str = "admin", **overrides: Any) -> str:
    if kind in ("admin", "service"):
        return mint_token(TEST_SECRET, AUDIENCE, kind)  # type: ignore[arg-type]
    import time

    import jwt

    claims = {
        "aud": AUDIENCE,
        "exp": int(time.time()) + 600,
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
    }
    claims.update(overrides)
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def auth(kind: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(kind)}"}


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return auth("admin")


async def make_campaign(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "external_id": f"ext-{uuid.uuid4().hex[:12]}",
        "title": "Campaign",
        "status": "active",
        "daily_budget": 100,
    }
    body.update(fields)
    r = await client.post("/campaigns", json=body, headers=auth())
    assert r.status_code == 201, r.text
    return r.json()
