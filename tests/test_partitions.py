"""campaign_metrics by month: partitions made ahead and on demand, hours past retention rolled up into
each account's days with every sum kept, the same decisions before and after, and a migration of a
populated database that keeps every row."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from app.background import Background
from app.core.crypto import TokenCipher
from app.db.pool import create_pool
from tests.conftest import auth
from tests.dbserver import admin_execute, alembic, with_database

CYCLE = "SELECT run_autonomous_operations_with_posting()"
ROLL_UP = "SELECT ao_roll_up_metrics()"
KEPT_FROM = "SELECT ao_hourly_kept_from(now(), hourly_retention_days) FROM autonomous_settings"
# Per campaign and day of its account's zone: what the charts and the day lists read.
DAYS = """
SELECT m.campaign_id, (m.period_start AT TIME ZONE a.timezone)::date AS day, count(*) AS rows,
       sum(m.impressions) AS impressions, sum(m.reach) AS reach, sum(m.clicks) AS clicks,
       sum(m.conversions) AS conversions, sum(m.spend) AS spend, sum(m.revenue) AS revenue
  FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id JOIN ad_accounts a ON a.id = c.account_id
 GROUP BY 1, 2
"""
TOTALS = "SELECT title, impressions, reach, clicks, conversions, spend, revenue FROM campaigns ORDER BY title"
ACTIONS = """
SELECT c.title, a.action_type, a.status, a.new_state
  FROM autonomous_actions a JOIN campaigns c ON c.id = a.campaign_id
 ORDER BY c.title, a.action_type
"""


async def account(db, name: str, timezone: str) -> str:
    return str(
        await db.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
            " VALUES ('manual', $1, $1, 'USD', $2) RETURNING id",
            name,
            timezone,
        )
    )


def hour_figures(roi: float, k: int) -> dict[str, Any]:
    """An hour's figures, in cents that do not repeat from hour to hour."""
    spend = round(0.37 + (k % 7) * 0.11 + (k % 3) * 0.013, 2)
    return {
        "impressions": 400 + k % 50,
        "reach": 300 + k % 40,
        "clicks": 9 + k % 5,
        "conversions": 1 if k % 4 == 0 else 0,
        "spend": spend,
        "revenue": round(spend * roi, 2),
    }


async def hourly_history(
    db, account_id: str, campaigns: dict[str, Any], start: datetime, end: datetime
) -> dict[str, str]:
    """Campaigns of the account, each with an hourly row from start to end; ``campaigns`` maps a
    title to its ROI, or to a function of the hour's start giving it."""
    ids = {}
    for title in campaigns:
        ids[title] = str(
            await db.fetchval(
                "INSERT INTO campaigns (external_id, title, status, daily_budget, started_at, account_id)"
                " VALUES ($1, $1, 'active', 100, $2, $3) RETURNING id",
                title,
                start,
                account_id,
            )
        )
    rows = []
    for title, roi in campaigns.items():
        t, k = start, 0
        while t < end:
            rows.append(
                {
                    "campaign_id": ids[title],
                    "period_start": t.isoformat(),
                    "period_end": (t + timedelta(hours=1)).isoformat(),
                    **hour_figures(roi(t) if callable(roi) else roi, k),
                }
            )
            t, k = t + timedelta(hours=1), k + 1
    for i in range(0, len(rows), 5000):
        await db.fetchval("SELECT ingest_campaign_metrics($1)", rows[i : i + 5000])
    return ids


async def keep_all_hours(db) -> None:
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 36500")


async def keep_30_days(db) -> datetime:
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 30")
    return await db.fetchval(KEPT_FROM)


def whole_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


