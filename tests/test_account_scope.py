"""Tokens scoped to ad accounts (app_metadata.accounts): they see and act on their accounts only.

Proven twice: in the database as the restricted role (row-level security), and over HTTP on every
route of the API (another account's object is a 404, an agency-only route a 403)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import asyncpg
import jwt
import pytest

from app.core.security import mint_token
from app.main import create_app
from tests.conftest import TEST_SECRET, auth
from tests.test_rls import INSERT_ONLY, INSERTS, READ_ONLY, TABLES, _as_api_role, _seed
from tests.test_rls import UPDATES as RLS_UPDATES

# What a token scoped to its own account reads: a row of its own in these tables, none elsewhere.
SCOPED_READS = {
    "campaigns",
    "campaign_metrics",
    "autonomous_actions",
    "optimization_opportunities",
    "ad_accounts",
    "ad_account_syncs",
    "metric_revisions",
    "platform_changes",
    "account_maturity",
    "account_settings",
    "autonomous_rules",
    "autonomous_settings",  # the global row, read by the decisions it takes
}
# What it may add, for its own account only.
SCOPED_WRITES = {
    "campaigns",
    "autonomous_actions",
    "optimization_opportunities",
    "platform_changes",
    "autonomous_rules",
}


async def _client_account(db: asyncpg.Connection, name: str) -> dict[str, str]:
    """An account with one row in every table that belongs to an account, written as the superuser."""
    ids: dict[str, str] = {}
    ids["ad_account"] = str(
        await db.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, credentials_encrypted)"
            " VALUES ('meta', $1, $2, 'USD', 'UTC', '\\x00') RETURNING id",
            f"act_{abs(hash(name)) % 10**9}",
            name,
        )
    )
    ids["campaign"] = str(
        await db.fetchval(
            "INSERT INTO campaigns (external_id, title, status, account_id)"
            " VALUES ($1, $1, 'active', $2) RETURNING id",
            f"{name} campaign",
            ids["ad_account"],
        )
    )
    await db.execute(
        "INSERT INTO campaign_metrics (campaign_id, period_start, period_end, spend)"
        " VALUES ($1, now() - interval '2 days', now() - interval '1 day', 10)",
        ids["campaign"],
    )
    ids["action"] = str(
        await db.fetchval(
            "INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, executed_at,"
            " previous_state, new_state) VALUES ($1, 'pause', $2, 'executed', now(),"
            ' \'{"status": "active"}\', \'{"status": "paused"}\') RETURNING id',
            ids["campaign"],
            f"{name} action",
        )
    )
    ids["opportunity"] = str(
        await db.fetchval(
            "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,"
            " suggested_action) VALUES ($1, 'low_conversion', 'low', $2, 's') RETURNING id",
            ids["campaign"],
            f"{name} opportunity",
        )
    )
    await db.execute("INSERT INTO ad_account_syncs (account_id) VALUES ($1)", ids["ad_account"])
    await db.execute(
        "INSERT INTO metric_revisions (campaign_id, period_start, period_end, conversions, revenue, spend)"
        " VALUES ($1, now() - interval '2 days', now() - interval '1 day', 0, 0, 10)",
        ids["campaign"],
    )
    ids["change"] = str(
        await db.fetchval(
            "INSERT INTO platform_changes (action_id, campaign_id, account_id, kind, from_state, to_state)"
            " VALUES ($1, $2, $3, 'status', '{}', '{}') RETURNING id",
            ids["action"],
            ids["campaign"],
            ids["ad_account"],
        )
    )
    await db.execute(
        "INSERT INTO platform_writes (change_id, object_id, field, value) VALUES ($1, 'c', 'status', 'paused')",
        ids["change"],
    )
    await db.execute(
        "INSERT INTO account_maturity (account_id, conversions, revenue, days) VALUES ($1, '{1}', '{1}', 0)",
        ids["ad_account"],
    )
    await db.execute(
        "INSERT INTO account_settings (account_id, min_spend) VALUES ($1, 10)", ids["ad_account"]
    )
    ids["rule"] = str(
        await db.fetchval(
            "INSERT INTO autonomous_rules (name, rule_type, conditions, action, account_ids)"
            ' VALUES ($1, \'pause\', \'{"all": [{"metric": "roi", "op": "lt", "value": 0.1}]}\','
            ' \'{"type": "pause"}\', ARRAY[$2::uuid]) RETURNING id',
            f"{name} rule",
            ids["ad_account"],
        )
    )
    return ids


@pytest.fixture
async def two_clients(db) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The agency's own rows (every table, test_rls's seed), and clients A and B."""
    agency = await _seed(db)
    return agency, await _client_account(db, "Client A"), await _client_account(db, "Client B")


