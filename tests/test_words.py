"""What a user reads: a reason quotes the figures its rule used (in their windows), every date-time
parameter also takes a plain date, every refusal says in words what is accepted (with an example)
and never shows a regular expression, and a held cycle shows the figures behind its ratios."""

from __future__ import annotations

import re
from typing import Any

from app.main import create_app
from app.models.common import PATTERN_MESSAGES
from tests.conftest import auth, make_campaign
from tests.scenario import bare_campaign, campaign, cycle, periods
from tests.test_limits import BROKEN_FEED, default_limits, portfolio  # noqa: F401 (a fixture)

WEEKLY_LOSER = {
    "name": "Weekly loser",
    "rule_type": "pause",
    "priority": 95,
    "action": {"type": "pause"},
    "conditions": {
        "all": [
            {"metric": "roi", "op": "lt", "value": 0.8, "window": "last_7d"},
            {"metric": "spend", "op": "gte", "value": 100},
        ]
    },
}


async def test_a_reason_quotes_the_figures_of_its_rules_own_windows(client, db):
    # A lifetime winner (ROI 2.38) that lost money this week (ROI 0.50 over the last 7 days).
    cid = await bare_campaign(db, hours=24 * 30)
    await periods(
        db,
        cid,
        [
            (24 * 20, 24, {"spend": 300, "revenue": 900, "clicks": 150, "impressions": 6000}),
            (24 * 6, 24, {"spend": 100, "revenue": 50, "clicks": 50, "impressions": 2000}),
        ],
    )
    r = await client.post("/rules", json=WEEKLY_LOSER, headers=auth())
    assert r.status_code == 201, r.text
    summary = await cycle(db)
    (pause,) = [a for a in summary["actions"] if a["action_type"] == "pause"]
    lifetime = await db.fetchval(
        "SELECT round(revenue / spend, 2) FROM campaigns WHERE id = $1", cid
    )
    week = await db.fetchval(
        "SELECT round(sum(revenue) / sum(spend), 2) FROM campaign_metrics"
        " WHERE campaign_id = $1 AND period_end > now() - interval '7 days'",
        cid,
    )
    assert week < 0.8 < lifetime
    spend = await db.fetchval("SELECT spend FROM campaigns WHERE id = $1", cid)
    assert pause["reason"] == (
        f"ROI over the last 7 days {week:.2f}×, spend ${spend:,.2f}"
        " (Weekly loser: roi (last 7d) < 0.8 and spend ≥ 100)"
    )
    assert f"{lifetime:.2f}×" not in pause["reason"]


async def test_the_builtin_rules_quote_each_figure_they_read(db):
    cid = await campaign(
        db,
        hours=72,
        spend=250,
        revenue=150,
        conversions=4,
        recent={"spend": 100, "revenue": 30, "conversions": 1},
    )
    summary = await cycle(db)
    (pause,) = [a for a in summary["actions"] if a["campaign_id"] == str(cid)]
    assert pause["rule_name"] == "Low ROI Pause"
    assert pause["reason"] == (
        "ROI 0.60×, ROI over the last 48 h 0.30×, spend $250.00, hours running 72.0"
        " (Low ROI Pause: roi < 1.0 and roi (last 48h) < 1.0 and spend ≥ 50 and hours running ≥ 48)"
    )


