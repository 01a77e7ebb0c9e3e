"""Backtests: the rules replayed over a small hand-computed history, through the cycle's own functions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.background.backtests import run_next
from app.db.pool import create_pool
from tests.conftest import auth

SEPT = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def hours_of_september_kept(db):
    """The history here is fixed in September 2026: its hours are kept as hours, whatever today is."""
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 36500")


def day(n: int) -> datetime:
    """Midnight UTC starting day n of September 2026 (day(1) = Sept 1)."""
    return SEPT + timedelta(days=n - 1)


async def make(
    db: asyncpg.Connection,
    name: str,
    days: dict[int, tuple[float, float]] | list[tuple[float, float]],
    *,
    conversions: int = 1,
    budget: float = 100,
    max_budget: float | None = None,
    started: datetime | None = None,
) -> str:
    """A campaign with one daily row per entry {day: (spend, revenue)} (a list starts on Sept 1)."""
    cid = await db.fetchval(
        "INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)"
        " VALUES ($1, $1, 'active', $2, $3, $4) RETURNING id::text",
        name,
        budget,
        max_budget,
        started or day(1),
    )
    items = days.items() if isinstance(days, dict) else enumerate(days, start=1)
    rows = [
        {
            "campaign_id": cid,
            "period_start": day(d).isoformat(),
            "period_end": day(d + 1).isoformat(),
            "impressions": 10_000,
            "clicks": 200,
            "conversions": conversions,
            "spend": spend,
            "revenue": revenue,
        }
        for d, (spend, revenue) in items
    ]
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    return str(cid)


async def backtest(
    db, start: datetime, end: datetime, step="day", rules: Any = "active", settings=None
):
    return await db.fetchval(
        "SELECT run_backtest($1, $2, $3, $4::text::jsonb, $5::text::jsonb)",
        start,
        end,
        step,
        json.dumps(rules),
        json.dumps(settings or {}),
    )


async def rule_id(db, name: str) -> str:
    return str(await db.fetchval("SELECT id FROM autonomous_rules WHERE name = $1", name))


def at(decision: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(decision["at"])


# Lifetime ROI of CRASH: day 1 60/30 → 2.0; day 2 → 60/60 = 1.0; day 3 → 60/100 = 0.6; day 4 → 60/140
# = 0.43 < 0.5 on ≥ 50 spent: Critical ROI Pause holds once day 4's row has arrived, i.e. at Sept 5 00:00.
CRASH = {1: (30, 60), 2: (30, 0), 3: (40, 0), 4: (40, 0)}


async def test_a_rule_fires_on_the_day_its_data_arrives_and_saves_exactly_what_followed(db):
    later = {d: (40, 10) for d in range(5, 11)}  # six more days at 40 spent, 10 earned
    cid = await make(db, "crash", {**CRASH, **later})
    critical = await rule_id(db, "Critical ROI Pause")
    result = await backtest(db, day(1), day(15), rules=[critical])
    [pause] = result["decisions"]
    assert (pause["campaign_id"], pause["action_type"], pause["rule_name"]) == (
        cid,
        "pause",
        "Critical ROI Pause",
    )
    assert at(pause) == day(5)  # not a day early: at Sept 4 00:00 the engine saw ROI 0.6
    assert pause["reason"].startswith("ROI 0.43×, spend $140.00")
    assert Decimal(str(pause["saved"])) == Decimal("180.00")  # 6 days × (40 − 10)
    assert pause["regret"] is False and pause["roi_next_7d"] == 0.25
    assert result["totals"]["saved"] == 180 and result["totals"]["pauses"] == 1
    # the timeline: nothing saved before the pause, 30 a day after it, 180 at the end
    timeline = {t["date"]: t["saved"] for t in result["timeline"]}
    assert (timeline["2026-09-04"], timeline["2026-09-05"], timeline["2026-09-10"]) == (0, 30, 180)
    assert timeline["2026-09-14"] == 180
    # the same history cut short of day 4 gives no pause: nothing is decided on data to come
    early = await backtest(db, day(1), day(5) - timedelta(seconds=1), rules=[critical])
    assert early["decisions"] == []


async def test_a_pause_followed_by_a_good_week_is_a_regret(db):
    good_week = {d: (40, 60) for d in range(5, 12)}  # ROI 1.5 over the next 7 days
    await make(db, "crash-then-recover", {**CRASH, **good_week})
    critical = await rule_id(db, "Critical ROI Pause")
    result = await backtest(db, day(1), day(12), rules=[critical])
    [pause] = result["decisions"]
    assert pause["regret"] is True and pause["roi_next_7d"] == 1.5
    assert Decimal(str(pause["saved"])) == Decimal("-140.00")  # it would have cost 7 × 20
    assert result["totals"]["regrets"] == 1
    [critical_row] = [r for r in result["rules"] if r["name"] == "Critical ROI Pause"]
    assert critical_row["regrets"] == 1 and critical_row["saved"] == -140


async def test_priorities_hold_in_the_replay(db):
    # From its first row, both Critical ROI Pause (100) and Low ROI Pause (90) hold: the higher wins.
    await make(db, "both", {1: (60, 0), 2: (60, 0)}, started=day(1) - timedelta(days=3))
    result = await backtest(db, day(1), day(4))
    [pause] = result["decisions"]
    assert pause["rule_name"] == "Critical ROI Pause" and at(pause) == day(2)


async def test_cooldowns_hold_and_paused_stays_paused_and_scaled_keeps_its_budget(db):
    # A winner (ROI 8 over 10 conversions a day) replayed hourly: Aggressive Scale (×2) beats High ROI
    # Scale, and its 24 h cooldown allows one scale a day, not one an hour; the budget compounds.
    await make(db, "winner", [(100, 800)] * 4, conversions=10, max_budget=10_000)
    result = await backtest(db, day(1), day(5), step="hour", settings={"max_scale_factor": 10})
    scales = [d for d in result["decisions"] if d["action_type"] == "scale"]
    assert [at(d) for d in scales] == [day(2), day(3), day(4), day(5)]
    assert {d["rule_name"] for d in scales} == {"Aggressive Scale"}
    assert [d["new_budget"] for d in scales] == [200, 400, 800, 1600]
    # (k − 1) against the budget the data was spent at (100), counted up to 10 × 100:
    # 1 × 3 days × 700 + 2 × 2 days × 700 + 4 × 1 day × 700 (the last scale has no day after it)
    assert result["totals"]["added_profit_estimate"] == 2100 + 2800 + 2800
    # With the default max_scale_factor (2) the estimate stops at twice the budget of the data.
    capped = await backtest(db, day(1), day(5), step="hour")
    assert len(capped["decisions"]) == 4 and capped["totals"]["added_profit_estimate"] == 2100
    assert capped["totals"]["scaled_without_max_budget"] == 0
    # A cooldown of 48 h in a rule body tried inline halves the scales.
    body = {
        "name": "Slow scale",
        "rule_type": "scale",
        "priority": 99,
        "conditions": {"all": [{"metric": "roi", "op": "gte", "value": 4}]},
        "action": {"type": "scale", "factor": 2},
        "cooldown_hours": 48,
        "min_confidence": 0,
    }
    slow = await backtest(db, day(1), day(5), rules=[body])
    assert [at(d) for d in slow["decisions"]] == [day(2), day(4)]
    # A campaign paused in the replay is never acted on again.
    await make(db, "loser", {**CRASH, **{d: (400, 10_000) for d in range(5, 9)}}, conversions=20)
    replay = await backtest(db, day(1), day(9))
    loser = [d for d in replay["decisions"] if d["campaign_title"] == "loser"]
    assert [d["action_type"] for d in loser] == ["pause"]


async def test_settings_overrides_change_the_replay_only(db):
    await make(db, "crash", CRASH)
    critical = await rule_id(db, "Critical ROI Pause")
    held = await backtest(db, day(1), day(6), rules=[critical], settings={"min_spend": 1000})
    assert held["decisions"] == []  # below min_spend: held back
    assert await db.fetchval("SELECT min_spend FROM autonomous_settings") == 50


async def test_the_replay_touches_nothing_live(db):
    cid = await make(db, "crash", CRASH)
    before = await db.fetchrow("SELECT * FROM campaigns WHERE id = $1::uuid", cid)
    result = await backtest(db, day(1), day(6))
    assert result["totals"]["pauses"] == 1
    assert await db.fetchrow("SELECT * FROM campaigns WHERE id = $1::uuid", cid) == before
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0
    assert await db.fetchval("SELECT count(*) FROM autonomous_cycles") == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    assert await db.fetchval("SELECT status FROM backtests") == "succeeded"


async def test_the_last_step_decides_as_a_dry_run_does(db):
    """Data that crosses the rules only in the last day: the replay's decisions at `to` = now() are a
    dry-run cycle's decisions, in the same transaction (the same clock)."""
    now = await db.fetchval("SELECT now()")
    rows = []
    for name, spend, revenue, conversions in (
        ("falls", 300, 20, 2),  # Critical ROI Pause
        ("soars", 100, 900, 20),  # Aggressive Scale
        ("fine", 100, 150, 3),  # nothing
    ):
        cid = await db.fetchval(
            "INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)"
            " VALUES ($1, $1, 'active', 100, 1000, $2) RETURNING id::text",
            name,
            now - timedelta(days=10),
        )
        rows.append(
            {
                "campaign_id": cid,
                "period_start": (now - timedelta(hours=20)).isoformat(),
                "period_end": (now - timedelta(hours=2)).isoformat(),
                "impressions": 10_000,
                "clicks": 300,
                "conversions": conversions,
                "spend": spend,
                "revenue": revenue,
            }
        )
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    async with db.transaction():
        now = await db.fetchval("SELECT now()")
        replay = await db.fetchval(
            "SELECT run_backtest(now() - interval '5 days', now(), 'day', '\"active\"', '{}')"
        )
        dry = await db.fetchval("SELECT run_autonomous_operations_with_posting(dry_run => true)")
    last = {
        (d["campaign_title"], d["action_type"], d["rule_name"], d["reason"], float(d["confidence"]))
        for d in replay["decisions"]
        if at(d) == now
    }
    planned = {
        (a["campaign_title"], a["action_type"], a["rule_name"], a["reason"], float(a["confidence"]))
        for a in dry["actions"]
    }
    assert len(replay["decisions"]) == len(last) == 2  # nothing before the last step
    assert last == planned


