"""The endpoints behind the dashboard's charts and rule preview, and the words of durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import auth
from tests.scenario import campaign, cycle


async def test_a_campaigns_series_has_a_point_per_bucket(client, db):
    cid = await campaign(db, spend=100, revenue=40, hours=100)
    end = datetime.now(UTC)
    r = await client.get(
        f"/campaigns/{cid}/metrics",
        params={"from": (end - timedelta(days=6)).isoformat(), "to": end.isoformat()},
        headers=auth(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bucket"] == "day" and "from" in body and len(body["points"]) == 7
    assert sum(p["spend"] for p in body["points"]) == 100  # every row lands in a bucket once
    hourly = await client.get(
        f"/campaigns/{cid}/metrics",
        params={
            "bucket": "hour",
            "from": (end - timedelta(hours=5)).isoformat(),
            "to": end.isoformat(),
        },
        headers=auth(),
    )
    assert len(hourly.json()["points"]) in (5, 6)


async def test_series_bounds_are_422_and_an_unknown_campaign_404(client, db):
    cid = await campaign(db)
    end = datetime.now(UTC)
    too_long = await client.get(
        f"/campaigns/{cid}/metrics",
        params={
            "bucket": "hour",
            "from": (end - timedelta(days=40)).isoformat(),
            "to": end.isoformat(),
        },
        headers=auth(),
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "to"
    backwards = await client.get(
        f"/campaigns/{cid}/metrics",
        params={"from": end.isoformat(), "to": (end - timedelta(days=1)).isoformat()},
        headers=auth(),
    )
    assert backwards.status_code == 422
    missing = await client.get(
        "/campaigns/6b0a3c0e-0000-4000-8000-000000000000/metrics", headers=auth()
    )
    assert missing.status_code == 404


async def test_daily_stats_count_actions_and_the_money_in_effect(client, db):
    await campaign(db, spend=200, revenue=20)  # Critical ROI Pause
    summary = await cycle(db)
    assert summary["paused"] == 1
    days = (await client.get("/stats/daily?days=7", headers=auth())).json()["series"][0]["days"]
    assert len(days) == 7 and days[-1]["paused"] == 1
    action = await db.fetchrow("SELECT * FROM autonomous_actions")
    assert days[-1]["expected_saved"] == float(action["expected_impact"]["daily_loss_avoided"])
    assert all(d["paused"] == 0 and d["expected_saved"] == 0 for d in days[:-1])
    # rolled back today: no longer in effect from today on
    await db.execute("SELECT rollback_autonomous_action($1, 'test', false)", action["id"])
    days = (await client.get("/stats/daily?days=7", headers=auth())).json()["series"][0]["days"]
    assert days[-1]["paused"] == 1 and days[-1]["expected_saved"] == 0
    assert (await client.get("/stats/daily?days=400", headers=auth())).status_code == 422


async def test_a_rule_preview_shows_what_it_would_do_and_keeps_nothing(client, db):
    loser = await campaign(db, spend=300, revenue=100, hours=100)  # ROI 0.33
    await campaign(db, spend=300, revenue=600, hours=100)  # ROI 2
    before = await db.fetch("SELECT id, is_active FROM autonomous_rules ORDER BY id")
    body = {
        "rule_type": "pause",
        "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 0.5}]},
        "action": {"type": "pause"},
    }
    r = await client.post("/rules/preview", json=body, headers=auth())
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["evaluated"] == 2
    assert [(i["campaign_id"], i["action_type"], i["held_code"]) for i in preview["items"]] == [
        (str(loser), "pause", None)
    ]
    assert preview["items"][0]["reason"].startswith("ROI 0.33×")
    assert await db.fetch("SELECT id, is_active FROM autonomous_rules ORDER BY id") == before
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0
    assert await db.fetchval("SELECT status FROM campaigns WHERE id = $1", loser) == "active"
    # a guardrail holds back: below min_spend
    held = await client.post(
        "/rules/preview",
        json={**body, "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 5}]}},
        headers=auth(),
    )
    assert {i["held_code"] for i in held.json()["items"]} == {None}
    bad = await client.post(
        "/rules/preview",
        json={**body, "conditions": {"all": [{"metric": "mood", "op": "lt", "value": 1}]}},
        headers=auth(),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].startswith("conditions.all[0].metric")


async def test_opportunities_by_attention_put_severity_then_money_first(client, db):
    small = await campaign(db, spend=60, clicks=300, impressions=100_000)
    big = await campaign(db, spend=900, clicks=300, impressions=100_000)
    for cid, severity in ((small, "high"), (big, "medium")):
        await db.execute(
            "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,"
            " suggested_action) VALUES ($1, 'low_conversion', $2, 'd', 's')",
            cid,
            severity,
        )
    other = await campaign(db, spend=5000, clicks=300, impressions=100_000)
    await db.execute(
        "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,"
        " suggested_action) VALUES ($1, 'audience_mismatch', 'medium', 'd', 's')",
        other,
    )
    page = (await client.get("/opportunities?sort=attention&limit=2", headers=auth())).json()
    assert [i["campaign_id"] for i in page["items"]] == [str(small), str(other)]
    assert page["next_cursor"] == "2"
    rest = (
        await client.get(
            f"/opportunities?sort=attention&limit=2&cursor={page['next_cursor']}", headers=auth()
        )
    ).json()
    assert [i["campaign_id"] for i in rest["items"]] == [str(big)] and rest["next_cursor"] is None
    mixed = await client.get("/opportunities?sort=newest&cursor=2", headers=auth())
    assert mixed.status_code == 422


async def test_durations_read_as_people_say_them(db):
    said = await db.fetch(
        "SELECT ao_duration(d) AS w FROM unnest(ARRAY[interval '20 seconds', interval '12 minutes',"
        " interval '3 hours 10 minutes', interval '5 hours', interval '2 days 4 hours', interval '3 days']) d"
    )
    assert [r["w"] for r in said] == ["just now", "12 min", "3 h 10 min", "5 h", "2 d 4 h", "3 d"]