def scoped(*accounts: str) -> dict[str, Any]:
    return {"role": "authenticated", "sub": "client", "app_metadata": {"accounts": list(accounts)}}


# -- the database, as the restricted role ------------------------------------------------------------


async def test_a_scoped_role_reads_its_accounts_rows_only(db, two_clients):
    _, a, b = two_clients
    async with db.transaction():
        await _as_api_role(db, scoped(a["ad_account"]))
        assert await db.fetchval("SELECT current_user") == "ao_app"
        for table in TABLES:
            expected = 1 if table in SCOPED_READS else 0
            assert await db.fetchval(f"SELECT count(*) FROM {table}") == expected, table
        assert await db.fetchval("SELECT id::text FROM ad_accounts") == a["ad_account"]
        assert await db.fetchval("SELECT id::text FROM campaigns") == a["campaign"]
        assert await db.fetchval("SELECT id::text FROM autonomous_rules") == a["rule"]
        assert await db.fetchval("SELECT count(*) FROM campaigns_with_kpis") == 1
        # by id, B's rows are not there at all
        for table, key in (("campaigns", "campaign"), ("autonomous_actions", "action")):
            assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", b[key]) == 0
    # both accounts: both rows
    async with db.transaction():
        await _as_api_role(db, scoped(a["ad_account"], b["ad_account"]))
        assert await db.fetchval("SELECT count(*) FROM campaigns") == 2


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "authenticated", "app_metadata": {"accounts": []}},
        {"role": "authenticated", "app_metadata": {"accounts": ["not-a-uuid"]}},
        {"role": "authenticated", "app_metadata": {"accounts": "all"}},
        {"role": "authenticated", "app_metadata": {"accounts": [{"id": 1}]}},
    ],
)
async def test_a_list_naming_no_account_or_malformed_scopes_to_nothing(db, two_clients, claims):
    async with db.transaction():
        await _as_api_role(db, claims)
        for table in TABLES:
            assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table


# A row for each table the scoped role may write, in the named client's account.
def _own_insert(table: str, ids: dict[str, str]) -> tuple[str, list[Any]]:
    return {
        "campaigns": (
            "INSERT INTO campaigns (external_id, title, account_id) VALUES ('n', 'N', $1::uuid)",
            [ids["ad_account"]],
        ),
        "autonomous_actions": (
            "INSERT INTO autonomous_actions (campaign_id, action_type, reason) VALUES ($1::uuid, 'scale', 'x')",
            [ids["campaign"]],
        ),
        "optimization_opportunities": (
            "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,"
            " suggested_action) VALUES ($1::uuid, 'creative_fatigue', 'low', 'd', 's')",
            [ids["campaign"]],
        ),
        "platform_changes": (
            "INSERT INTO platform_changes (action_id, purpose, campaign_id, account_id, kind, from_state, to_state)"
            " VALUES ($1::uuid, 'rollback', $2::uuid, $3::uuid, 'status', '{}', '{}')",
            [ids["action"], ids["campaign"], ids["ad_account"]],
        ),
        "autonomous_rules": (
            "INSERT INTO autonomous_rules (name, rule_type, conditions, action, account_ids)"
            ' VALUES (\'mine\', \'pause\', \'{"all": [{"metric": "roi", "op": "lt", "value": 0.2}]}\','
            ' \'{"type": "pause"}\', ARRAY[$1::uuid])',
            [ids["ad_account"]],
        ),
    }[table]


@pytest.mark.parametrize("table", sorted(SCOPED_WRITES))
async def test_a_scoped_role_writes_its_own_account_and_nothing_else(db, two_clients, table):
    _, a, b = two_clients
    sql, params = _own_insert(table, a)
    async with db.transaction():
        await _as_api_role(db, scoped(a["ad_account"]))
        await db.execute(sql, *params)
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 2
    # the same row in B's account: refused by the policy (42501); a rule naming B is refused first
    # by its own check, which finds no such account among those the role sees
    sql, params = _own_insert(table, b)
    refused = (
        asyncpg.PostgresError if table == "autonomous_rules" else asyncpg.InsufficientPrivilegeError
    )
    with pytest.raises(refused, match="no ad account has this id|row-level security"):
        async with db.transaction():
            await _as_api_role(db, scoped(a["ad_account"]))
            await db.execute(sql, *params)