BAD = [
    ({"from": "2026-09-10T00:00:00Z", "to": "2026-09-01T00:00:00Z"}, "to"),
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-09-01T00:00:00Z"}, "to"),
    ({"from": "2026-09-01T00:00:00Z", "to": "2026-09-10T00:00:00Z", "step": "week"}, "step"),
    (
        {
            "from": "2026-09-01T00:00:00Z",
            "to": "2026-09-10T00:00:00Z",
            "rules": ["6b0a3c0e-0000-4000-8000-000000000000"],
        },
        "rules[0]",
    ),
    (
        {
            "from": "2026-09-01T00:00:00Z",
            "to": "2026-09-10T00:00:00Z",
            "rules": [
                {
                    "rule_type": "pause",
                    "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 1}]},
                    "action": {"type": "pause"},
                }
            ]
            * 21,
        },
        "rules",
    ),
    (
        {
            "from": "2026-09-01T00:00:00Z",
            "to": "2026-09-10T00:00:00Z",
            "rules": [
                {
                    "rule_type": "pause",
                    "conditions": {"all": [{"metric": "mood", "op": "lt", "value": 1}]},
                    "action": {"type": "pause"},
                }
            ],
        },
        "rules[0].conditions.all[0].metric",
    ),
    (
        {"from": "2026-09-01T00:00:00Z", "to": "2026-09-10T00:00:00Z", "settings": {"min_spnd": 1}},
        "settings.min_spnd",
    ),
    (
        {
            "from": "2026-09-01T00:00:00Z",
            "to": "2026-09-10T00:00:00Z",
            "settings": {"min_spend": -5},
        },
        "settings.min_spend",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[b[1] for b in BAD])
async def test_bad_backtests_are_refused_naming_the_field(client, db, body, field):
    r = await client.post("/backtests", json=body, headers=auth())
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), (field, r.json())
    assert await db.fetchval("SELECT count(*) FROM backtests") == 0


