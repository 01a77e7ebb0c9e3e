"""Many accounts in one service: the limits hold per account under its overrides, money is never added
across currencies, and days are the account's days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import auth
from tests.test_limits import BROKEN_FEED, CYCLE, default_limits, portfolio  # noqa: F401

HEALTHY = [(100, 150, 3)] * 8
LOSER = [(100, 10, 1)] * 8  # ROI 0.1: Critical ROI Pause


async def account(db, name: str, currency: str = "USD", timezone: str = "UTC") -> str:
    return str(
        await db.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
            " VALUES ('manual', $1, $1, $2, $3) RETURNING id",
            name,
            currency,
            timezone,
        )
    )


async def in_account(db, account_id: str, campaigns: list[dict[str, Any]]) -> list[str]:
    return await portfolio(db, campaigns, account_id)


async def statuses(db, ids: list[str]) -> dict[str, str]:
    rows = await db.fetch("SELECT title, status FROM campaigns WHERE id = ANY ($1::uuid[])", ids)
    return {r["title"]: r["status"] for r in rows}


async def test_a_broken_feed_holds_its_own_account_and_the_other_acts(db):
    await db.execute(
        "INSERT INTO webhook_endpoints (url, secret_encrypted, event_types)"
        " VALUES ('https://hooks.example.com/h', '\\x00', '{cycle.held}')"
    )
    a, b = await account(db, "Client A"), await account(db, "Client B", "EUR")
    broken = await in_account(db, a, [{"name": f"a{i}", "days": BROKEN_FEED} for i in range(10)])
    fine = await in_account(
        db,
        b,
        [{"name": f"b{i}", "days": HEALTHY} for i in range(4)]
        + [{"name": "b-loser", "days": LOSER}],
    )
    summary = await db.fetchval(CYCLE)
    limits = summary["limits"]
    assert summary["status"] == "held" and limits["held"] is True
    assert limits["held_accounts"] == [a]
    by_account = {x["account_id"]: x for x in limits["accounts"]}
    assert set(by_account) == {a, b}
    assert by_account[a]["held"] is True and by_account[b]["held"] is False
    assert (by_account[a]["currency"], by_account[b]["currency"]) == ("USD", "EUR")
    assert by_account[a]["revenue_ratio"] == 0 and by_account[b]["revenue_ratio"] == 1
    # with two accounts, no money stands at the top: it would add dollars to euros
    assert "revenue_24h" not in limits and "pause_spend_cap" not in limits
    # the other account's loser is paused; nothing of the held account is
    assert summary["paused"] == 1
    assert await statuses(db, fine) == {f"b{i}": "active" for i in range(4)} | {"b-loser": "paused"}
    assert set((await statuses(db, broken)).values()) == {"active"}
    held = {h["title"]: h["held_code"] for h in summary["held_back"]}
    assert {c for t, c in held.items() if t.startswith("a")} == {"data_outage"}
    assert "data_outage" not in {c for t, c in held.items() if t.startswith("b")}
    event = await db.fetchval("SELECT payload FROM webhook_events WHERE type = 'cycle.held'")
    assert event["data"]["summary"]["limits"]["held_accounts"] == [a]

    # Released: the held account's pauses go out under its own mass-pause share (30% of its 1,000)
    cycle_id = await db.fetchval("SELECT id FROM autonomous_cycles WHERE status = 'held'")
    released = await db.fetchval("SELECT release_held_cycle($1)", cycle_id)
    assert released["paused"] == 3
    assert {x["account_id"]: x["pause_spend_cap"] for x in released["limits"]["accounts"]} == {
        a: 300,
        b: 120,  # 30% of its four active campaigns' 400: its loser was paused by the held cycle
    }


async def test_the_cycle_held_message_names_the_account(db):
    from app.services.event_messages import slack_text

    a, b = await account(db, "Client A"), await account(db, "Client B", "JPY")
    await in_account(db, a, [{"name": f"a{i}", "days": HEALTHY} for i in range(3)])
    await in_account(db, b, [{"name": f"b{i}", "days": BROKEN_FEED} for i in range(3)])
    summary = await db.fetchval(CYCLE)
    cycle = await db.fetchrow("SELECT id, trigger FROM autonomous_cycles WHERE status = 'held'")
    text = slack_text(
        {
            "type": "cycle.held",
            "data": {"id": str(cycle["id"]), "trigger": cycle["trigger"], "summary": summary},
        }
    )
    assert "in “Client B”" in text and "the other accounts acted" in text
    assert "0.00 JPY" in text and "$" not in text


WINNER_DAYS = {r: [(100, r * 100, 20)] * 8 for r in (8, 7, 6, 5)}


async def test_a_growth_limit_binds_per_account(db):
    # 50% a day of each account's 200: +100 each. Portfolio-wide, A's two better winners would take
    # all 200 of a 400 total; per account, each account doubles its best winner.
    await db.execute("UPDATE autonomous_settings SET max_daily_budget_increase_pct = 50")
    a, b = await account(db, "Client A"), await account(db, "Client B")
    in_a = await in_account(
        db, a, [{"name": f"a-roi-{r}", "days": WINNER_DAYS[r], "max_budget": 1000} for r in (8, 7)]
    )
    in_b = await in_account(
        db, b, [{"name": f"b-roi-{r}", "days": WINNER_DAYS[r], "max_budget": 1000} for r in (6, 5)]
    )
    summary = await db.fetchval(CYCLE)
    budgets = dict(await db.fetch("SELECT title, daily_budget::float FROM campaigns"))
    assert {t: budgets[t] for t in ("a-roi-8", "a-roi-7", "b-roi-6", "b-roi-5")} == {
        "a-roi-8": 200,
        "a-roi-7": 100,
        "b-roi-6": 200,
        "b-roi-5": 100,
    }
    limits = {x["account_id"]: x for x in summary["limits"]["accounts"]}
    assert limits[a]["budget_increase_allowed"] == limits[b]["budget_increase_allowed"] == 100
    assert summary["limits"]["scales_held"] == 2
    assert len(in_a) == len(in_b) == 2


async def test_overrides_take_precedence_over_the_global_row(client, db):
    await db.execute("UPDATE autonomous_settings SET max_daily_budget_increase_pct = 50")
    a, b = await account(db, "Client A"), await account(db, "Client B")
    await in_account(
        db, a, [{"name": f"a-roi-{r}", "days": WINNER_DAYS[r], "max_budget": 1000} for r in (8, 7)]
    )
    await in_account(
        db,
        b,
        [{"name": f"b-roi-{r}", "days": WINNER_DAYS[r], "max_budget": 1000} for r in (6, 5)]
        + [{"name": "b-loser", "days": LOSER}],
    )
    # B may double its budgets and pauses nothing under 10,000 of spend; A keeps the global row
    r = await client.patch(
        "/settings",
        json={"account_overrides": {b: {"max_daily_budget_increase_pct": 100, "min_spend": 10000}}},
        headers=auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["account_overrides"] == {
        b: {"max_daily_budget_increase_pct": 100, "min_spend": 10000}
    }
    assert r.json()["max_daily_budget_increase_pct"] == 50
    # A: 50% of its 200 (one winner doubled); B: 100% of its 300 (both winners doubled)
    summary = (await client.post("/cycles", json={"dry_run": True}, headers=auth())).json()
    planned = {x["campaign_title"]: x["new_state"]["daily_budget"] for x in summary["actions"]}
    assert planned == {"a-roi-8": 200, "b-roi-6": 200, "b-roi-5": 200}
    held = {h["title"]: h["held_code"] for h in summary["held_back"]}
    assert held["a-roi-7"] == "budget_limit" and held["b-loser"] == "below_min_spend"
    # null takes the global value again
    r = await client.patch(
        "/settings",
        json={"account_overrides": {b: {"max_daily_budget_increase_pct": None}}},
        headers=auth(),
    )
    assert r.json()["account_overrides"] == {b: {"min_spend": 10000}}
    # B: 50% of its 300, the second winner granted the 50 left
    summary = (await client.post("/cycles", json={"dry_run": True}, headers=auth())).json()
    planned = {x["campaign_title"]: x["new_state"]["daily_budget"] for x in summary["actions"]}
    assert planned == {"a-roi-8": 200, "b-roi-6": 200, "b-roi-5": 150}


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ({"nope": 1}, "account_overrides.{b}.nope", "Extra inputs are not permitted"),
        ({"approval_ttl_hours": 5}, "account_overrides.{b}.approval_ttl_hours", "not permitted"),
        ({"max_pause_spend_share": 1.5}, "account_overrides.{b}.max_pause_spend_share", "1"),
    ],
)
async def test_an_override_of_an_unknown_setting_or_out_of_range_is_422(
    client, db, override, field, words
):
    b = await account(db, "Client B")
    r = await client.patch("/settings", json={"account_overrides": {b: override}}, headers=auth())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert any(e["field"] == field.format(b=b) and words in e["message"] for e in errors), errors
    assert await db.fetchval("SELECT count(*) FROM account_settings") == 0


async def test_an_override_for_an_unknown_account_is_422_and_nothing_is_written(client, db):
    b = await account(db, "Client B")
    unknown = "00000000-0000-4000-8000-000000000001"
    r = await client.patch(
        "/settings",
        json={
            "min_spend": 75,
            "account_overrides": {b: {"min_spend": 5}, unknown: {"min_spend": 5}},
        },
        headers=auth(),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == f"account_overrides.{unknown}"
    assert "not an ad account" in r.json()["errors"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM account_settings") == 0
    assert await db.fetchval("SELECT min_spend FROM autonomous_settings") != 75
    # the database refuses it as well, whoever writes
    with pytest.raises(Exception, match="not an ad account"):
        await db.execute(
            "SELECT update_autonomous_settings($1::jsonb)",
            {"account_overrides": {unknown: {"min_spend": 5}}},
        )
    with pytest.raises(Exception, match="not a setting an account can override"):
        await db.execute(
            "SELECT update_autonomous_settings($1::jsonb)",
            {"account_overrides": {b: {"approval_ttl_hours": 5}}},
        )


async def _executed_pause(db, campaign_id: str, at: datetime, saved: float) -> None:
    await db.execute(
        "INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, created_at,"
        " executed_at, expected_impact) VALUES ($1, 'pause', 'test', 'executed', $2, $2, $3::jsonb)",
        campaign_id,
        at,
        {"daily_loss_avoided": saved},
    )


async def test_money_in_two_currencies_is_never_summed(client, db):
    usd, jpy = await account(db, "US client"), await account(db, "JP client", "JPY", "Asia/Tokyo")
    [u] = await in_account(db, usd, [{"name": "u", "days": HEALTHY}])
    [j] = await in_account(db, jpy, [{"name": "j", "days": [(10000, 15000, 3)] * 8}])
    now = datetime.now(UTC)
    await _executed_pause(db, u, now - timedelta(hours=1), 40)
    await _executed_pause(db, j, now - timedelta(hours=1), 5000)
    daily = (await client.get("/stats/daily?days=3", headers=auth())).json()
    series = {s["currency"]: s["days"] for s in daily["series"]}
    assert set(series) == {"USD", "JPY"}
    assert series["USD"][-1]["expected_saved"] == 40 and series["USD"][-1]["paused"] == 1
    assert series["JPY"][-1]["expected_saved"] == 5000 and series["JPY"][-1]["paused"] == 1
    # one account on request
    only = (await client.get(f"/stats/daily?days=3&account_id={jpy}", headers=auth())).json()
    assert [s["currency"] for s in only["series"]] == ["JPY"] and only["account_id"] == jpy
    stats = (await client.get("/stats", headers=auth())).json()
    money = {m["currency"]: m for m in stats["money"]}
    assert money["USD"]["spend"] == 800 and money["JPY"]["spend"] == 80000
    assert money["USD"]["daily_budget_active"] == 100 and money["JPY"]["accounts"] == 1
    one = (await client.get(f"/stats?account_id={usd}", headers=auth())).json()
    assert one["paused"] == 1 and [m["currency"] for m in one["money"]] == ["USD"]
    # the analytics rows say their currency
    under = (await client.get("/campaigns/underperforming", headers=auth())).json()["items"]
    assert all(row["currency"] in ("USD", "JPY") for row in under)
    missing = await client.get(
        "/stats/daily?account_id=00000000-0000-4000-8000-000000000009", headers=auth()
    )
    assert missing.status_code == 404


async def test_an_account_in_tokyo_gets_its_day_boundaries(client, db):
    tokyo = await account(db, "JP client", "JPY", "Asia/Tokyo")
    cid = str(
        await db.fetchval(
            "INSERT INTO campaigns (external_id, title, status, account_id) VALUES ('t', 't', 'active', $1)"
            " RETURNING id",
            tokyo,
        )
    )
    # 14:00 UTC is 23:00 in Tokyo (3 March); 16:00 UTC is 01:00 there, the next day (4 March); hours
    # of March 2026 are kept as hours for this
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 36500")
    rows = [
        {
            "campaign_id": cid,
            "period_start": f"2026-03-03T{h:02d}:00:00Z",
            "period_end": f"2026-03-03T{h + 1:02d}:00:00Z",
            "clicks": 10,
            "spend": spend,
        }
        for h, spend in ((14, 5), (16, 7))
    ]
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    r = await client.get(
        f"/campaigns/{cid}/metrics?bucket=day&from=2026-03-02T15:00:00Z&to=2026-03-04T15:00:00Z",
        headers=auth(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] == "Asia/Tokyo" and body["currency"] == "JPY"
    assert [(p["bucket_start"], p["spend"]) for p in body["points"]] == [
        ("2026-03-02T15:00:00Z", 5),
        ("2026-03-03T15:00:00Z", 7),
    ]
    # plain dates are the account's midnights
    r = await client.get(
        f"/campaigns/{cid}/metrics?bucket=day&from=2026-03-03&to=2026-03-05", headers=auth()
    )
    assert r.json()["from"] == "2026-03-02T15:00:00Z" and r.json()["to"] == "2026-03-04T15:00:00Z"
    assert [p["spend"] for p in r.json()["points"]] == [5, 7]
    # the action taken at 16:00 UTC is on Tokyo's 4 March, and Tokyo's today ends the series
    await _executed_pause(db, cid, datetime(2026, 3, 3, 16, tzinfo=UTC), 1)
    days = await db.fetch(
        "SELECT day::text, paused FROM autonomous_daily(366, $1) WHERE paused > 0", tokyo
    )
    assert [(d["day"], d["paused"]) for d in days] == [("2026-03-04", 1)]
    last = await db.fetchval("SELECT max(day) FROM autonomous_daily(2, $1)", tokyo)
    assert last == await db.fetchval("SELECT (now() AT TIME ZONE 'Asia/Tokyo')::date")


async def test_a_backtest_over_two_currencies_keeps_their_money_apart(db):
    usd, jpy = await account(db, "US client"), await account(db, "JP client", "JPY")
    await in_account(db, usd, [{"name": "u-loser", "days": LOSER}])
    await in_account(db, jpy, [{"name": "j-loser", "days": [(10000, 1000, 1)] * 8}])
    result = await db.fetchval(
        "SELECT run_backtest(now() - interval '5 days', now(), 'day', '\"active\"', '{}')"
    )
    totals = result["totals"]
    assert totals["pauses"] == 2 and totals["saved"] is None
    by_currency = {c["currency"]: c for c in totals["by_currency"]}
    assert set(by_currency) == {"USD", "JPY"}
    assert by_currency["USD"]["pauses"] == by_currency["JPY"]["pauses"] == 1
    # each currency's money is its own campaign's: 90 a day lost in dollars, 9,000 in yen
    assert by_currency["JPY"]["saved"] == 100 * by_currency["USD"]["saved"] > 0
    assert {p["currency"] for p in result["timeline"]} == {"USD", "JPY"}
    assert {d["currency"] for d in result["decisions"]} == {"USD", "JPY"}
    assert all(r["saved"] is None for r in result["rules"])


async def test_words_quote_an_accounts_money_in_its_currency(db):
    jpy = await account(db, "JP client", "JPY", "Asia/Tokyo")
    await in_account(db, jpy, [{"name": "j-loser", "days": [(10000, 1000, 1)] * 8}])
    await in_account(
        db, jpy, [{"name": f"j{i}", "days": [(10000, 15000, 3)] * 8} for i in range(3)]
    )
    summary = await db.fetchval(CYCLE)
    [pause] = [a for a in summary["actions"] if a["action_type"] == "pause"]
    words = pause["reason"] + json.dumps(pause["expected_impact"], ensure_ascii=False)
    assert "¥" in words and "$" not in words, words
    assert await db.fetchval("SELECT ao_money(1234.5, 'JPY')") == "¥1,235"
    assert await db.fetchval("SELECT ao_money(1234.5, 'EUR')") == "€1,234.50"
    assert await db.fetchval("SELECT ao_money(1234.5, 'CHF')") == "1,234.50 CHF"
    assert await db.fetchval("SELECT ao_money(1234.5, 'USD')") == await db.fetchval(
        "SELECT ao_money(1234.5)"
    )
