"""Campaign endpoints: create, read with derived ratios, update, list with cursor pagination."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import auth, make_campaign


async def test_create_and_get(client):
    c = await make_campaign(
        client,
        title="Spring sale",
        daily_budget=120.5,
        max_budget=500,
        landing_url="https://shop.example.com/sale?ref=1",
    )
    assert c["status"] == "active" and c["started_at"] is not None
    assert c["daily_budget"] == 120.5 and c["max_budget"] == 500
    assert c["roi"] is None and c["ctr"] is None
    r = await client.get(f"/campaigns/{c['id']}", headers=auth())
    assert r.status_code == 200 and r.json()["title"] == "Spring sale"


async def test_draft_has_no_start_until_activated(client):
    c = await make_campaign(client, status="draft")
    assert c["started_at"] is None
    r = await client.patch(f"/campaigns/{c['id']}", json={"status": "active"}, headers=auth())
    assert r.status_code == 200 and r.json()["started_at"] is not None


async def test_duplicate_external_id_is_409(client):
    await make_campaign(client, external_id="dup")
    r = await client.post("/campaigns", json={"external_id": "dup", "title": "x"}, headers=auth())
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "external_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "a", "title": "t", "status": "running"}, "status"),
        ({"external_id": "a", "title": "t", "daily_budget": -5}, "daily_budget"),
        ({"external_id": "a", "title": "t", "daily_budget": 100, "max_budget": 50}, ""),
        ({"external_id": "a", "title": ""}, "title"),
        ({"title": "t"}, "external_id"),
        ({"external_id": "a", "title": "t", "landing_url": "javascript:alert(1)"}, "landing_url"),
        ({"external_id": "a", "title": "t", "colour": "red"}, "colour"),
    ],
)
async def test_create_refuses_bad_input(client, db, body, field):
    r = await client.post("/campaigns", json=body, headers=auth())
    assert r.status_code == 422, r.text
    assert any(field in e["field"] for e in r.json()["errors"])
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_patch_changes_only_named_fields(client):
    c = await make_campaign(client, description="keep me", daily_budget=100, max_budget=300)
    r = await client.patch(
        f"/campaigns/{c['id']}", json={"daily_budget": 150, "cta_label": None}, headers=auth()
    )
    assert r.status_code == 200
    got = r.json()
    assert (
        got["daily_budget"] == 150 and got["description"] == "keep me" and got["max_budget"] == 300
    )


async def test_patch_max_budget_below_budget_is_422(client):
    c = await make_campaign(client, daily_budget=100)
    r = await client.patch(f"/campaigns/{c['id']}", json={"max_budget": 10}, headers=auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "max_budget"


async def test_patch_null_title_and_unknown_field_are_422(client):
    c = await make_campaign(client)
    assert (
        await client.patch(f"/campaigns/{c['id']}", json={"title": None}, headers=auth())
    ).status_code == 422
    assert (
        await client.patch(f"/campaigns/{c['id']}", json={"external_id": "z"}, headers=auth())
    ).status_code == 422


async def test_unknown_campaign_is_404_problem(client):
    for r in (
        await client.get(f"/campaigns/{uuid.uuid4()}", headers=auth()),
        await client.patch(f"/campaigns/{uuid.uuid4()}", json={"title": "x"}, headers=auth()),
    ):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    # Ids route only as UUIDs: anything else names no resource (and /campaigns/underperforming
    # is never taken for an id).
    r = await client.get("/campaigns/not-a-uuid", headers=auth())
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.patch("/campaigns/underperforming", json={"title": "x"}, headers=auth())
    assert r.status_code == 405 and r.headers["allow"] == "GET"


async def test_list_paginates_with_cursor_and_filters(client):
    made = [await make_campaign(client, status="active" if i % 2 else "paused") for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/campaigns", params=params, headers=auth())).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(c["id"] for c in made) and len(seen) == 7
    paused = (await client.get("/campaigns", params={"status": "paused"}, headers=auth())).json()
    assert {c["status"] for c in paused["items"]} == {"paused"} and len(paused["items"]) == 4


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"cursor": "garbage!"}, {"status": "x"}]
)
async def test_list_refuses_bad_params(client, params):
    r = await client.get("/campaigns", params=params, headers=auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] in params