async def test_every_date_time_parameter_also_takes_a_plain_date(client, db):
    c = await make_campaign(client, started_at="2026-10-01")
    assert c["started_at"].startswith("2026-10-01T00:00:00")
    rows = [
        {
            "campaign_id": c["id"],
            "period_start": "2026-11-01",
            "period_end": "2026-11-02",
            "spend": 10,
            "clicks": 5,
            "impressions": 100,
        }
    ]
    r = await client.post("/metrics", json={"rows": rows}, headers=auth())
    assert r.status_code == 200, r.text
    start = await db.fetchval("SELECT period_start FROM campaign_metrics")
    assert start.isoformat() == "2026-11-01T00:00:00+00:00"
    r = await client.get(
        f"/campaigns/{c['id']}/metrics",
        params={"from": "2026-11-01", "to": "2026-11-03"},
        headers=auth(),
    )
    assert r.status_code == 200, r.text
    assert [p["spend"] for p in r.json()["points"]] == [10, 0]
    r = await client.patch(
        f"/campaigns/{c['id']}", json={"started_at": "2026-10-02"}, headers=auth()
    )
    assert r.status_code == 200 and r.json()["started_at"].startswith("2026-10-02T00:00:00")
    r = await client.post(
        "/backtests", json={"from": "2026-11-01", "to": "2026-11-03"}, headers=auth()
    )
    assert r.status_code == 202, r.text
    assert r.json()["from"].startswith("2026-11-01T00:00:00")
    r = await client.post(
        "/social-accounts",
        json={
            "platform": "facebook",
            "account_id": "page-1",
            "access_token": "EAAG" + "x" * 20,
            "token_expires_at": "2027-01-01",
        },
        headers=auth(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["token_expires_at"].startswith("2027-01-01T00:00:00")


async def test_a_malformed_date_time_is_refused_in_words_with_an_example(client):
    c = await make_campaign(client)
    for bad in ("20261101", "1700000000", "2026-13-01", "2026-11-01T25:00", "next monday"):
        r = await client.get(f"/campaigns/{c['id']}/metrics", params={"from": bad}, headers=auth())
        assert r.status_code == 422, (bad, r.text)
        (error,) = r.json()["errors"]
        assert error["field"] == "from"
        assert "2026-11-01T08:30:00Z" in error["message"] and "2026-11-01" in error["message"]
        assert not _looks_like_a_regex(r.text)
        rows = [{"campaign_id": c["id"], "period_start": bad, "period_end": "2026-11-02"}]
        r = await client.post("/metrics", json={"rows": rows}, headers=auth())
        assert r.status_code == 422 and "2026-11-01T08:30:00Z" in r.text


def _looks_like_a_regex(text: str) -> bool:
    return bool(re.search(r"\^\[|\\x[0-9A-Fa-f]{2}|\]\+\$|\{\d+,?\d*\}\$|\(\?:", text))


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


async def test_every_pattern_is_refused_in_words_never_as_itself(settings, client):
    doc = create_app(settings).openapi()
    patterns = set(_patterns(doc))
    assert patterns and patterns <= set(PATTERN_MESSAGES), patterns - set(PATTERN_MESSAGES)
    for words in PATTERN_MESSAGES.values():
        assert "e.g." in words or "next_cursor" in words, words
    # A value against each kind of pattern, through the API.
    c = await make_campaign(client)
    refusals = [
        await client.patch(f"/campaigns/{c['id']}", json={"title": "a\x01b"}, headers=auth()),
        await client.patch(
            f"/campaigns/{c['id']}", json={"landing_url": "ftp://x"}, headers=auth()
        ),
        await client.get("/campaigns", params={"cursor": "not-a-cursor"}, headers=auth()),
        await client.get("/opportunities", params={"cursor": "x"}, headers=auth()),
        await client.post("/cycles", headers={**auth(), "Idempotency-Key": "has space"}),
        await client.post(
            "/social-accounts",
            json={"platform": "x", "account_id": "bad id!", "access_token": "t" * 20},
            headers=auth(),
        ),
    ]
    for r in refusals:
        assert r.status_code == 422, r.text
        assert not _looks_like_a_regex(r.text), r.text
        assert all(e["message"] in PATTERN_MESSAGES.values() for e in r.json()["errors"]), r.text


async def test_a_held_cycle_shows_the_figures_behind_its_ratios(db):
    await portfolio(db, [{"name": f"c{i}", "days": BROKEN_FEED} for i in range(10)])
    summary = await db.fetchval("SELECT run_autonomous_operations_with_posting()")
    assert summary["status"] == "held"
    limits = summary["limits"]
    # 10 campaigns: 100 spend, 110 revenue, 2 conversions a day for 7 days, then 100, 0, 0.
    assert float(limits["revenue_24h"]) == 0 and float(limits["revenue_7d_daily_average"]) == 1100
    assert float(limits["conversions_24h"]) == 0
    assert float(limits["conversions_7d_daily_average"]) == 20
    assert float(limits["spend_24h"]) == 1000 and float(limits["spend_7d_daily_average"]) == 1000
    event = await db.fetchval("SELECT summary FROM autonomous_cycles WHERE status = 'held'")
    assert event["limits"]["revenue_7d_daily_average"] == limits["revenue_7d_daily_average"]
    # held back is one word family: held_code and held_reason, their former names kept beside them
    held = summary["held_back"]
    assert held and all(h["held_code"] == h["blocked_code"] == "data_outage" for h in held)
    assert all(h["held_reason"] == h["blocked_reason"] and h["held_reason"] for h in held)
