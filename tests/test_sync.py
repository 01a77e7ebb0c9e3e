"""Ad accounts synced from their platforms: the fake Meta and Google servers on 127.0.0.1 (tests/fake_ads.py)
answer as the recorded bodies do; the sync reads campaigns and days exactly, keeps revisions, follows
paging and report runs, paces itself by the usage headers and backs off when throttled, and records a
failure (an expired token, a malformed answer) without touching what was stored."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db.pool import create_pool
from app.main import create_app
from app.platforms.graph import Figures
from app.services.sync import sync_once
from tests.conftest import TEST_SECRET, auth
from tests.fake_ads import (
    FakeGoogle,
    FakeMeta,
    Fault,
    GoogleCustomer,
    ads_fixture,
    figures,
    meta_account,
)
from tests.servers import serve

META_TOKEN = "EAAGmeta-token-0001"
NY = "America/New_York"


def today_in(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def last_days(timezone: str, n: int = 7) -> list[date]:
    """The n days before today in the zone, oldest first (what a lookback of n reads)."""
    today = today_in(timezone)
    return [today - timedelta(days=k) for k in range(n, 0, -1)]


@pytest.fixture
def meta() -> Any:
    fake = FakeMeta(
        [
            meta_account(days=last_days(NY)),
            meta_account(
                "act_2222",
                currency="JPY",
                timezone="Asia/Tokyo",
                token="EAAGmeta-token-yen2",
                days=last_days("Asia/Tokyo"),
            ),
        ]
    )
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def google() -> Any:
    tz = "America/Los_Angeles"
    customer = GoogleCustomer(
        "1234567890",
        campaigns=[
            {"id": "2", "name": "Spring sale", "budget_micros": 75_000_000},
            {"id": "3", "name": "Brand", "status": "PAUSED", "budget_micros": 12_340_000},
        ],
    )
    for n, day in enumerate(last_days(tz)):
        customer.days[("2", day)] = {
            "cost_micros": 185_340_000 + n * 10_000,
            "impressions": 1200 + n,
            "clicks": 142,
            "conversions": 3.0,
            "value": 120.57,
        }
        customer.days[("3", day)] = {
            "cost_micros": 1_000_000,
            "impressions": 10,
            "clicks": 1,
            "conversions": 0.0,
            "value": 0.0,
        }
    customer.hours[("2", today_in(tz), 0)] = {
        "cost_micros": 2_500_000,
        "impressions": 30,
        "clicks": 2,
        "conversions": 1.0,
        "value": 40.0,
    }
    fake = FakeGoogle([customer])
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def settings(db_url, tmp_path, meta, google) -> Settings:
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        migrate_on_start=False,
        scheduler_enabled=False,
        media_fetch_allow_private=True,  # the fakes live on 127.0.0.1
        meta_graph_url=meta.url,
        google_ads_api_url=google.url,
        google_oauth_token_url=f"{google.url}/token",
        sync_backfill_days=7,
    )


@pytest.fixture
async def api(settings):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth()
        ) as c:
            yield c


@pytest.fixture
async def pool(settings):
    p = await create_pool(settings.database_url, 1, 4)
    yield p
    await p.close()


class Syncer:
    """Runs syncs with the waits recorded instead of slept."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool, self.settings = pool, settings
        self.cipher = TokenCipher(settings.encryption_key())
        self.waits: list[float] = []

    async def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def __call__(
        self, settings: Settings | None = None, worker: str = "test"
    ) -> dict[str, Any] | None:
        return await sync_once(
            self.pool, settings or self.settings, self.cipher, worker=worker, sleep=self._sleep
        )


@pytest.fixture
def sync(pool, settings) -> Syncer:
    return Syncer(pool, settings)


