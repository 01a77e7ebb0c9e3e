"""A rule applies to every ad account, or only to those it lists (account_ids)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import auth
from tests.scenario import campaign


@pytest.fixture
def api(client):
    client.headers.update(auth())
    return client


async def manual_account(api, external_id: str) -> str:
    r = await api.post(
        "/ad-accounts",
        json={
            "platform": "manual",
            "external_id": external_id,
            "name": external_id,
            "currency": "USD",
            "timezone": "UTC",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_a_rule_listing_accounts_acts_on_their_campaigns_only(api, db):
    a, b = await manual_account(api, "client-a"), await manual_account(api, "client-b")
    losers = {}
    for account in (a, b):
        cid = await campaign(db, spend=200, revenue=20, hours=100, account_id=account)
        losers[account] = cid
    await db.execute("UPDATE autonomous_rules SET is_active = false")
    r = await api.post(
        "/rules",
        json={
            "name": "Client A losers",
            "rule_type": "pause",
            "account_ids": [a],
            "action": {"type": "pause"},
            "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 0.5}]},
        },
    )
    assert r.status_code == 201 and r.json()["account_ids"] == [a], r.text
    rule = r.json()["id"]
    summary = (await api.post("/cycles", json={"dry_run": True})).json()
    assert [x["campaign_id"] for x in summary["actions"]] == [str(losers[a])]
    # null: every account again
    r = await api.patch(f"/rules/{rule}", json={"account_ids": None})
    assert r.status_code == 200 and r.json()["account_ids"] is None
    summary = (await api.post("/cycles", json={"dry_run": True})).json()
    assert sorted(x["campaign_id"] for x in summary["actions"]) == sorted(map(str, losers.values()))


async def test_a_rule_listing_an_unknown_account_is_refused_naming_it(api, db):
    a = await manual_account(api, "client-a")
    body = {
        "name": "Somebody else's",
        "rule_type": "pause",
        "account_ids": [a, str(uuid.uuid4())],
        "action": {"type": "pause"},
        "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 0.5}]},
    }
    r = await api.post("/rules", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "account_ids[1]"
    assert "no ad account" in r.json()["errors"][0]["message"]
    r = await api.post("/rules", json={**body, "account_ids": []})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "account_ids"
    assert (
        await db.fetchval("SELECT count(*) FROM autonomous_rules WHERE name = $1", body["name"])
        == 0
    )
