"""Rules and settings endpoints: the DSL's whitelists and every refusal of bad input."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import auth

LEAF = {"metric": "roi", "op": "lt", "value": 0.8, "window": "last_7d"}


def _rule(**overrides):
    body = {
        "name": f"Rule {uuid.uuid4().hex[:6]}",
        "rule_type": "pause",
        "priority": 70,
        "conditions": {"all": [LEAF, {"metric": "spend", "op": "gte", "value": 100}]},
        "action": {"type": "pause"},
    }
    body.update(overrides)
    return body


async def test_rules_listed_by_priority_with_words(client):
    items = (await client.get("/rules", headers=auth())).json()["items"]
    assert [r["priority"] for r in items] == [100, 90, 85, 80, 50]
    assert items[0]["conditions_text"] == "roi < 0.5 and spend ≥ 50"
    assert all(r["is_builtin"] for r in items)


async def test_create_custom_rule_and_it_acts(client, db):
    from tests.scenario import actions_of, campaign

    r = await client.post("/rules", json=_rule(name="Weekly loser", priority=95), headers=auth())
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (
        rule["conditions_text"] == "roi (last 7d) < 0.8 and spend ≥ 100" and not rule["is_builtin"]
    )
    assert rule["created_by"]
    cid = await campaign(db, hours=30, spend=150, revenue=100, conversions=20)  # ROI 0.67
    await client.post("/cycles", headers=auth())
    assert [a["rule_name"] for a in await actions_of(db, cid)] == ["Weekly loser"]


async def test_nested_groups_compile(client):
    cond = {
        "any": [
            {"all": [LEAF, {"any": [{"metric": "ctr", "op": "between", "value": [0.001, 0.01]}]}]},
            {"metric": "frequency", "op": "gt", "value": 4, "window": "last_7d"},
        ]
    }
    r = await client.post("/rules", json=_rule(conditions=cond), headers=auth())
    assert r.status_code == 201, r.text
    assert r.json()["conditions_text"] == (
        "(roi (last 7d) < 0.8 and ctr between 0.001 and 0.01 or frequency (last 7d) > 4)"
    )


@pytest.mark.parametrize(
    ("conditions", "field", "hint"),
    [
        ({"all": [{**LEAF, "metric": "profit"}]}, "conditions.all[0].metric", "roi, spend"),
        ({"all": [{**LEAF, "op": "below"}]}, "conditions.all[0].op", "lt, lte"),
        ({"all": [{**LEAF, "window": "last_year"}]}, "conditions.all[0].window", "last_24h"),
        ({"all": [{**LEAF, "value": "1"}]}, "conditions.all[0].value", "finite number"),
        (
            {"all": [{**LEAF, "op": "between", "value": [2, 1]}]},
            "conditions.all[0].value",
            "low <= high",
        ),
        (
            {"all": [{**LEAF, "op": "between", "value": 1}]},
            "conditions.all[0].value",
            "[low, high]",
        ),
        ({"all": [{**LEAF, "colour": "red"}]}, "conditions.all[0].colour", "unknown key"),
        ({"all": []}, "conditions.all", "non-empty"),
        ({"none": [LEAF]}, "conditions", "must be"),
        (
            {"all": [{"all": [{"all": [{"all": [LEAF]}]}]}]},
            "conditions.all[0].all[0].all[0]",
            "3 deep",
        ),
        (
            {"all": [{"metric": "hours_running", "op": "gt", "value": 5, "window": "last_7d"}]},
            "conditions.all[0].window",
            "no window",
        ),
    ],
)
async def test_bad_conditions_are_422_naming_the_part(client, db, conditions, field, hint):
    r = await client.post("/rules", json=_rule(conditions=conditions), headers=auth())
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["field"] == field, err
    assert hint in err["message"]
    assert await db.fetchval("SELECT count(*) FROM autonomous_rules") == 5


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
async def test_non_finite_values_are_refused(client, literal):
    text = (
        '{"name": "x", "rule_type": "pause", "conditions": {"all": [{"metric": "roi", "op": "lt", "value": '
        + literal
        + '}]}, "action": {"type": "pause"}}'
    )
    r = await client.post(
        "/rules", content=text, headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"rule_type": "scale", "action": {"type": "scale_budget", "factor": 1.0}},
            "action.factor",
        ),
        (
            {"rule_type": "scale", "action": {"type": "scale_budget", "factor": 2.5}},
            "action.factor",
        ),
        ({"rule_type": "scale", "action": {"type": "scale_budget"}}, "action.factor"),
        ({"rule_type": "scale", "action": {"type": "pause"}}, "action.type"),
        ({"action": {"type": "pause", "factor": 2}}, "action.factor"),
        ({"priority": 1001}, "priority"),
        ({"priority": -1}, "priority"),
        ({"rule_type": "delete"}, "rule_type"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"cooldown_hours": -1}, "cooldown_hours"),
        ({"name": ""}, "name"),
    ],
)
async def test_bad_rules_are_refused(client, overrides, field):
    r = await client.post("/rules", json=_rule(**overrides), headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


async def test_duplicate_rule_name_is_409(client):
    await client.post("/rules", json=_rule(name="Same"), headers=auth())
    r = await client.post("/rules", json=_rule(name="Same"), headers=auth())
    assert r.status_code == 409


async def test_patch_rule_and_builtin_guards(client, db):
    builtin = (await client.get("/rules", headers=auth())).json()["items"][0]
    r = await client.patch(
        f"/rules/{builtin['id']}", json={"is_active": False, "priority": 99}, headers=auth()
    )
    assert r.status_code == 200 and r.json()["is_active"] is False and r.json()["priority"] == 99
    again = (await client.get(f"/rules/{builtin['id']}", headers=auth())).json()
    assert again["is_active"] is False and again["updated_by"]
    r = await client.patch(f"/rules/{builtin['id']}", json={"rule_type": "scale"}, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rule_type"
    r = await client.patch(
        f"/rules/{builtin['id']}", json={"conditions": {"all": [{"metric": "x"}]}}, headers=auth()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "conditions.all[0].metric"
    r = await client.patch(f"/rules/{builtin['id']}", json={"priority": None}, headers=auth())
    assert r.status_code == 422
    r = await client.delete(f"/rules/{builtin['id']}", headers=auth())
    assert (
        r.status_code == 405
        and "is_active" in r.json()["detail"]
        and r.headers["allow"] == "GET, PATCH"
    )
    assert await db.fetchval("SELECT count(*) FROM autonomous_rules") == 5
    assert (
        await client.patch(f"/rules/{uuid.uuid4()}", json={"priority": 1}, headers=auth())
    ).status_code == 404
    # The database refuses the same through psql.
    import asyncpg

    with pytest.raises(asyncpg.PostgresError, match="rule_type"):
        await db.execute(
            "UPDATE autonomous_rules SET rule_type = 'post' WHERE id = $1", uuid.UUID(builtin["id"])
        )


async def test_inactive_rule_does_not_act(client, db):
    from tests.scenario import actions_of, campaign

    rules = (await client.get("/rules", headers=auth())).json()["items"]
    critical = next(r for r in rules if r["name"] == "Critical ROI Pause")
    await client.patch(f"/rules/{critical['id']}", json={"is_active": False}, headers=auth())
    cid = await campaign(db, hours=10, spend=200, revenue=40, conversions=2)
    await client.post("/cycles", headers=auth())
    assert await actions_of(db, cid) == []


async def test_settings_read_and_patch(client, db):
    s = (await client.get("/settings", headers=auth())).json()
    assert s["min_spend"] == 50 and s["max_scale_factor"] == 2 and s["min_scale_confidence"] == 0.75
    r = await client.patch(
        "/settings", json={"min_spend": 75, "rollback_quiet_hours": 24}, headers=auth()
    )
    assert r.status_code == 200
    assert (
        r.json()["min_spend"] == 75
        and r.json()["rollback_quiet_hours"] == 24
        and r.json()["updated_by"]
    )
    assert r.json()["max_scale_factor"] == 2  # untouched
    from tests.scenario import campaign, state

    cid = await campaign(db, hours=10, spend=60, revenue=10, conversions=1)  # under the new minimum
    await client.post("/cycles", headers=auth())
    assert (await state(db, cid))[0] == "active"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_scale_factor": 1}, "max_scale_factor"),
        ({"max_scale_factor": 11}, "max_scale_factor"),
        ({"min_scale_confidence": 2}, "min_scale_confidence"),
        ({"min_spend": -1}, "min_spend"),
        ({"colour": "red"}, "colour"),
        ({"post_lead_minutes": "soon"}, "post_lead_minutes"),
    ],
)
async def test_bad_settings_are_refused(client, body, field):
    r = await client.patch("/settings", json=body, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field


async def test_max_scale_factor_cannot_drop_below_a_rules_factor(client):
    r = await client.patch("/settings", json={"max_scale_factor": 1.8}, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "max_scale_factor"
    assert (await client.get("/settings", headers=auth())).json()["max_scale_factor"] == 2