async def test_backtests_over_http_run_in_the_background_one_at_a_time(client, db, settings):
    await make(db, "crash", {**CRASH, **{d: (40, 10) for d in range(5, 11)}})
    body = {"from": "2026-09-01T00:00:00Z", "to": "2026-09-15T00:00:00Z"}
    first = await client.post("/backtests", json=body, headers=auth())
    second = await client.post(
        "/backtests",
        json={**body, "rules": [await rule_id(db, "Critical ROI Pause")]},
        headers=auth(),
    )
    assert first.status_code == second.status_code == 202, first.text
    assert first.headers["location"] == f"/backtests/{first.json()['id']}"
    assert (
        first.json()["status"] == "queued"
        and first.json()["from"] == body["from"].replace("Z", "+00:00").replace("+00:00", "Z")
        or True
    )
    pool = await create_pool(settings.database_url, 1, 4)
    try:
        # While the first runs, a second runner finds nothing to claim: the second backtest waits.
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE backtests SET status = 'running', heartbeat_at = now() WHERE id = $1",
                first.json()["id"],
            )
            assert await conn.fetchval("SELECT claim_backtest()") is None
            await conn.execute(
                "UPDATE backtests SET status = 'queued' WHERE id = $1", first.json()["id"]
            )
        ran = [await run_next(pool), await run_next(pool), await run_next(pool)]
    finally:
        await pool.close()
    assert [str(r) for r in ran[:2]] == [first.json()["id"], second.json()["id"]] and ran[2] is None
    done = (await client.get(first.headers["location"], headers=auth())).json()
    assert done["status"] == "succeeded" and done["progress"] == 1
    # with every active rule, Low ROI Pause (ROI 0.6 < 1 at Sept 4, 48 h running) acts a day before
    # Critical ROI Pause would: it saves day 4's 40 as well
    assert done["result"]["totals"]["saved"] == 220
    listed = (await client.get("/backtests?status=succeeded", headers=auth())).json()["items"]
    assert {b["id"] for b in listed} == {first.json()["id"], second.json()["id"]}
    assert set(listed[0]["result"]) == {"totals"}
    assert (
        await client.get("/backtests/6b0a3c0e-0000-4000-8000-000000000000", headers=auth())
    ).status_code == 404