async def test_the_worker_makes_the_months_ahead_and_ingestion_the_months_its_rows_need(
    db, settings
):
    months = await db.fetch("SELECT name FROM ao_metric_partitions()")
    ahead = await db.fetchval("SELECT ao_metric_partition(now() + interval '2 months')")
    assert ahead in {r["name"] for r in months}
    # as the superuser can: the month two ahead taken away, the worker's pass makes it again
    await db.execute(f"ALTER TABLE campaign_metrics DETACH PARTITION {ahead}")
    await db.execute(f"DROP TABLE {ahead}")
    pool = await create_pool(settings.database_url, 1, 4)
    background = Background(
        pool, settings.database_url, settings, TokenCipher(settings.encryption_key())
    )
    try:
        await background.loop("metric partitions").one_pass()
    finally:
        await background.aclose()
        await pool.close()
    assert await db.fetchval("SELECT to_regclass($1) IS NOT NULL", ahead)
    # and the table's own statistics, which autovacuum never gathers for a partitioned table
    assert await db.fetchval(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'campaign_metrics'"
    )

    # a report of 2019: its month is made for it, read through the parent only
    cid = await db.fetchval(
        "INSERT INTO campaigns (external_id, title, status, daily_budget) VALUES ('old', 'Old', 'active', 10) RETURNING id"
    )
    await db.fetchval(
        "SELECT ingest_campaign_metrics($1)",
        [
            {
                "campaign_id": str(cid),
                "period_start": "2019-03-04T00:00:00Z",
                "period_end": "2019-03-05T00:00:00Z",
                "spend": 12.34,
            }
        ],
    )
    assert await db.fetchval(
        "SELECT relrowsecurity FROM pg_class WHERE relname = 'campaign_metrics_p2019_03'"
    )
    assert not await db.fetchval(
        "SELECT has_table_privilege('ao_app', 'campaign_metrics_p2019_03', 'SELECT')"
    )
    assert await db.fetchval(
        "SELECT spend FROM campaign_metrics WHERE campaign_id = $1", cid
    ) == Decimal("12.34")
    assert await db.fetchval("SELECT spend FROM campaigns WHERE id = $1", cid) == Decimal("12.34")

    # a period before 2000, or more than a day ahead, would make a month for nothing
    for start in ("1999-12-31T00:00:00Z", (datetime.now(UTC) + timedelta(days=3)).isoformat()):
        with pytest.raises(asyncpg.PostgresError) as refused:
            await db.fetchval(
                "SELECT ingest_campaign_metrics($1)",
                [
                    {
                        "campaign_id": str(cid),
                        "period_start": start,
                        "period_end": "2099-01-01T00:00:00Z",
                    }
                ],
            )
        assert "rows[0].period_start" in str(refused.value)
    assert (
        await db.fetchval("SELECT count(*) FROM campaign_metrics WHERE campaign_id = $1", cid) == 1
    )