async def connect_meta(
    api, account_id: str = "act_1234567890", token: str = META_TOKEN
) -> dict[str, Any]:
    r = await api.post(
        "/ad-accounts",
        json={
            "platform": "meta",
            "external_id": account_id,
            "credentials": {"access_token": token},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


GOOGLE_CREDENTIALS = {
    "refresh_token": "1//google-refresh-0001",
    "client_id": "client-1.apps.googleusercontent.com",
    "client_secret": "GOCSPX-secret-0001",
    "developer_token": "dev-token-0001",
}


async def connect_google(api) -> dict[str, Any]:
    r = await api.post(
        "/ad-accounts",
        json={
            "platform": "google",
            "external_id": "123-456-7890",
            "credentials": GOOGLE_CREDENTIALS,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def metrics(db, account_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT c.external_id, m.period_start, m.period_end, m.impressions, m.reach, m.clicks, m.conversions,
                  m.spend, m.revenue
             FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id
            WHERE c.account_id = $1 ORDER BY 1, 2""",
        account_id,
    )
    return [dict(r) for r in rows]


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


# -- Meta ---------------------------------------------------------------------------------------------


async def test_meta_account_syncs_campaigns_and_seven_days_exactly(api, db, sync, meta):
    account = await connect_meta(api)
    assert (account["currency"], account["timezone"], account["mode"]) == ("USD", NY, "observe")
    assert account["credentials_last4"] == META_TOKEN[-4:] and META_TOKEN not in json.dumps(account)
    synced = await sync()
    assert synced is not None and synced["status"] == "succeeded", synced
    assert (
        synced["trigger"] == "connect" and synced["rows_read"] == 14 and synced["rows_revised"] == 0
    )
    campaigns = await db.fetch(
        "SELECT external_id, title, status, daily_budget, platform_status FROM campaigns WHERE account_id = $1"
        " ORDER BY external_id",
        account["id"],
    )
    assert [tuple(c) for c in campaigns] == [
        ("120330000000000001", "Campaign 1", "active", Decimal("50.00"), "ACTIVE"),
        (
            "120330000000000002",
            "Campaign 2",
            "active",
            Decimal("20.00"),
            "ACTIVE",
        ),  # active ad sets only
    ]
    rows = await metrics(db, account["id"])
    assert len(rows) == 14
    for row in rows:
        i = int(row["external_id"][-1])
        n = last_days(NY).index(row["period_start"].astimezone(ZoneInfo(NY)).date())
        want = figures(i, n)
        assert row["period_start"] == local_midnight(last_days(NY)[n], NY)
        assert row["period_end"] == local_midnight(last_days(NY)[n] + timedelta(days=1), NY)
        assert row["spend"] == want.spend and row["revenue"] == want.purchase_value  # to the cent
        assert row["conversions"] == want.purchases  # purchase, omni_purchase and the pixel's: one
        assert (row["impressions"], row["clicks"], row["reach"]) == (
            want.impressions,
            want.clicks,
            want.reach,
        )
    # every day read for the first time is a revision: what was known, when
    assert (
        await db.fetchval("SELECT count(*) FROM metric_revisions WHERE sync_id = $1", synced["id"])
        == 14
    )
    shown = (await api.get(f"/ad-accounts/{account['id']}")).json()
    assert shown["last_sync_at"] and shown["last_error"] is None and shown["campaigns"] == 2
    history = (await api.get(f"/ad-accounts/{account['id']}/syncs")).json()["items"]
    assert [h["status"] for h in history] == ["succeeded"] and history[0]["requests"] >= 4
    listed = (await api.get("/campaigns", params={"account_id": account["id"]})).json()["items"]
    assert {c["account_id"] for c in listed} == {account["id"]} and len(listed) == 2


async def test_zero_decimal_currency_is_read_in_whole_units(api, db, sync):
    account = await connect_meta(api, "act_2222", "EAAGmeta-token-yen2")
    assert (account["currency"], account["timezone"]) == ("JPY", "Asia/Tokyo")
    assert (await sync())["status"] == "succeeded"
    budgets = await db.fetch(
        "SELECT daily_budget FROM campaigns WHERE account_id = $1 ORDER BY external_id",
        account["id"],
    )
    assert [b["daily_budget"] for b in budgets] == [
        Decimal(5000),
        Decimal(2000),
    ]  # offset 1, not 100
    rows = await metrics(db, account["id"])
    days = last_days("Asia/Tokyo")
    for row in rows:
        n = days.index(row["period_start"].astimezone(ZoneInfo("Asia/Tokyo")).date())
        want = figures(int(row["external_id"][-1]), n, "JPY")
        assert row["spend"] == want.spend and row["revenue"] == want.purchase_value
    assert {r["period_start"] for r in rows} == {local_midnight(d, "Asia/Tokyo") for d in days}


async def test_a_revised_day_replaces_its_figures_and_leaves_a_revision(api, db, sync, meta):
    account = await connect_meta(api)
    first = await sync()
    day = last_days(NY)[-2]
    cid = "120330000000000001"
    before = meta.graph.accounts["act_1234567890"].days[(cid, day)]
    meta.graph.accounts["act_1234567890"].days[(cid, day)] = Figures(
        before.impressions,
        before.clicks,
        before.spend,
        before.purchases + 3,
        before.purchase_value + Decimal("75.25"),
        before.reach,
    )
    asked = await api.post(f"/ad-accounts/{account['id']}/sync")
    assert (
        asked.status_code == 202
        and asked.json()["status"] == "running"
        and asked.json()["trigger"] == "api"
    )
    second = await sync()
    assert (
        second["id"] == asked.json()["id"]
        and second["rows_revised"] == 1
        and second["rows_read"] == 14
    )
    row = await db.fetchrow(
        "SELECT m.conversions, m.revenue FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id"
        " WHERE c.external_id = $1 AND c.account_id = $2 AND m.period_start = $3",
        cid,
        account["id"],
        local_midnight(day, NY),
    )
    assert (row["conversions"], row["revenue"]) == (
        before.purchases + 3,
        before.purchase_value + Decimal("75.25"),
    )
    revisions = await db.fetch(
        "SELECT r.sync_id, r.conversions, r.revenue, r.spend FROM metric_revisions r"
        " JOIN campaigns c ON c.id = r.campaign_id WHERE c.external_id = $1 AND c.account_id = $2"
        " AND r.period_start = $3 ORDER BY r.observed_at",
        cid,
        account["id"],
        local_midnight(day, NY),
    )
    assert [(str(r["sync_id"]), r["conversions"], r["revenue"]) for r in revisions] == [
        (first["id"], before.purchases, before.purchase_value),
        (second["id"], before.purchases + 3, before.purchase_value + Decimal("75.25")),
    ]
    # the days that did not change left no revision
    assert (
        await db.fetchval("SELECT count(*) FROM metric_revisions WHERE sync_id = $1", second["id"])
        == 1
    )
    totals = await db.fetchrow(
        "SELECT sum(m.conversions) AS c FROM campaign_metrics m JOIN campaigns k"
        " ON k.id = m.campaign_id WHERE k.external_id = $1 AND k.account_id = $2",
        cid,
        account["id"],
    )
    assert (
        await db.fetchval(
            "SELECT conversions FROM campaigns WHERE external_id = $1 AND account_id = $2",
            cid,
            account["id"],
        )
        == totals["c"]
    )  # re-read, never double-counted


async def test_paging_and_an_async_report_run_are_followed(api, db, sync, meta, settings):
    meta.graph.page_size = 3  # 14 rows in 5 pages, 2 campaigns in 1
    account = await connect_meta(api)
    paged = await sync()
    assert paged["status"] == "succeeded" and paged["rows_read"] == 14
    insight_pages = [
        p for m, p in meta.calls if m == "GET" and p.endswith("/act_1234567890/insights")
    ]
    assert len(insight_pages) >= 5  # followed paging.next to its end (the hours of today: one more)
    stored = await metrics(db, account["id"])
    meta.graph.page_size = 100
    meta.graph.async_polls = 2
    await api.post(f"/ad-accounts/{account['id']}/sync")
    report = await sync(settings.model_copy(update={"meta_async_rows": 1}))
    assert (
        report["status"] == "succeeded"
        and report["rows_read"] == 14
        and report["rows_revised"] == 0
    )
    assert ("POST", "/v25.0/act_1234567890/insights") in meta.calls
    runs = [p for m, p in meta.calls if m == "GET" and p.split("/")[-1] in meta.graph.runs]
    assert len(runs) >= 3  # polled until "Job Completed"
    assert any(
        p.endswith("/insights") and p.split("/")[-2] in meta.graph.runs for _, p in meta.calls
    )
    assert await metrics(db, account["id"]) == stored
    # a report run that fails ends the sync (what was stored stays)
    meta.graph.fail_runs = True
    await api.post(f"/ad-accounts/{account['id']}/sync")
    failed = await sync(settings.model_copy(update={"meta_async_rows": 1}))
    assert failed["status"] == "failed" and "Job Failed" in failed["error"]
    assert await metrics(db, account["id"]) == stored


async def test_throttling_80004_and_high_usage_wait_then_finish(api, db, sync, meta):
    account = await connect_meta(api)
    meta.faults.append(Fault("insights", "fb_error_80004_ad_account_rate_limit"))
    meta.graph.usage_next = [0.0, 0.0, 90.0]  # the third answer reports 90 % usage
    synced = await sync()
    assert synced["status"] == "succeeded" and synced["rows_read"] == 14
    assert 60.0 in sync.waits  # backed off on 80004, then read on
    assert 120.0 in sync.waits  # slowed down at 90 % (>= 85 %: 2 minutes)
    assert synced["throttled_seconds"] == pytest.approx(sum(sync.waits))
    sync.waits.clear()
    meta.graph.usage_next = [96.0]
    await api.post(f"/ad-accounts/{account['id']}/sync")
    assert (await sync())["status"] == "succeeded"
    assert sync.waits[0] == 600.0  # >= 95 %: 10 minutes
    # 80000 (recorded) and a transient 503 (code 2) are retried the same way
    sync.waits.clear()
    meta.faults += [
        Fault("insights", "meta_error_80000_ad_account_insights_limit"),
        Fault("campaigns", "meta_error_2_transient"),
    ]
    await api.post(f"/ad-accounts/{account['id']}/sync")
    assert (await sync())["status"] == "succeeded" and 60.0 in sync.waits and 2.0 in sync.waits


async def test_an_expired_token_marks_the_account_error_and_emits_the_event(api, db, sync, meta):
    account = await connect_meta(api)
    r = await api.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/ads", "event_types": ["ad_account.error"]}
    )
    assert r.status_code == 201, r.text
    meta.faults.append(Fault("/act_1234567890", "meta_error_190_463_token_expired"))
    failed = await sync()
    assert failed["status"] == "failed" and "Session has expired" in failed["error"]
    shown = (await api.get(f"/ad-accounts/{account['id']}")).json()
    assert shown["status"] == "error" and "Session has expired" in shown["last_error"]
    event = await db.fetchrow(
        "SELECT type, payload FROM webhook_events WHERE type = 'ad_account.error'"
    )
    assert event is not None and event["payload"]["data"]["id"] == account["id"]
    assert META_TOKEN not in json.dumps(event["payload"])
    assert await sync() is None  # an account in error is not synced until a person acts
    rotated = await api.patch(
        f"/ad-accounts/{account['id']}", json={"credentials": {"access_token": META_TOKEN}}
    )
    assert rotated.status_code == 200 and rotated.json()["status"] == "active", rotated.text
    assert (await sync())["status"] == "succeeded"


async def test_a_malformed_answer_leaves_the_database_as_it_was(api, db, sync, meta):
    account = await connect_meta(api)
    assert (await sync())["status"] == "succeeded"
    stored = await metrics(db, account["id"])
    campaigns = [
        dict(r)
        for r in await db.fetch(
            "SELECT * FROM campaigns WHERE account_id = $1 ORDER BY id", account["id"]
        )
    ]
    revisions = await db.fetchval("SELECT count(*) FROM metric_revisions")
    data = meta.graph.accounts["act_1234567890"]
    day = last_days(NY)[0]
    cid = "120330000000000002"
    good = data.days[(cid, day)]
    for bad, words in (
        (
            Figures(good.impressions, good.clicks, "12,34", good.purchases, good.purchase_value),
            "spend",
        ),  # type: ignore[arg-type]
        (Figures(-5, good.clicks, good.spend, good.purchases, good.purchase_value), "impressions"),
    ):
        data.days[(cid, day)] = bad
        # and a revised day elsewhere in the same answer, which must not land either
        data.days[("120330000000000001", day)] = figures(9, 9)
        await api.post(f"/ad-accounts/{account['id']}/sync")
        failed = await sync()
        assert failed["status"] == "failed", failed
        assert f"campaign {cid}" in failed["error"] and words in failed["error"]
        assert await metrics(db, account["id"]) == stored
        assert [
            dict(r)
            for r in await db.fetch(
                "SELECT * FROM campaigns WHERE account_id = $1 ORDER BY id", account["id"]
            )
        ] == campaigns
        assert await db.fetchval("SELECT count(*) FROM metric_revisions") == revisions
    # a day outside the range asked for: the whole sync fails too
    data.days[(cid, day)] = good
    outside = {
        "data": [
            {
                "campaign_id": cid,
                "date_start": "2001-01-01",
                "date_stop": "2001-01-01",
                "spend": "1.00",
                "impressions": "1",
                "clicks": "0",
            }
        ]
    }
    meta.faults.append(Fault("act_1234567890/insights", answer=(200, outside)))
    await api.post(f"/ad-accounts/{account['id']}/sync")
    failed = await sync()
    assert (
        failed["status"] == "failed" and "2001-01-01 is outside the range read" in failed["error"]
    )
    assert f"campaign {cid}" in failed["error"]
    assert await metrics(db, account["id"]) == stored


async def test_two_workers_never_sync_one_account_at_once(api, db, sync, meta):
    account = await connect_meta(api)
    meta.faults.append(Fault("campaigns", "slow", seconds=1.0))
    first, second = await asyncio.gather(sync(worker="a"), sync(worker="b"))
    ran = [s for s in (first, second) if s is not None]
    assert len(ran) == 1 and ran[0]["status"] == "succeeded"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM ad_account_syncs WHERE account_id = $1", account["id"]
        )
        == 1
    )
    # a claim while another holds the lease finds nothing; a lapsed lease is taken over and its sync closed
    await db.execute("UPDATE ad_accounts SET next_sync_at = now() WHERE id = $1", account["id"])
    held = await db.fetchrow("SELECT * FROM claim_ad_account_sync('x', 300)")
    assert (
        held is not None
        and await db.fetchrow("SELECT * FROM claim_ad_account_sync('y', 300)") is None
    )
    await db.execute(
        "UPDATE ad_accounts SET sync_claimed_until = now() - interval '1 second' WHERE id = $1",
        account["id"],
    )
    taken = await db.fetchrow("SELECT * FROM claim_ad_account_sync('y', 300)")
    assert taken["sync_id"] != held["sync_id"]
    lapsed = await db.fetchrow(
        "SELECT status, error FROM ad_account_syncs WHERE id = $1", held["sync_id"]
    )
    assert lapsed["status"] == "failed" and "lease lapsed" in lapsed["error"]
    with pytest.raises(asyncpg.PostgresError, match="no longer this worker"):
        await db.fetchval("SELECT record_ad_account_sync($1, '{}'::jsonb, 3600)", held["sync_id"])


async def test_days_land_in_the_account_time_zone_across_a_dst_change(
    api, db, sync, meta, settings
):
    tz = "America/Los_Angeles"
    today = today_in(tz)
    zone = ZoneInfo(tz)
    # the last DST change in the year before today: a day of 23 or 25 hours
    change = next(
        d
        for d in (today - timedelta(days=k) for k in range(1, 400))
        if datetime(d.year, d.month, d.day, tzinfo=zone).utcoffset()
        != datetime(d.year, d.month, d.day, tzinfo=zone).replace(hour=23).utcoffset()
    )
    days = [change - timedelta(days=1), change, change + timedelta(days=1)]
    data = meta_account(
        "act_3333", timezone=tz, token="EAAGmeta-token-la03", campaigns=1, days=days
    )
    meta.graph.accounts[data.id] = data
    account = await connect_meta(api, data.id, data.token)
    assert account["timezone"] == tz
    assert (await sync(settings.model_copy(update={"sync_backfill_days": 400})))[
        "status"
    ] == "succeeded"
    rows = await metrics(db, account["id"])
    assert [r["period_start"] for r in rows] == [local_midnight(d, tz) for d in days]
    hours = [(r["period_end"] - r["period_start"]) / timedelta(hours=1) for r in rows]
    assert hours[0] == 24 and hours[1] in (23, 25) and hours[2] == 24
    assert all(r["period_start"].tzinfo is not None for r in rows)
    # the local hours of that day: the repeated hour lasts two, the skipped one is not there
    periods = await db.fetch(
        "SELECT h, (ao_account_period($1, h, $2)).* FROM generate_series(0, 23) h", change, tz
    )
    spans = [(p["period_end"] - p["period_start"]) / timedelta(hours=1) for p in periods]
    assert sum(s for s in spans if s > 0) == hours[1]
    assert periods[0]["period_start"] == local_midnight(change, tz)
    assert periods[-1]["period_end"] == local_midnight(change + timedelta(days=1), tz)


async def test_todays_hours_give_way_to_the_day_once_it_is_read_whole(api, db, sync, meta):
    account = await connect_meta(api)
    today = today_in(NY)
    data = meta.graph.accounts["act_1234567890"]
    cid = "120330000000000001"
    for hour in (0, 1):
        data.hours[(cid, today, hour)] = Figures(100, 5, Decimal("1.50"), 1, Decimal("10.00"))
    first = await sync()
    hours = await db.fetch(
        "SELECT m.period_start, m.period_end, m.spend FROM campaign_metrics m JOIN campaigns c"
        " ON c.id = m.campaign_id WHERE c.external_id = $1 AND c.account_id = $2"
        " AND m.period_start >= $3 ORDER BY 1",
        cid,
        account["id"],
        local_midnight(today, NY),
    )
    assert [(h["period_end"] - h["period_start"]) for h in hours] == [timedelta(hours=1)] * 2
    assert first["rows_read"] == 16
    # tomorrow: today is read whole (its purchases off Meta included), its hours give way to it
    stored = await db.fetchval(
        "SELECT conversions FROM campaigns WHERE external_id = $1 AND account_id = $2",
        cid,
        account["id"],
    )
    data.days[(cid, today)] = Figures(300, 12, Decimal("4.75"), 5, Decimal("55.00"))
    read = {
        "account": None,
        "date_from": today.isoformat(),
        "date_to": today.isoformat(),
        "hourly_day": None,
        "campaigns": [
            {
                "external_id": c.id,
                "title": c.name,
                "status": "active",
                "platform_status": "ACTIVE",
                "daily_budget": None,
            }
            for c in data.campaigns
        ],
        "rows": [
            {
                "external_id": cid,
                "day": today.isoformat(),
                "hour": None,
                "impressions": 300,
                "reach": None,
                "clicks": 12,
                "conversions": 5,
                "spend": "4.75",
                "revenue": "55.00",
            }
        ],
    }
    await db.execute("UPDATE ad_accounts SET next_sync_at = now() WHERE id = $1", account["id"])
    claimed = await db.fetchrow("SELECT * FROM claim_ad_account_sync('t', 300)")
    recorded = await db.fetchval(
        "SELECT record_ad_account_sync($1, $2::jsonb, 3600)", claimed["sync_id"], read
    )
    assert recorded["status"] == "succeeded" and recorded["rows_revised"] == 1
    day = await db.fetch(
        "SELECT m.period_start, m.period_end, m.spend, m.conversions FROM campaign_metrics m JOIN campaigns c"
        " ON c.id = m.campaign_id WHERE c.external_id = $1 AND c.account_id = $2"
        " AND m.period_start >= $3",
        cid,
        account["id"],
        local_midnight(today, NY),
    )
    assert [(d["spend"], d["conversions"]) for d in day] == [(Decimal("4.75"), 5)]
    assert day[0]["period_end"] == local_midnight(today + timedelta(days=1), NY)
    assert (
        await db.fetchval(
            "SELECT conversions FROM campaigns WHERE external_id = $1 AND account_id = $2",
            cid,
            account["id"],
        )
        == stored - 2 + 5
    )
    what_was_known = await db.fetch(
        "SELECT r.sync_id, r.conversions, r.spend FROM metric_revisions r JOIN campaigns c"
        " ON c.id = r.campaign_id WHERE c.external_id = $1 AND c.account_id = $2"
        " AND r.period_start = $3 ORDER BY r.observed_at",
        cid,
        account["id"],
        local_midnight(today, NY),
    )
    assert [(r["sync_id"], r["conversions"], r["spend"]) for r in what_was_known] == [
        (None, 2, Decimal("3.00")),
        (claimed["sync_id"], 5, Decimal("4.75")),
    ]


async def test_trigger_rules_act_on_synced_rows_as_they_land(api, db, sync, meta):
    # Critical ROI Pause (a trigger rule by default) pauses a campaign that spends without returning
    await connect_meta(api)
    data = meta.graph.accounts["act_1234567890"]
    for day in last_days(NY):
        data.days[("120330000000000002", day)] = Figures(5000, 40, Decimal("150.00"), 0, Decimal(0))
    assert (await sync())["status"] == "succeeded"
    queued = await db.fetch(
        "SELECT c.external_id FROM metric_trigger_queue q JOIN campaigns c ON c.id = q.campaign_id"
        " WHERE q.evaluated_version < q.version ORDER BY 1"
    )
    assert [q["external_id"] for q in queued] == ["120330000000000001", "120330000000000002"]
    await db.fetchval("SELECT evaluate_metric_triggers()")
    # a new connected account observes: the pause is proposed, the campaign runs on as its platform has it
    action = await db.fetchrow(
        "SELECT a.action_type, a.status FROM autonomous_actions a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE c.external_id = '120330000000000002'"
    )
    assert (action["action_type"], action["status"]) == ("pause", "proposed")
    assert (
        await db.fetchval("SELECT status FROM campaigns WHERE external_id = '120330000000000002'")
        == "active"
    )


# -- Google Ads ---------------------------------------------------------------------------------------


async def test_google_account_syncs_with_micros_exactly(api, db, sync, google):
    account = await connect_google(api)
    assert (account["external_id"], account["currency"], account["timezone"]) == (
        "1234567890",
        "USD",
        "America/Los_Angeles",
    )
    assert account["credentials_last4"] == "0001"
    assert all(s not in json.dumps(account) for s in GOOGLE_CREDENTIALS.values())
    synced = await sync()
    assert synced["status"] == "succeeded", synced
    assert synced["rows_read"] == 15  # 7 days × 2 campaigns and today's one hour
    campaigns = await db.fetch(
        "SELECT external_id, status, daily_budget, platform_status FROM campaigns"
        " WHERE account_id = $1 ORDER BY external_id",
        account["id"],
    )
    assert [tuple(c) for c in campaigns] == [
        ("2", "active", Decimal("75.00"), "ENABLED"),
        ("3", "paused", Decimal("12.34"), "PAUSED"),
    ]
    rows = [r for r in await metrics(db, account["id"]) if r["external_id"] == "2"]
    tz = "America/Los_Angeles"
    daily = [r for r in rows if r["period_end"] - r["period_start"] >= timedelta(hours=23)]
    assert [r["spend"] for r in daily] == [
        Decimal("185.34") + Decimal("0.01") * n for n in range(7)
    ]
    assert {(r["conversions"], r["revenue"]) for r in daily} == {(3, Decimal("120.57"))}
    (hour,) = [r for r in rows if r["period_end"] - r["period_start"] == timedelta(hours=1)]
    assert hour["period_start"] == local_midnight(today_in(tz), tz) and hour["spend"] == Decimal(
        "2.50"
    )
    stream = [r for r in google.requests if "searchStream" in r["path"]]
    assert stream and all(r["headers"]["developer-token"] == "dev-token-0001" for r in stream)
    assert any("segments.date BETWEEN" in r["query"] for r in stream)


async def test_google_resource_exhausted_honours_its_retry_delay(api, db, sync, google):
    account = await connect_google(api)
    google.faults.append(Fault("searchStream", "google_error_quota_exhausted"))
    failed = (
        await sync()
    )  # 8962 s is past what a sync waits: it ends, and the next comes after the delay
    assert failed["status"] == "failed" and "8962" in failed["error"]
    next_at = await db.fetchval("SELECT next_sync_at FROM ad_accounts WHERE id = $1", account["id"])
    assert next_at >= datetime.now(UTC) + timedelta(seconds=8900)
    assert await sync() is None
    # a short delay is waited out inside the sync
    status, body = ads_fixture("google_error_quota_exhausted")
    body["error"]["details"][0]["errors"][0]["details"]["quotaErrorDetails"]["retryDelay"] = "7s"
    google.faults.append(Fault("searchStream", answer=(status, body)))
    await db.execute("UPDATE ad_accounts SET next_sync_at = now() WHERE id = $1", account["id"])
    synced = await sync()
    assert synced["status"] == "succeeded" and 7.0 in sync.waits


async def test_google_expired_token_marks_the_account_error(api, db, sync, google):
    account = await connect_google(api)
    google.expire_tokens = True
    failed = await sync()
    assert failed["status"] == "failed" and "OAUTH_TOKEN_EXPIRED" in failed["error"]
    refreshes = [r for r in google.requests if r["path"] == "/token"]
    assert len(refreshes) >= 2  # refreshed once more before giving up
    assert (await api.get(f"/ad-accounts/{account['id']}")).json()["status"] == "error"


# -- connecting: bad input and bad credentials -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"platform": "tiktok", "external_id": "x", "credentials": {"access_token": META_TOKEN}},
            "platform",
        ),
        (
            {
                "platform": "meta",
                "external_id": "1234",
                "credentials": {"access_token": META_TOKEN},
            },
            "external_id",
        ),
        (
            {"platform": "google", "external_id": "12-34", "credentials": GOOGLE_CREDENTIALS},
            "external_id",
        ),
        (
            {
                "platform": "meta",
                "external_id": "act_1",
                "credentials": {"refresh_token": "1//abcdefgh"},
            },
            "credentials.access_token",
        ),
        (
            {
                "platform": "google",
                "external_id": "1234567890",
                "credentials": {"access_token": META_TOKEN},
            },
            "credentials.client_id",
        ),
        (
            {
                "platform": "manual",
                "external_id": "client-a",
                "name": "A",
                "currency": "usd",
                "timezone": "UTC",
            },
            "currency",
        ),
        (
            {
                "platform": "manual",
                "external_id": "client-a",
                "name": "A",
                "currency": "XYZ",
                "timezone": "UTC",
            },
            "currency",
        ),
        (
            {
                "platform": "manual",
                "external_id": "client-a",
                "name": "A",
                "currency": "EUR",
                "timezone": "Mars/Olympus_Mons",
            },
            "timezone",
        ),
        (
            {"platform": "manual", "external_id": "client-a", "currency": "EUR", "timezone": "UTC"},
            "name",
        ),
        (
            {
                "platform": "meta",
                "external_id": "act_1",
                "currency": "EUR",
                "credentials": {"access_token": META_TOKEN},
            },
            "currency",
        ),
    ],
)
async def test_bad_input_names_the_field(api, db, body, field):
    before = await db.fetchval("SELECT count(*) FROM ad_accounts")
    r = await api.post("/ad-accounts", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert META_TOKEN not in r.text
    assert await db.fetchval("SELECT count(*) FROM ad_accounts") == before


async def test_bad_credentials_at_connect_give_the_platform_s_words_never_the_secret(
    api, db, caplog
):
    r = await api.post(
        "/ad-accounts",
        json={
            "platform": "meta",
            "external_id": "act_1234567890",
            "credentials": {"access_token": "EAAGwrong-token-9999"},
        },
    )
    assert r.status_code == 422 and "Error validating access token" in r.text
    assert r.json()["errors"][0]["field"] == "credentials"
    wrong = dict(GOOGLE_CREDENTIALS, refresh_token="1//wrong-refresh-9999")
    g = await api.post(
        "/ad-accounts",
        json={"platform": "google", "external_id": "1234567890", "credentials": wrong},
    )
    assert g.status_code == 422 and "expired or revoked" in g.text
    assert await db.fetchval("SELECT count(*) FROM ad_accounts") == 1  # the manual one only
    for secret in ("EAAGwrong-token-9999", "1//wrong-refresh-9999", "GOCSPX-secret-0001"):
        assert secret not in r.text + g.text and secret not in caplog.text
    twice = await connect_meta(api)
    again = await api.post(
        "/ad-accounts",
        json={
            "platform": "meta",
            "external_id": "act_1234567890",
            "credentials": {"access_token": META_TOKEN},
        },
    )
    assert again.status_code == 409 and twice["id"] not in again.text


async def test_manual_accounts_and_external_ids_unique_per_account(api, db):
    listed = (await api.get("/ad-accounts")).json()["items"]
    (manual,) = [a for a in listed if a["platform"] == "manual"]
    assert (manual["external_id"], manual["currency"], manual["timezone"]) == (
        "manual",
        "USD",
        "UTC",
    )
    r = await api.post(
        "/ad-accounts",
        json={
            "platform": "manual",
            "external_id": "client-acme",
            "name": "Acme",
            "currency": "EUR",
            "timezone": "Europe/Berlin",
        },
    )
    assert r.status_code == 201, r.text
    acme = r.json()
    assert (acme["mode"], acme["credentials_last4"], acme["next_sync_at"]) == (
        "autopilot",
        None,
        None,
    )
    first = await api.post("/campaigns", json={"external_id": "spring", "title": "Spring"})
    second = await api.post(
        "/campaigns", json={"external_id": "spring", "title": "Spring", "account_id": acme["id"]}
    )
    assert first.status_code == second.status_code == 201
    assert (first.json()["account_id"], second.json()["account_id"]) == (manual["id"], acme["id"])
    dup = await api.post(
        "/campaigns", json={"external_id": "spring", "title": "Again", "account_id": acme["id"]}
    )
    assert dup.status_code == 409 and "external_id" in dup.text
    nowhere = await api.post(
        "/campaigns",
        json={
            "external_id": "x",
            "title": "X",
            "account_id": "00000000-0000-4000-8000-000000000000",
        },
    )
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["field"] == "account_id"
    # metrics by external_id land in the account named (the manual one when none is)
    period = {
        "period_start": "2026-11-01T00:00:00Z",
        "period_end": "2026-11-02T00:00:00Z",
        "spend": 5,
    }
    m = await api.post(
        "/metrics",
        json={
            "rows": [
                {"external_id": "spring", **period},
                {"external_id": "spring", "account_id": acme["id"], **period, "spend": 7},
            ]
        },
    )
    assert m.status_code == 200, m.text
    spends = {
        r["account_id"]: float(r["spend"])
        for r in await db.fetch(
            "SELECT account_id::text, spend FROM campaigns WHERE external_id = 'spring'"
        )
    }
    assert spends == {manual["id"]: 5.0, acme["id"]: 7.0}
    manual_sync = await api.post(f"/ad-accounts/{manual['id']}/sync")
    assert manual_sync.status_code == 409
    revoked = await api.patch(f"/ad-accounts/{acme['id']}", json={"status": "revoked"})
    assert revoked.json()["status"] == "revoked"
    assert (await api.delete(f"/ad-accounts/{acme['id']}")).status_code == 405


# -- the sandbox, the worker and the command line ----------------------------------------------------


async def test_the_sandbox_syncs_in_a_worker_pass_with_late_purchases(db, settings, tmp_path):
    from app.background import Background
    from app.platforms.sandbox import SANDBOX_ACCOUNT_ID, SandboxAccount
    from app.services import demo

    assert await demo.connect_sandbox(db) and not await demo.connect_sandbox(db)  # once
    pool = await create_pool(settings.database_url, 1, 4)
    done: dict[str, Any] = {}
    try:
        await Background(
            pool, settings.database_url, settings, TokenCipher(settings.encryption_key())
        ).once(lambda name, report: done.update({name: report}))
    finally:
        await pool.close()
    assert done["ad account sync"].claimed == 1 and done["ad account sync"].outcomes == {
        "succeeded": 1
    }
    account = await db.fetchrow(
        "SELECT * FROM ad_accounts WHERE external_id = $1", SANDBOX_ACCOUNT_ID
    )
    assert (
        account["is_sandbox"]
        and account["last_sync_at"]
        and account["credentials_encrypted"] is None
    )
    campaigns = await db.fetch(
        "SELECT title, daily_budget FROM campaigns WHERE account_id = $1", account["id"]
    )
    assert len(campaigns) == 3 and all(
        c["daily_budget"] > 0 for c in campaigns
    )  # the ad sets' budgets
    days = await db.fetchval(
        "SELECT count(DISTINCT m.period_start) FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id"
        " WHERE c.account_id = $1 AND m.period_end - m.period_start > interval '22 hours'",
        account["id"],
    )
    assert days == settings.sync_backfill_days
    # as days age, their purchases arrive: the same day reports more a day later, and all from day 4
    zone = ZoneInfo("America/Los_Angeles")
    now = datetime(2026, 12, 3, 20, tzinfo=zone)
    clock = {"now": now}
    sandbox = SandboxAccount(Decimal(100), lambda: clock["now"])
    cid = sandbox.campaigns[-1].id
    seen = []
    for age in range(5):
        clock["now"] = now + timedelta(days=age)
        seen.append(sandbox.figures(cid, now.date(), None).purchases)  # type: ignore[union-attr]
    assert seen == sorted(seen) and seen[0] < seen[2] < seen[4]
    clock["now"] = now + timedelta(days=30)
    assert sandbox.figures(cid, now.date(), None).purchases == seen[4]  # type: ignore[union-attr]


def test_the_sync_command(db_url, tmp_path, meta):
    import os
    import subprocess
    import sys

    from app.db.migrations import PROJECT_ROOT

    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "JWT_SECRET": TEST_SECRET,
        "MEDIA_FETCH_ALLOW_PRIVATE": "true",
        "META_GRAPH_URL": meta.url,
        "SYNC_BACKFILL_DAYS": "7",
        "LOG_LEVEL": "WARNING",
    }

    async def connect() -> str:
        conn = await asyncpg.connect(db_url)
        try:
            cipher = TokenCipher(Settings(data_dir=tmp_path / "data").encryption_key())
            return str(
                await conn.fetchval(
                    "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, credentials_encrypted,"
                    " credentials_last4, next_sync_at) VALUES ('meta', 'act_1234567890', 'CLI', 'USD', $1, $2, '0001',"
                    " now() + interval '1 hour') RETURNING id",
                    NY,
                    cipher.encrypt(json.dumps({"access_token": META_TOKEN})),
                )
            )
        finally:
            await conn.close()

    account_id = asyncio.run(connect())
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "app.cli", "sync", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    idle = run("--once")  # not due for an hour: nothing to do
    assert idle.returncode == 0 and idle.stdout == "", idle.stderr
    now = run("--account", account_id)
    assert now.returncode == 0, now.stderr
    (synced,) = [json.loads(line) for line in now.stdout.splitlines()]
    assert (
        synced["status"] == "succeeded" and synced["trigger"] == "cli" and synced["rows_read"] == 14
    )
    assert META_TOKEN not in now.stdout + now.stderr
    bad = run("--account", "not-a-uuid")
    assert bad.returncode == 2 and "badly formed" in bad.stderr