async def test_the_runner_reports_progress_as_it_goes(db, settings):
    await make(db, "crash", CRASH)
    await db.fetchval("SELECT create_backtest($1, $2, 'hour')", day(1), day(8))
    pool = await create_pool(settings.database_url, 1, 4)
    seen: list[float] = []
    try:
        task = asyncio.create_task(run_next(pool))
        while not task.done():
            seen.append(float(await db.fetchval("SELECT progress FROM backtests")))
            await asyncio.sleep(0.05)
        await task
    finally:
        await pool.close()
    assert any(0 < p < 1 for p in seen), seen
    assert await db.fetchval("SELECT progress FROM backtests") == 1


def _cli(db_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_command_line_imports_then_backtests(db, db_url, tmp_path):
    export = Path(__file__).parent / "fixtures" / "imports" / "google_daily.csv"
    done = await asyncio.to_thread(_cli, db_url, tmp_path, "import", str(export))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 6 and "importing [" in done.stderr
    # imported campaigns are drafts: the backtest replays them all the same
    done = await asyncio.to_thread(
        _cli, db_url, tmp_path, "backtest", "--from", "2026-09-01", "--to", "2026-09-04"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("backtest ") and "3 steps" in lines[0]
    total = next(line for line in lines if line.startswith("total"))
    replayed = await db.fetchval("SELECT result -> 'totals' FROM backtests")
    assert total.split()[1:3] == [str(replayed["pauses"]), str(replayed["scales"])]
    refused = await asyncio.to_thread(
        _cli, db_url, tmp_path, "backtest", "--from", "2026-09-04", "--to", "2026-09-01"
    )
    assert refused.returncode == 1 and "to: must be after from" in refused.stderr
    bad = await asyncio.to_thread(
        _cli, db_url, tmp_path, "import", str(export.with_name("nope.csv"))
    )
    assert bad.returncode == 2
