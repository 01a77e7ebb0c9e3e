"""Problem documents everywhere, readiness, Prometheus metrics, JSON logs, production settings."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.logging import JsonFormatter
from app.main import create_app
from tests.conftest import auth


async def test_unknown_route_and_method_are_problems(client):
    r = await client.get("/nope", headers=auth())
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.delete("/campaigns", headers=auth())
    assert r.status_code == 405 and r.json()["status"] == 405


async def test_malformed_json_is_422(client):
    r = await client.post(
        "/campaigns", content=b"{not json", headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


async def test_500_never_leaks_internals(settings):
    import httpx

    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/app/secret.py line 3")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "hunter2" not in r.text and "secret.py" not in r.text


async def test_readyz_reports_schema_behind_head(client, db):
    assert (await client.get("/readyz")).json()["status"] == "ready"
    await db.execute("UPDATE alembic_version SET version_num = '0002'")
    r = await client.get("/readyz")
    assert r.status_code == 503 and "0002" in r.json()["detail"]


async def test_prometheus_counts_by_route_template(client):
    c = (
        await client.post("/campaigns", json={"external_id": "p", "title": "p"}, headers=auth())
    ).json()
    await client.get(f"/campaigns/{c['id']}", headers=auth())
    text = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/campaigns/{campaign_id}",status="200"} 1.0'
        in text
    )
    assert 'http_request_duration_seconds_count{method="POST",route="/campaigns"} 1.0' in text
    assert c["id"] not in text


async def test_json_logs_one_object_per_line():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.jsonlogs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("cycle finished", extra={"paused": 2, "scaled": 1})
    logger.info("second\nline")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert (
        first["message"] == "cycle finished" and first["paused"] == 2 and first["level"] == "info"
    )
    assert json.loads(lines[1])["message"] == "second\nline"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"JWT_SECRET": "secret", "TOKEN_ENCRYPTION_KEY": "x"},
        {
            "JWT_SECRET": "a" * 64,
            "TOKEN_ENCRYPTION_KEY": "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=",
        },
        {
            "JWT_SECRET": "Zq8v1Lr0Xy7Wm2Np5Kt9Hs3Jd6Fg4Bc1Ve8Ua0Ti7Ro",
            "TOKEN_ENCRYPTION_KEY": "short",
        },
    ],
)
def test_production_refuses_weak_secrets(monkeypatch, env):
    monkeypatch.setenv("APP_ENV", "production")
    for k in ("JWT_SECRET", "TOKEN_ENCRYPTION_KEY"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as info:
        Settings()
    for v in env.values():
        if len(v) > 8:
            assert v not in str(info.value)


def test_production_accepts_strong_secrets(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "Zq8v1Lr0Xy7Wm2Np5Kt9Hs3Jd6Fg4Bc1Ve8Ua0Ti7Ro")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY=")
    assert Settings().app_env == "production"


def test_cli_refuses_to_serve_in_production_without_secrets(tmp_path):
    env = {"APP_ENV": "production", "DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "JWT_SECRET" in proc.stderr
    assert not (tmp_path / "postgres").exists()


def test_cli_token_is_accepted_by_the_service_secret(tmp_path):
    import jwt

    env = {"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "--admin", "--ttl", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    secret = (tmp_path / "jwt_secret").read_text()
    claims = jwt.decode(out, secret, algorithms=["HS256"], audience="authenticated")
    assert claims["app_metadata"]["role"] == "admin" and claims["exp"] - claims["iat"] == 60
    assert oct((tmp_path / "jwt_secret").stat().st_mode & 0o777) == "0o600"