async def test_the_roll_up_keeps_every_days_totals_to_the_cent(db):
    await keep_all_hours(db)
    now = whole_hour(datetime.now(UTC))
    kept_30 = await db.fetchval("SELECT ao_hourly_kept_from(now(), 30)")
    start = kept_30 - timedelta(days=45)
    zones = {
        "Phoenix": "America/Phoenix",
        "Brisbane": "Australia/Brisbane",
        "Kolkata": "Asia/Kolkata",
        "Honolulu": "Pacific/Honolulu",
    }
    for name, zone in zones.items():
        a = await account(db, name, zone)
        await hourly_history(db, a, {f"{name} A": 1.7, f"{name} B": 0.6}, start, now)
    kolkata = await db.fetchval("SELECT id FROM campaigns WHERE title = 'Kolkata A'")
    before_days = {(r["campaign_id"], r["day"]): dict(r) for r in await db.fetch(DAYS)}
    totals = [dict(r) for r in await db.fetch(TOTALS)]
    rows_before = await db.fetchval("SELECT count(*) FROM campaign_metrics")

    kept_from = await keep_30_days(db)
    assert kept_from == kept_30
    done = await db.fetchval(ROLL_UP)
    assert done["busy"] is False and done["rolled_up"]
    assert done["hours"] > 0 and done["days"] > 0

    after_days = {(r["campaign_id"], r["day"]): dict(r) for r in await db.fetch(DAYS)}
    assert after_days.keys() == before_days.keys()
    for key, before in before_days.items():
        after = after_days[key]
        for figure in ("impressions", "reach", "clicks", "conversions", "spend", "revenue"):
            assert after[figure] == before[figure], (key, figure)
    assert [dict(r) for r in await db.fetch(TOTALS)] == totals
    # no hour is left of a day that started before the edge; the hours after it are all still there
    assert not await db.fetchval(
        """SELECT count(*) FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id
             JOIN ad_accounts a ON a.id = c.account_id
            WHERE m.period_end - m.period_start <= interval '1 hour'
              AND date_trunc('day', m.period_start AT TIME ZONE a.timezone) AT TIME ZONE a.timezone < $1""",
        kept_from,
    )
    rolled_days = await db.fetchval(
        "SELECT count(*) FROM campaign_metrics WHERE period_end - period_start > interval '1 hour'"
    )
    assert rolled_days == done["days"]
    assert await db.fetchval("SELECT count(*) FROM campaign_metrics") == (
        rows_before - done["hours"] + done["days"]
    )
    # a day is one row per campaign: 8 campaigns, about 45 days
    assert 8 * 44 <= done["days"] <= 8 * 47
    # the months replaced hold no hour; what each roll-up did is recorded, its sums those of its days
    partitions = await db.fetch("SELECT month, hourly FROM ao_metric_partitions()")
    assert all(not p["hourly"] for p in partitions if p["month"] < kept_from.date())
    recorded = await db.fetch("SELECT * FROM metric_rollups ORDER BY month")
    assert sum(r["hours"] for r in recorded) == done["hours"]
    assert sum(r["days"] for r in recorded) == done["days"]
    assert [r["month"].isoformat() for r in recorded] == sorted({m for m in done["rolled_up"]}) or {
        r["month"].isoformat() for r in recorded
    } <= set(done["rolled_up"])
    assert sum(r["spend"] for r in recorded) == await db.fetchval(
        "SELECT sum(spend) FROM campaign_metrics WHERE period_end - period_start > interval '1 hour'"
    )
    with pytest.raises(asyncpg.RestrictViolationError):
        await db.execute("DELETE FROM metric_rollups")

    # a second pass finds nothing more; an hour older than the edge is now refused, naming the setting
    again = await db.fetchval(ROLL_UP)
    assert again["rolled_up"] == []
    with pytest.raises(asyncpg.PostgresError) as refused:
        await db.fetchval(
            "SELECT ingest_campaign_metrics($1)",
            [
                {
                    "campaign_id": str(kolkata),
                    "period_start": (kept_from - timedelta(days=3)).isoformat(),
                    "period_end": (kept_from - timedelta(days=3, hours=-1)).isoformat(),
                    "spend": 1,
                }
            ],
        )
    assert "hourly_retention_days" in str(refused.value)


async def test_rows_that_are_not_hours_stay_as_they_were(db):
    await keep_all_hours(db)
    kept_30 = await db.fetchval("SELECT ao_hourly_kept_from(now(), 30)")
    a = await account(db, "UTC", "UTC")
    day = kept_30 - timedelta(days=10)
    ids = await hourly_history(
        db, a, {"Mixed": 2.0}, day + timedelta(hours=2), day + timedelta(days=1)
    )
    # the day's first two hours reported as one row, and the day before as a day: neither is an hour
    await db.fetchval(
        "SELECT ingest_campaign_metrics($1)",
        [
            {
                "campaign_id": ids["Mixed"],
                "period_start": start.isoformat(),
                "period_end": (start + length).isoformat(),
                "spend": 5.55,
                "revenue": 1.11,
            }
            for start, length in (
                (day, timedelta(hours=2)),
                (day - timedelta(days=1), timedelta(days=1)),
            )
        ],
    )
    kept = [
        dict(r)
        for r in await db.fetch(
            "SELECT * FROM campaign_metrics WHERE period_end - period_start > interval '1 hour' ORDER BY period_start"
        )
    ]
    spend = await db.fetchval("SELECT sum(spend) FROM campaign_metrics")
    await keep_30_days(db)
    done = await db.fetchval(ROLL_UP)
    assert done["days"] == 1 and done["hours"] == 22
    rows = [dict(r) for r in await db.fetch("SELECT * FROM campaign_metrics ORDER BY period_start")]
    assert [r for r in rows if r["period_start"] <= day] == kept
    rolled = [r for r in rows if r["period_start"] > day]
    assert len(rolled) == 1
    assert rolled[0]["period_start"] == day + timedelta(hours=2)
    assert rolled[0]["period_end"] == day + timedelta(days=1)
    assert await db.fetchval("SELECT sum(spend) FROM campaign_metrics") == spend