async def test_a_scoped_role_cannot_add_to_the_agencys_tables(db, two_clients):
    agency, a, _ = two_clients
    own = {**agency, **a}  # the foreign keys from the client's own rows where the table has them
    for table in sorted(set(TABLES) - SCOPED_WRITES):
        sql, params = INSERTS[table]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.transaction():
                await _as_api_role(db, scoped(a["ad_account"]))
                await db.execute(sql, *[own[p] for p in params])
                pytest.fail(f"{table}: a scoped role added a row")


async def test_a_scoped_role_updates_its_accounts_rows_only_and_deletes_nothing(db, two_clients):
    _, a, b = two_clients
    for table in TABLES:
        await _updates_and_deletes(db, table, scoped(a["ad_account"]), b)


async def _updates_and_deletes(
    db: asyncpg.Connection, table: str, claims: dict[str, Any], b: dict[str, str]
) -> None:
    if table in INSERT_ONLY | READ_ONLY:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.transaction():
                await _as_api_role(db, claims)
                await db.execute(RLS_UPDATES[table])
    else:
        async with db.transaction():
            await _as_api_role(db, claims)
            touched = 1 if table in SCOPED_WRITES else 0
            assert await db.execute(RLS_UPDATES[table]) == f"UPDATE {touched}", table
    refused = (
        asyncpg.RestrictViolationError
        if table == "campaign_metrics"
        else asyncpg.InsufficientPrivilegeError
    )
    with pytest.raises(refused):
        async with db.transaction():
            await _as_api_role(db, claims)
            await db.execute(f"DELETE FROM {table}")
    # and a row of its own is never moved into another account
    if table == "campaigns":
        with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.RestrictViolationError)):
            async with db.transaction():
                await _as_api_role(db, claims)
                await db.execute("UPDATE campaigns SET account_id = $1", b["ad_account"])


# -- the API -------------------------------------------------------------------------------------------


def token_for(claims: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    body = {"aud": "authenticated", "iat": now, "exp": now + 600, **claims}
    return {"Authorization": "Bearer " + jwt.encode(body, TEST_SECRET, algorithm="HS256")}


def scoped_headers(*accounts: str) -> dict[str, str]:
    return {
        "Authorization": "Bearer "
        + mint_token(TEST_SECRET, "authenticated", "scoped", accounts=list(accounts))
    }


# The routes a scoped token may use; every other route of the API is the agency's (403).
ACCOUNT_ROUTES = {
    ("GET", "/actions"),
    ("GET", "/actions/{action_id}"),
    ("POST", "/actions/{action_id}/rollback"),
    ("POST", "/actions/{action_id}/approve"),
    ("POST", "/actions/{action_id}/reject"),
    ("GET", "/ad-accounts"),
    ("GET", "/ad-accounts/{ad_account_id}"),
    ("GET", "/ad-accounts/{ad_account_id}/syncs"),
    ("GET", "/ad-accounts/{ad_account_id}/maturity"),
    ("GET", "/campaigns"),
    ("GET", "/campaigns/underperforming"),
    ("GET", "/campaigns/scaling-candidates"),
    ("GET", "/campaigns/{campaign_id}"),
    ("PATCH", "/campaigns/{campaign_id}"),
    ("GET", "/campaigns/{campaign_id}/metrics"),
    ("GET", "/opportunities"),
    ("GET", "/opportunities/{opportunity_id}"),
    ("POST", "/opportunities/{opportunity_id}/start"),
    ("POST", "/opportunities/{opportunity_id}/resolve"),
    ("POST", "/opportunities/{opportunity_id}/dismiss"),
    ("GET", "/platform-changes"),
    ("GET", "/rules"),
    ("POST", "/rules"),
    ("GET", "/rules/{rule_id}"),
    ("PATCH", "/rules/{rule_id}"),
    ("POST", "/rules/preview"),
    ("GET", "/settings"),
    ("GET", "/stats"),
    ("GET", "/stats/daily"),
}
PATH_OBJECTS = {
    "action_id": "action",
    "ad_account_id": "ad_account",
    "campaign_id": "campaign",
    "opportunity_id": "opportunity",
    "rule_id": "rule",
}


def api_routes(app) -> list[tuple[str, str]]:
    schema = app.openapi()
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    )


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: ids.get(PATH_OBJECTS.get(m.group(1), ""), str(uuid.uuid4())), path
    )


def test_every_route_is_classified(settings):
    routes = set(api_routes(create_app(settings)))
    assert routes >= ACCOUNT_ROUTES, ACCOUNT_ROUTES - routes


async def test_agency_routes_are_403_for_a_scoped_token(client, settings, two_clients):
    _, a, _ = two_clients
    headers = scoped_headers(a["ad_account"])
    for method, path in api_routes(create_app(settings)):
        if (method, path) in ACCOUNT_ROUTES or path in ("/healthz", "/readyz", "/metrics"):
            continue
        r = await client.request(method, fill(path, a), headers=headers, json={})
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "account-scoped" in r.json()["detail"]


