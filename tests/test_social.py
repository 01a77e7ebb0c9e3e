"""Social accounts: tokens encrypted at rest, never returned or logged; rotation and deactivation."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.conftest import auth

TOKEN = "EAAB-live-page-token-" + uuid.uuid4().hex
REFRESH = "refresh-" + uuid.uuid4().hex


async def _connect(client, **fields):
    body = {
        "platform": "facebook",
        "account_id": "1234567890",
        "display_name": "Shop page",
        "access_token": TOKEN,
        "refresh_token": REFRESH,
        "token_expires_at": "2030-01-01T00:00:00Z",
    }
    body.update(fields)
    return await client.post("/social-accounts", json=body, headers=auth())


async def test_tokens_are_encrypted_and_never_returned(client, db, caplog):
    caplog.set_level(logging.DEBUG)
    r = await _connect(client)
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["token_last4"] == TOKEN[-4:] and account["has_refresh_token"] is True
    assert TOKEN not in r.text and REFRESH not in r.text
    listed = await client.get("/social-accounts", headers=auth())
    assert TOKEN not in listed.text and listed.json()["items"][0]["id"] == account["id"]
    # At rest: no column of any row holds the token's bytes, in text or in binary.
    row = await db.fetchrow("SELECT * FROM social_accounts")
    dumped = repr(dict(row)) + await db.fetchval(
        "SELECT string_agg(t::text, '') FROM social_accounts t"
    )
    assert TOKEN not in dumped and REFRESH not in dumped
    assert TOKEN.encode() not in bytes(row["access_token_encrypted"])
    assert TOKEN not in caplog.text and REFRESH not in caplog.text


async def test_rotate_revive_and_deactivate(client, db):
    account = (await _connect(client)).json()
    await db.execute("UPDATE social_accounts SET status = 'expired'")
    new_token = "rotated-token-" + uuid.uuid4().hex
    r = await client.patch(
        f"/social-accounts/{account['id']}", json={"access_token": new_token}, headers=auth()
    )
    assert r.status_code == 200
    assert r.json()["token_last4"] == new_token[-4:] and r.json()["status"] == "active"
    assert new_token not in r.text
    blob = await db.fetchval("SELECT access_token_encrypted FROM social_accounts")
    assert new_token.encode() not in bytes(blob)
    r = await client.patch(
        f"/social-accounts/{account['id']}", json={"status": "revoked"}, headers=auth()
    )
    assert r.json()["status"] == "revoked" and r.json()["token_last4"] == new_token[-4:]
    r = await client.patch(
        f"/social-accounts/{account['id']}", json={"refresh_token": None}, headers=auth()
    )
    assert r.status_code == 200 and r.json()["has_refresh_token"] is False


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"platform": "myspace"}, "platform"),
        ({"access_token": "short"}, "access_token"),
        ({"account_id": "has spaces"}, "account_id"),
        ({"password": "x"}, "password"),
    ],
)
async def test_bad_accounts_are_refused_without_echoing_tokens(client, db, fields, field):
    r = await _connect(client, **fields)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert TOKEN not in r.text
    assert await db.fetchval("SELECT count(*) FROM social_accounts") == 0


async def test_duplicate_account_and_unknown_id(client):
    assert (await _connect(client)).status_code == 201
    r = await _connect(client)
    assert r.status_code == 409 and TOKEN not in r.text
    r = await client.patch(
        f"/social-accounts/{uuid.uuid4()}", json={"display_name": "x"}, headers=auth()
    )
    assert r.status_code == 404
    r = await client.patch(
        f"/social-accounts/{uuid.uuid4()}", json={"access_token": None}, headers=auth()
    )
    assert r.status_code == 422