async def test_a_cycle_and_a_backtest_decide_the_same_before_and_after_the_roll_up(db):
    await keep_all_hours(db)
    kept_30 = await db.fetchval("SELECT ao_hourly_kept_from(now(), 30)")
    now = whole_hour(datetime.now(UTC))
    phoenix = await account(db, "Phoenix", "America/Phoenix")  # UTC-7 all year
    # midnight in Phoenix, 35 days before the edge: the backtest replays 25 days from there
    local_midnight = datetime.combine(
        (kept_30 - timedelta(days=35)).date(), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=7)
    turn = local_midnight + timedelta(days=12)
    await hourly_history(
        db,
        phoenix,
        {
            "Loser": 0.3,
            "Winner": 4.6,
            "Steady": 1.9,
            # fine for a long time, then losing from the turn on: paused once its lifetime ROI falls
            "Fading": lambda t: 1.08 if t < turn else 0.2,
        },
        local_midnight - timedelta(days=40),
        now,
    )
    backtest = (
        "SELECT run_backtest($1, $2, 'day') - 'backtest_id'",
        local_midnight,
        local_midnight + timedelta(days=25),
    )

    async def decisions() -> tuple[Any, Any]:
        tr = db.transaction()
        await tr.start()
        try:
            await db.fetchval(CYCLE)
            cycle = [dict(r) for r in await db.fetch(ACTIONS)]
            replay = await db.fetchval(*backtest)
        finally:
            await tr.rollback()
        return cycle, replay

    cycle_before, replay_before = await decisions()
    await keep_30_days(db)
    assert (await db.fetchval(ROLL_UP))["rolled_up"]
    cycle_after, replay_after = await decisions()
    assert cycle_after == cycle_before
    assert replay_after == replay_before
    decided = {(d["campaign_title"], d["action_type"]) for d in replay_after["decisions"]}
    assert decided >= {("Loser", "pause"), ("Fading", "pause")}
    assert {c["title"] for c in cycle_after} >= {"Loser"}

    # an hourly replay of the days rolled up is refused, naming the setting to change
    with pytest.raises(asyncpg.PostgresError) as refused:
        await db.fetchval("SELECT create_backtest($1, $2, 'hour')", *backtest[1:])
    assert "hourly_retention_days" in str(refused.value)


async def test_retention_shorter_than_the_rules_or_a_queued_backtest_need_is_refused(client, db):
    client.headers.update(auth())
    response = await client.patch("/settings", json={"hourly_retention_days": 29})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "hourly_retention_days"
    await db.execute(
        "INSERT INTO backtests (from_at, to_at, step, steps_total) VALUES (now() - interval '60 days', now() - interval '50 days', 'hour', 240)"
    )
    response = await client.patch("/settings", json={"hourly_retention_days": 30})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "hourly_retention_days"
    assert "backtest" in problem["errors"][0]["message"]
    assert await db.fetchval("SELECT hourly_retention_days FROM autonomous_settings") == 90
    response = await client.patch("/settings", json={"hourly_retention_days": 120})
    assert response.status_code == 200, response.text
    assert response.json()["hourly_retention_days"] == 120


async def test_two_roll_ups_at_once_do_the_work_once(db, db_url):
    await keep_all_hours(db)
    kept_30 = await db.fetchval("SELECT ao_hourly_kept_from(now(), 30)")
    a = await account(db, "UTC", "UTC")
    await hourly_history(db, a, {"Old": 1.0}, kept_30 - timedelta(days=3), kept_30)
    await keep_30_days(db)
    other = await asyncpg.connect(db_url)
    try:
        tr = db.transaction()
        await tr.start()
        first = await db.fetchval(ROLL_UP)
        second = json.loads(await other.fetchval(ROLL_UP))
        await tr.commit()
    finally:
        await other.close()
    assert first["rolled_up"] and second["busy"] is True
    assert await db.fetchval("SELECT count(*) FROM metric_rollups") == 1