async def test_another_accounts_objects_are_404_for_a_scoped_token(client, two_clients):
    agency, a, b = two_clients
    headers = scoped_headers(a["ad_account"])
    bodies = {"PATCH": {}, "POST": {}}
    for method, path in sorted(ACCOUNT_ROUTES):
        if "{" not in path:
            continue
        # B's object: as if it did not exist
        r = await client.request(method, fill(path, b), headers=headers, json=bodies.get(method))
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert "Client B" not in r.text
        # the same route on A's own object is answered (a refusal of what it asks at most)
        r = await client.request(method, fill(path, a), headers=headers, json=bodies.get(method))
        assert r.status_code not in (403, 404), (method, path, r.status_code, r.text)
    assert agency  # the agency's rows exist and are not A's


async def test_lists_show_a_scoped_token_its_accounts_only(client, two_clients):
    agency, a, b = two_clients
    headers = scoped_headers(a["ad_account"])
    for method, path in sorted(ACCOUNT_ROUTES):
        if "{" in path or method != "GET":
            continue
        r = await client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
        for foreign in (b["campaign"], b["ad_account"], b["action"], b["rule"], agency["campaign"]):
            assert foreign not in r.text, (path, foreign)
    campaigns = (await client.get("/campaigns", headers=headers)).json()["items"]
    assert [c["id"] for c in campaigns] == [a["campaign"]]
    accounts = (await client.get("/ad-accounts", headers=headers)).json()["items"]
    assert [x["id"] for x in accounts] == [a["ad_account"]]
    rules = (await client.get("/rules", headers=headers)).json()["items"]
    assert [x["id"] for x in rules] == [a["rule"]]  # not B's, not the agency's rules for all
    settings = (await client.get("/settings", headers=headers)).json()
    assert list(settings["account_overrides"]) == [a["ad_account"]]
    stats = (await client.get("/stats", headers=headers)).json()
    assert stats["paused"] == 1 and stats["total_actions"] == 1 and stats["last_cycle"] is None
    # an admin sees everything
    every = (await client.get("/campaigns?limit=100", headers=auth())).json()["items"]
    assert {a["campaign"], b["campaign"], agency["campaign"]} <= {c["id"] for c in every}


async def test_a_scoped_token_acts_on_its_account(client, db, two_clients):
    _, a, b = two_clients
    headers = scoped_headers(a["ad_account"])
    # a rule for its account; one for every account or for B is refused in words (no id leaks)
    body = {
        "name": "A's losers",
        "rule_type": "pause",
        "action": {"type": "pause"},
        "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 0.3}]},
    }
    r = await client.post(
        "/rules", json={**body, "account_ids": [a["ad_account"]]}, headers=headers
    )
    assert r.status_code == 201, r.text
    for account_ids, field in ((None, "account_ids"), ([b["ad_account"]], "account_ids[0]")):
        r = await client.post("/rules", json={**body, "account_ids": account_ids}, headers=headers)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    # its campaign paused by hand, its action rolled back
    r = await client.patch(
        f"/campaigns/{a['campaign']}", json={"status": "paused"}, headers=headers
    )
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    r = await client.post(f"/actions/{a['action']}/rollback", json={}, headers=headers)
    assert r.status_code in (200, 201, 409), r.text
    assert (
        await db.fetchval("SELECT status FROM campaigns WHERE id = $1", b["campaign"]) == "active"
    )


@pytest.mark.parametrize(
    "accounts",
    [[], ["not-a-uuid"], "all", [1], [str(uuid.uuid4())] * 201],
    ids=["empty", "not-uuid", "not-a-list", "numbers", "too-many"],
)
async def test_a_token_naming_no_account_or_a_malformed_list_is_403(client, accounts):
    headers = token_for({"role": "authenticated", "app_metadata": {"accounts": accounts}})
    for path in ("/campaigns", "/stats", "/cycles"):
        r = await client.get(path, headers=headers)
        assert r.status_code == 403, r.text
        assert "app_metadata.accounts" in r.json()["detail"]


def test_the_cli_mints_a_scoped_token(capsys, monkeypatch):
    from app.cli import main

    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    account = str(uuid.uuid4())
    assert main(["token", "--accounts", account, "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["app_metadata"] == {"accounts": [account]}
    assert "role" not in claims["app_metadata"]
    assert json.dumps(claims)  # a plain JSON token, as Supabase would issue
