"""Blast-radius limits: a broken revenue feed holds the cycle, one cycle pauses at most a share of the
spend, and scales cannot raise the account's budget faster or further than allowed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import auth
from tests.dbserver import DEFAULT_PORTFOLIO_LIMITS

CYCLE = "SELECT run_autonomous_operations_with_posting()"


@pytest.fixture(autouse=True)
async def default_limits(db):
    """The test template opens the portfolio limits (see conftest); here they are at their defaults."""
    await db.execute(DEFAULT_PORTFOLIO_LIMITS)


async def portfolio(
    db, campaigns: list[dict[str, Any]], account_id: str | None = None
) -> list[str]:
    """Campaigns with 8 daily rows ending now: each {days: [(spend, revenue, conversions)] × 8, oldest
    first, budget?, max_budget?}, in the account named (the manual account when none is)."""
    now = await db.fetchval("SELECT now()")
    ids, rows = [], []
    for i, c in enumerate(campaigns):
        cid = await db.fetchval(
            "INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at, account_id)"
            " VALUES ($1, $1, 'active', $2, $3, $4, coalesce($5::uuid, ao_manual_account_id())) RETURNING id::text",
            c.get("name", f"c{i}"),
            c.get("budget", 100),
            c.get("max_budget"),
            now - timedelta(days=20),
            account_id,
        )
        ids.append(cid)
        for k, (spend, revenue, conversions) in enumerate(c["days"]):
            end = now - timedelta(days=len(c["days"]) - 1 - k)
            rows.append(
                {
                    "campaign_id": cid,
                    "period_start": (end - timedelta(days=1)).isoformat(),
                    "period_end": end.isoformat(),
                    "impressions": 10_000,
                    "clicks": 300,
                    "conversions": conversions,
                    "spend": spend,
                    "revenue": revenue,
                }
            )
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    return ids


# ROI 1.1 for a week, then a day with spend but no revenue nor conversions: the feed broke.
BROKEN_FEED = [(100, 110, 2)] * 7 + [(100, 0, 0)]


async def test_a_broken_revenue_feed_holds_the_cycle_until_a_person_releases_it(db):
    await db.execute(
        "INSERT INTO webhook_endpoints (url, secret_encrypted, event_types)"
        " VALUES ('https://hooks.example.com/h', '\\x00', '{cycle.held,cycle.limited}')"
    )
    ids = await portfolio(db, [{"name": f"c{i}", "days": BROKEN_FEED} for i in range(10)])
    summary = await db.fetchval(CYCLE)
    assert summary["status"] == "held" and summary["paused"] == 0 and summary["scaled"] == 0
    limits = summary["limits"]
    assert limits["held"] is True
    assert (limits["revenue_ratio"], limits["conversions_ratio"], limits["spend_ratio"]) == (
        0,
        0,
        1,
    )
    held = await db.fetchrow("SELECT id, status FROM autonomous_cycles WHERE trigger = 'sql'")
    assert held["status"] == "held"
    assert {h["held_code"] for h in summary["held_back"]} == {"data_outage"}
    assert await db.fetchval("SELECT count(*) FROM campaigns WHERE status = 'paused'") == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_events WHERE type = 'cycle.held'") == 1
    # A dry run shows the same hold and records nothing held.
    dry = await db.fetchval("SELECT run_autonomous_operations_with_posting(dry_run => true)")
    assert dry["status"] == "held" and dry["limits"]["held"] is True

    # Released: a new cycle applies what was held, once; the mass-pause limit still applies
    # (10 × 100 of spend in 24 h, 30% may be paused: 3 campaigns).
    released = await db.fetchval("SELECT release_held_cycle($1, 'ops@example.com')", held["id"])
    assert released["status"] == "succeeded" and released["trigger"] == "release"
    assert released["paused"] == 3 and released["limits"]["pauses_held"] == 7
    assert released["limits"]["released"] is True and released["limits"]["pause_spend_cap"] == 300
    row = await db.fetchrow("SELECT * FROM autonomous_cycles WHERE id = $1", held["id"])
    assert row["released_by"] == "ops@example.com"
    assert str(row["released_by_cycle_id"]) == released["cycle_id"]
    actions = await db.fetch(
        "SELECT campaign_id::text FROM autonomous_actions WHERE cycle_id = $1",
        row["released_by_cycle_id"],
    )
    assert len(actions) == 3 and {a["campaign_id"] for a in actions} <= set(ids)
    with pytest.raises(Exception, match="released already"):
        await db.fetchval("SELECT release_held_cycle($1)", held["id"])
    with pytest.raises(Exception, match="not held"):
        await db.fetchval("SELECT release_held_cycle($1::uuid)", released["cycle_id"])


async def test_release_over_http_and_its_409s(client, db):
    await portfolio(db, [{"name": f"c{i}", "days": BROKEN_FEED} for i in range(4)])
    r = await client.post("/cycles", json={}, headers=auth())
    assert r.status_code == 201 and r.json()["status"] == "held"
    cycle_id = r.json()["cycle_id"]
    listed = (await client.get("/cycles?status=held", headers=auth())).json()["items"]
    assert [c["id"] for c in listed] == [cycle_id]
    released = await client.post(f"/cycles/{cycle_id}/release", headers=auth())
    assert released.status_code == 201, released.text
    assert released.json()["trigger"] == "release"
    again = await client.post(f"/cycles/{cycle_id}/release", headers=auth())
    assert again.status_code == 409
    other = await client.post(f"/cycles/{released.json()['cycle_id']}/release", headers=auth())
    assert other.status_code == 409
    cycle = (await client.get(f"/cycles/{cycle_id}", headers=auth())).json()
    assert cycle["released_by_cycle_id"] == released.json()["cycle_id"]


async def test_pauses_stop_at_the_spend_share_worst_first(db):
    # Losers (each would be paused by Critical ROI Pause) with their last day's spend, and healthy
    # campaigns carrying the rest of the portfolio's spend: 24 h spend 1,000 in all, cap 30% = 300.
    losers = [("roi-0.1", 10, 120), ("roi-0.2", 20, 100), ("roi-0.3", 30, 90), ("roi-0.4", 40, 80)]
    campaigns = [
        {"name": name, "days": [(spend, roi_x100 * spend / 100, 1)] * 8}
        for name, roi_x100, spend in losers
    ]
    campaigns.append({"name": "healthy", "days": [(610, 1220, 20)] * 8})
    await portfolio(db, campaigns)
    summary = await db.fetchval(CYCLE)
    paused = await db.fetch(
        "SELECT c.title FROM autonomous_actions a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE a.action_type = 'pause' ORDER BY c.title"
    )
    # worst first: 120 (ROI 0.1) + 100 (ROI 0.2) = 220 ≤ 300; + 90 = 310 > 300: held
    assert [p["title"] for p in paused] == ["roi-0.1", "roi-0.2"]
    assert summary["limits"]["pause_spend_cap"] == 300 and summary["limits"]["pauses_held"] == 2
    held = {h["title"]: h["held_code"] for h in summary["held_back"] if h["action_type"] == "pause"}
    assert held == {"roi-0.3": "pause_limit", "roi-0.4": "pause_limit"}
    assert summary["status"] == "succeeded"


WINNER = [(100, 800, 20)] * 8  # ROI 8 over 160 conversions: Aggressive Scale doubles the budget


async def test_budget_growth_is_granted_by_profit_per_dollar_partially_then_held(db):
    # Four winners at a budget of 100 (ROI 8, 6, 5, 4.5): 400 in all; +62.5% allows 250 more:
    # the two best get +100 each, the third +50 of its 100, the fourth nothing.
    await db.execute("UPDATE autonomous_settings SET max_daily_budget_increase_pct = 62.5")
    campaigns = [
        {"name": f"roi-{r}", "days": [(100, r * 100, 20)] * 8, "max_budget": 1000}
        for r in (8, 6, 5, 4.5)
    ]
    await portfolio(db, campaigns)
    summary = await db.fetchval(CYCLE)
    budgets = dict(
        await db.fetch("SELECT title, daily_budget::float FROM campaigns ORDER BY title")
    )
    assert budgets == {"roi-8": 200, "roi-6": 200, "roi-5": 150, "roi-4.5": 100}
    limits = summary["limits"]
    assert (limits["daily_budget_total"], limits["budget_increase_allowed"]) == (400, 250)
    assert (limits["scales_partial"], limits["scales_held"]) == (1, 1)
    assert {h["title"]: h["held_code"] for h in summary["held_back"]} == {"roi-4.5": "budget_limit"}
    # Within the rolling 24 h the 250 added counts: a campaign that now qualifies gets nothing more
    # than what is left (0 here), and a total cap binds as well.
    await db.execute("UPDATE autonomous_rules SET cooldown_hours = 0")
    again = await db.fetchval(CYCLE)
    assert (
        again["limits"]["budget_added_24h"] == 250
        and again["limits"]["budget_increase_allowed"] == 0
    )
    assert again["scaled"] == 0


async def test_a_total_budget_cap_binds(db):
    await db.execute("UPDATE autonomous_settings SET max_total_daily_budget = 330")
    await portfolio(db, [{"name": f"w{i}", "days": WINNER, "max_budget": 1000} for i in range(3)])
    summary = await db.fetchval(CYCLE)
    assert summary["limits"]["budget_increase_allowed"] == 30
    assert await db.fetchval("SELECT sum(daily_budget) FROM campaigns") == 330
    assert summary["limits"]["scales_partial"] == 1 and summary["limits"]["scales_held"] == 2


async def test_the_limits_are_settings_with_bounds(client):
    for field, value in (
        ("breaker_revenue_ratio", 0),
        ("max_pause_spend_share", 1.5),
        ("max_daily_budget_increase_pct", 0),
        ("max_daily_budget_increase_pct", 1001),
        ("max_total_daily_budget", -1),
    ):
        r = await client.patch("/settings", json={field: value}, headers=auth())
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (field, r.text)
    ok = await client.patch("/settings", json={"max_total_daily_budget": 5000}, headers=auth())
    assert ok.status_code == 200 and ok.json()["max_total_daily_budget"] == 5000
    cleared = await client.patch("/settings", json={"max_total_daily_budget": None}, headers=auth())
    assert cleared.status_code == 200 and cleared.json()["max_total_daily_budget"] is None


async def test_a_backtest_shows_the_breaker_holding_the_outage_day(db):
    # Ten campaigns at ROI 1.1 for 12 days, except day 9 when revenue and conversions read zero.
    now = await db.fetchval("SELECT date_trunc('day', now())")
    ids = []
    for i in range(10):
        ids.append(
            await db.fetchval(
                "INSERT INTO campaigns (external_id, title, status, daily_budget, started_at)"
                " VALUES ($1, $1, 'active', 100, $2) RETURNING id::text",
                f"c{i}",
                now - timedelta(days=14),
            )
        )
    rows = []
    for cid in ids:
        for d in range(12):
            start = now - timedelta(days=12 - d)
            outage = d == 8
            rows.append(
                {
                    "campaign_id": cid,
                    "period_start": start.isoformat(),
                    "period_end": (start + timedelta(days=1)).isoformat(),
                    "clicks": 300,
                    "impressions": 10_000,
                    "conversions": 0 if outage else 2,
                    "spend": 100,
                    "revenue": 0 if outage else 110,
                }
            )
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    result = await db.fetchval("SELECT run_backtest($1, $2)", now - timedelta(days=12), now)
    held = [s for s in result["held_steps"] if s["held"]]
    outage_end = now - timedelta(days=12 - 9)
    assert [s["at"] for s in held] == [outage_end.isoformat().replace("+00:00", "+00:00")] or [
        s["at"][:10] for s in held
    ] == [outage_end.date().isoformat()]
    assert held[0]["revenue_ratio"] == 0 and held[0]["spend_ratio"] == 1
    # on the outage day nothing was paused; without the breaker the Low ROI Pause would have struck
    assert all(d["at"][:10] != outage_end.date().isoformat() for d in result["decisions"])


async def test_a_scoped_evaluation_of_new_metrics_obeys_the_breaker(db):
    # ROI 0.55 for a week, then a day with no revenue: Critical ROI Pause (a trigger rule) would pause
    # every campaign as the day's rows arrive; the breaker holds the evaluation instead.
    await portfolio(
        db, [{"name": f"c{i}", "days": [(100, 55, 1)] * 7 + [(100, 0, 0)]} for i in range(6)]
    )
    summary = await db.fetchval("SELECT evaluate_metric_triggers()")
    assert summary["trigger"] == "metrics" and summary["status"] == "held"
    assert summary["paused"] == 0 and summary["limits"]["held"] is True
    assert (
        await db.fetchval("SELECT status FROM autonomous_cycles WHERE trigger = 'metrics'")
        == "held"
    )
    assert await db.fetchval("SELECT count(*) FROM campaigns WHERE status = 'paused'") == 0