async def test_two_batches_that_need_the_same_new_month_both_land(db, db_url):
    # two campaigns, so that neither batch waits for the other's campaign row
    a, b = [
        str(
            await db.fetchval(
                "INSERT INTO campaigns (external_id, title, status, daily_budget)"
                " VALUES ($1, $1, 'active', 10) RETURNING id",
                name,
            )
        )
        for name in ("a", "b")
    ]

    def row(cid: str, day: int) -> list[dict[str, Any]]:
        start = datetime(2018, 5, day, tzinfo=UTC)
        return [
            {
                "campaign_id": cid,
                "period_start": start.isoformat(),
                "period_end": (start + timedelta(days=1)).isoformat(),
                "spend": day,
            }
        ]

    other = await asyncpg.connect(db_url)
    try:
        tr = db.transaction()
        await tr.start()
        await db.fetchval("SELECT ingest_campaign_metrics($1)", row(a, 1))
        second = asyncio.create_task(
            other.fetchval("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(row(b, 2)))
        )
        for _ in range(100):  # the second batch waits for the month the first is making
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = $1",
                other.get_server_pid(),
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting
        await tr.commit()
        await second
    finally:
        await other.close()
    assert await db.fetchval("SELECT count(*) FROM campaign_metrics_p2018_05") == 2
    assert await db.fetchval("SELECT spend FROM campaigns WHERE id = $1::uuid", b) == 2


ROWS = """
SELECT count(*), sum(spend), sum(revenue), sum(impressions),
       md5(string_agg(campaign_id::text || period_start || period_end || impressions || coalesce(reach, -1) || clicks
                      || conversions || spend || revenue || updated_at, ',' ORDER BY campaign_id, period_start))
  FROM campaign_metrics
"""


async def test_a_populated_database_keeps_every_row_when_migrated(pg_server):
    admin_url, _ = pg_server
    name = f"ao_partition_mig_{os.getpid()}"
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    url = with_database(admin_url, name)
    try:
        # the schema as the release before partitions left it (its migrations, no newer function)
        await asyncio.to_thread(alembic, url, "-x", "functions=off", "upgrade", "0021")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """
                INSERT INTO campaigns (external_id, title, status, daily_budget)
                SELECT 'c' || g, 'C' || g, 'active', 50 FROM generate_series(1, 20) g;
                INSERT INTO campaign_metrics (campaign_id, period_start, period_end, impressions, reach, clicks,
                                              conversions, spend, revenue)
                SELECT c.id, t, t + CASE WHEN t < now() - interval '60 days' THEN interval '1 day' ELSE interval '1 hour' END,
                       (random() * 1000)::int, CASE WHEN random() < 0.2 THEN NULL ELSE (random() * 500)::int END,
                       (random() * 50)::int, (random() * 5)::int, round((random() * 100)::numeric, 4),
                       round((random() * 300)::numeric, 4)
                  FROM campaigns c,
                       LATERAL (SELECT generate_series(now() - interval '400 days', now() - interval '61 days', interval '1 day')
                                UNION ALL
                                SELECT generate_series(now() - interval '60 days', now(), interval '1 hour')) s(t);
                """
            )
            before = dict(await conn.fetchrow(ROWS))
            assert (
                await conn.fetchval(
                    "SELECT relkind FROM pg_class WHERE relname = 'campaign_metrics'"
                )
                == b"r"
            )
        finally:
            await conn.close()
        await asyncio.to_thread(alembic, url, "upgrade", "head")
        conn = await asyncpg.connect(url)
        try:
            assert dict(await conn.fetchrow(ROWS)) == before
            assert before["count"] == 20 * (340 + 60 * 24 + 1)
            assert (
                await conn.fetchval(
                    "SELECT relkind FROM pg_class WHERE relname = 'campaign_metrics'"
                )
                == b"p"
            )
            # each row in the partition of its month, and the months of 14 months of history all made
            assert not await conn.fetchval(
                "SELECT count(*) FROM campaign_metrics m WHERE ao_metric_partition(m.period_start) <> m.tableoid::regclass::text"
            )
            assert await conn.fetchval("SELECT count(*) FROM ao_metric_partitions()") >= 15
            # the migrated table still refuses a DELETE and a TRUNCATE
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute("DELETE FROM campaign_metrics")
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute("TRUNCATE campaign_metrics")
        finally:
            await conn.close()
    finally:
        admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
