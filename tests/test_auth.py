"""Who may call the API (docs/api.md, "Access")."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from tests.conftest import AUDIENCE, TEST_SECRET, auth, token


def _b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def _claims(**extra: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "aud": AUDIENCE,
        "exp": int(time.time()) + 600,
        "app_metadata": {"role": "admin"},
    }
    claims.update(extra)
    return claims


BAD_TOKENS = {
    "expired": jwt.encode(_claims(exp=int(time.time()) - 10), TEST_SECRET, algorithm="HS256"),
    "malformed": "not.a.jwt",
    "garbage": "abc",
    "wrong_signature": jwt.encode(_claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
    "alg_none": _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "no_exp": jwt.encode(
        {"aud": AUDIENCE, "app_metadata": {"role": "admin"}}, TEST_SECRET, algorithm="HS256"
    ),
    "wrong_audience": jwt.encode(_claims(aud="someone-else"), TEST_SECRET, algorithm="HS256"),
    "hs512": jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"),
}


async def test_no_token_is_401_problem(client):
    r = await client.get("/campaigns")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["status"] == 401


async def test_basic_scheme_is_401(client):
    r = await client.get("/campaigns", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_invalid_tokens_are_401_and_not_echoed(client, name):
    bad = BAD_TOKENS[name]
    r = await client.get("/campaigns", headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401, (name, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert bad not in r.text


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "authenticated"},
        {"role": "anon"},
        {"role": "authenticated", "app_metadata": {"role": "editor"}},
        {
            "role": "authenticated",
            "user_metadata": {"role": "admin"},
        },  # user-editable: never trusted
    ],
)
async def test_authenticated_non_admin_is_403(client, claims):
    r = await client.get(
        "/campaigns", headers={"Authorization": f"Bearer {token('user', **claims)}"}
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("kind", ["admin", "service"])
async def test_admin_and_service_role_are_200(client, kind):
    r = await client.get("/campaigns", headers=auth(kind))
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


async def test_supabase_shaped_admin_token_works(client):
    # As Supabase issues them: role authenticated, admin flag in app_metadata.
    tok = token(
        "user",
        role="authenticated",
        app_metadata={"provider": "email", "role": "admin"},
        email="ops@example.com",
    )
    r = await client.get("/campaigns", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200


async def test_health_and_metrics_need_no_token(client):
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
