"""A database outage is answered 503 problem+json with Retry-After, never 500, and heals by itself.

The outage is real: the test database stops accepting connections and its backends are terminated,
then it is allowed again; the same service instance answers 200 without a restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.conftest import auth, token
from tests.dbserver import admin_execute
from tests.servers import serve

REQUESTS = [
    ("GET", "/campaigns", None),
    ("GET", "/stats", None),
    ("GET", "/campaigns/underperforming", None),
    ("POST", "/cycles", {"dry_run": True}),
    ("POST", "/campaigns", {"external_id": "during-outage", "title": "x"}),
    ("PATCH", "/settings", {"min_spend": 60}),
]


@contextmanager
def database_down(admin_url: str, db_url: str) -> Iterator[None]:
    name = db_url.rsplit("/", 1)[1]
    admin_execute(
        admin_url,
        f"ALTER DATABASE {name} ALLOW_CONNECTIONS false",
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
    )
    try:
        yield
    finally:
        admin_execute(admin_url, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


@pytest.fixture
def outage_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"db_acquire_timeout_seconds": 1.0})


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, app


def _is_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.request.method, r.request.url.path, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) > 0
    assert "asyncpg" not in r.text and "Error" not in r.json()["detail"]


async def test_outage_is_503_throughout_and_heals_without_restart(
    outage_settings, pg_server, db_url
):
    admin_url, _ = pg_server
    async with in_process(outage_settings) as (client, _):
        assert (await client.get("/campaigns", headers=auth())).status_code == 200
        with database_down(admin_url, db_url):
            for _ in range(2):  # the dead pooled connections first, then refused new ones
                for method, path, body in REQUESTS:
                    _is_unavailable(await client.request(method, path, json=body, headers=auth()))
                _is_unavailable(await client.get("/readyz"))
            assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/campaigns", headers=auth())).status_code == 200
        assert (await client.get("/readyz")).json()["status"] == "ready"
        r = await client.post(
            "/campaigns", json={"external_id": "after", "title": "x"}, headers=auth()
        )
        assert r.status_code == 201


async def test_no_free_connection_within_the_acquire_timeout_is_503(outage_settings):
    one = outage_settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1})
    async with in_process(one) as (client, app):
        async with app.state.pool.acquire():  # the only connection is busy
            _is_unavailable(await client.get("/stats", headers=auth()))
            _is_unavailable(await client.get("/readyz"))
        assert (await client.get("/stats", headers=auth())).status_code == 200


async def _http_exchange(reader, writer, path: str) -> tuple[int, dict[str, str], bytes]:
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token()}\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
    }
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def test_keep_alive_connections_survive_an_outage(outage_settings, pg_server, db_url):
    admin_url, _ = pg_server
    app = create_app(outage_settings)
    with serve(app, lifespan="on") as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            status, _, _ = await _http_exchange(reader, writer, "/stats")
            assert status == 200
            with database_down(admin_url, db_url):
                for path in ("/stats", "/campaigns", "/stats", "/readyz"):
                    status, headers, body = await _http_exchange(reader, writer, path)
                    assert status == 503 and "retry-after" in headers
                    assert json.loads(body)["status"] == 503
            status, _, _ = await _http_exchange(reader, writer, "/stats")
            assert status == 200  # the same connection, all along
        finally:
            writer.close()
