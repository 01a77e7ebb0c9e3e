# ruff: noqa: F811
"""Decisions applied on the platforms (the fake Meta and Google servers on 127.0.0.1, tests/fake_ads.py):
by the account's mode a pause or scale is proposed or sent; the sender reads the campaign first, writes
once, never over a person's edit and never twice after a crash; ad-set budgets scale together within
Meta's hourly limit; Google shared budgets are held; a platform's refusal is recorded; rollbacks go back
the same way."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.background.changes import account_client, send_due
from app.background.webhooks import WebhookSender
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.db import queries
from app.db.migrations import PROJECT_ROOT
from app.platforms.graph import Figures
from app.services.apply import Sender
from app.services.approvals import sign
from app.services.sync import sync_once
from tests.conftest import TEST_SECRET
from tests.fake_ads import FakeGoogle, FakeMeta, Fault, GoogleCustomer, meta_account
from tests.servers import Receiver, serve

# test_sync's fixtures of the service, its settings and a pool, pointed at this module's fakes (meta,
# google); tests request them by name (hence the file's F811 exemption)
from tests.test_sync import NY, api, connect_google, connect_meta, last_days, pool, settings  # noqa: F401

C1, C2, C3 = "120330000000000001", "120330000000000002", "120330000000000003"
WINNER = Figures(2000, 90, Decimal("20.00"), 5, Decimal("100.00"))  # ROI 5: doubled
LOSER = Figures(5000, 40, Decimal("150.00"), 0, Decimal(0))  # spends, returns nothing: paused


@pytest.fixture
def meta() -> Any:
    account = meta_account(campaigns=3)
    for day in last_days(NY):
        account.days[(C1, day)] = WINNER
        account.days[(C2, day)] = WINNER
        account.days[(C3, day)] = LOSER
    fake = FakeMeta([account])
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


GOOGLE_TZ = "America/Los_Angeles"


@pytest.fixture
def google() -> Any:
    customer = GoogleCustomer(
        "1234567890",
        campaigns=[
            {"id": "2", "name": "Spring sale", "budget_micros": 75_000_000},
            {
                "id": "4",
                "name": "Shared A",
                "budget_micros": 30_000_000,
                "budget_id": "900",
                "shared": True,
            },
            {
                "id": "5",
                "name": "Shared B",
                "budget_micros": 30_000_000,
                "budget_id": "900",
                "shared": True,
            },
        ],
    )
    for day in last_days(GOOGLE_TZ):
        for cid in ("2", "4", "5"):
            customer.days[(cid, day)] = {
                "cost_micros": 20_000_000,
                "impressions": 2000,
                "clicks": 90,
                "conversions": 5.0,
                "value": 100.0,
            }
    fake = FakeGoogle([customer])
    with serve(fake.app()) as url:
        fake.url = url  # type: ignore[attr-defined]
        yield fake


class World:
    """The account connected and synced, and the engine's cycle and the sender at hand."""

    def __init__(self, api, db, pool, settings: Settings) -> None:
        self.api, self.db, self.pool, self.settings = api, db, pool, settings
        self.cipher = TokenCipher(settings.encryption_key())
        self.sender = Sender(pool, "test-sender")

    async def sleep(self, seconds: float) -> None:
        return None

    async def connect(self, platform: str = "meta", mode: str = "autopilot") -> dict[str, Any]:
        account = await (connect_meta(self.api) if platform == "meta" else connect_google(self.api))
        r = await self.api.patch(f"/ad-accounts/{account['id']}", json={"mode": mode})
        assert r.status_code == 200, r.text
        synced = await sync_once(
            self.pool, self.settings, self.cipher, worker="t", sleep=self.sleep
        )
        assert synced is not None and synced["status"] == "succeeded", synced
        return r.json()

    async def cycle(self) -> dict[str, Any]:
        r = await self.api.post("/cycles", json={})
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def send(self) -> dict[str, int]:
        report = await send_due(self.pool, self.settings, self.cipher, self.sender)
        return report.outcomes

    async def action(self, external_id: str, action_type: str | None = None) -> dict[str, Any]:
        campaign_id = await self.db.fetchval(
            "SELECT id FROM campaigns WHERE external_id = $1", external_id
        )
        r = await self.api.get("/actions", params={"campaign_id": str(campaign_id)})
        assert r.status_code == 200, r.text
        items = [
            a for a in r.json()["items"] if action_type is None or a["action_type"] == action_type
        ]
        assert items, f"no action on {external_id}"
        return items[0]

    async def campaign(self, external_id: str) -> Any:
        return await self.db.fetchrow(
            "SELECT status, daily_budget, platform_status FROM campaigns WHERE external_id = $1",
            external_id,
        )


@pytest.fixture
def world(api, db, pool, settings) -> World:
    return World(api, db, pool, settings)


def campaign_of(meta: FakeMeta, external_id: str) -> Any:
    account = meta.graph.accounts["act_1234567890"]
    return next(c for c in account.campaigns if c.id == external_id)


def writes_to(meta: FakeMeta, node: str) -> list[dict[str, str]]:
    return [form for n, form in meta.graph.writes if n == node]


# -- Autopilot ----------------------------------------------------------------------------------------


async def test_autopilot_pauses_and_scales_on_the_platform_once(world, meta):
    await world.connect()
    await world.cycle()
    pause, scale = await world.action(C3, "pause"), await world.action(C1, "scale")
    assert (
        pause["status"] == scale["status"] == "pending"
    )  # not in effect before the platform has it
    assert (await world.campaign(C3))["status"] == "active"
    counts = await world.send()
    assert counts.get("applied") == 3, counts  # C1, C2 (ad sets) and C3
    assert campaign_of(meta, C3).status == "PAUSED"
    assert campaign_of(meta, C1).daily_budget == 10000  # 50.00 doubled, in cents
    assert writes_to(meta, C3) == [{"status": "PAUSED"}]
    assert writes_to(meta, C1) == [{"daily_budget": "10000"}]
    pause, scale = await world.action(C3, "pause"), await world.action(C1, "scale")
    assert pause["status"] == scale["status"] == "executed"
    assert scale["platform_change"]["state"] == "applied"
    assert tuple(await world.campaign(C3)) == ("paused", Decimal("20.00"), "PAUSED")
    assert (await world.campaign(C1))["daily_budget"] == Decimal("100.00")
    # nothing more to send, and a second cycle decides nothing new on them
    before = len(meta.graph.writes)
    assert (await world.send()) == {}
    await world.cycle()
    await world.send()
    assert len(meta.graph.writes) == before


async def test_an_ad_set_budget_campaign_scales_each_ad_set(world, meta):
    await world.connect()
    await world.cycle()
    assert (await world.send()).get("applied") == 3
    adsets = {a["id"]: a["daily_budget"] for a in campaign_of(meta, C2).adsets}
    # each active ad set by the factor (1234 and 766 cents doubled); the paused one as it was
    assert adsets == {f"{C2}1": 2468, f"{C2}2": 1532, f"{C2}3": 9999}
    assert [n for n, _ in meta.graph.writes if n.startswith(C2)] == [f"{C2}1", f"{C2}2"]
    assert (await world.campaign(C2))["daily_budget"] == Decimal("40.00")
    change = (await world.action(C2, "scale"))["platform_change"]
    assert change["state"] == "applied"


async def test_the_fifth_budget_change_of_an_hour_on_an_ad_set_waits(world, meta, db):
    await world.connect()
    # four budget changes of the first ad set in the last hour, made by us
    await world.cycle()
    change_id = await db.fetchval(
        "SELECT pc.id FROM platform_changes pc JOIN campaigns c ON c.id = pc.campaign_id"
        " WHERE c.external_id = $1",
        C2,
    )
    await db.execute(
        "INSERT INTO platform_writes (change_id, object_id, field, value, sent_at)"
        " SELECT $1, $2, 'daily_budget', '1234', now() - make_interval(mins => 50 - g)"
        " FROM generate_series(1, 4) g",
        change_id,
        f"{C2}1",
    )
    counts = await world.send()
    assert counts == {"applied": 2, "retry": 1}, counts
    assert writes_to(meta, f"{C2}1") == writes_to(meta, f"{C2}2") == []
    change = await db.fetchrow(
        "SELECT state, next_attempt_at - now() AS wait, last_answer FROM platform_changes WHERE id = $1",
        change_id,
    )
    assert change["state"] == "pending" and "4 budget changes" in change["last_answer"]
    assert 10 * 60 < change["wait"].total_seconds() <= 11 * 60 + 2  # the oldest is 49 min old
    assert (await world.action(C2, "scale"))["status"] == "pending"


async def travel_past_expiry(db, action_id: str) -> None:
    """The proposal's time runs out (its expiry is moved, past the append-only guard, as a clock would)."""
    async with db.transaction():
        await db.execute(
            "ALTER TABLE autonomous_actions DISABLE TRIGGER autonomous_actions_forward_only"
        )
        await db.execute(
            "UPDATE autonomous_actions SET expires_at = now() - interval '1 second' WHERE id = $1",
            action_id,
        )
        await db.execute(
            "ALTER TABLE autonomous_actions ENABLE ALWAYS TRIGGER autonomous_actions_forward_only"
        )


# -- Approve and observe --------------------------------------------------------------------------------


async def test_approve_mode_holds_until_approved_and_applies_once_when_approved_twice(
    world, meta, api
):
    await world.connect(mode="approve")
    await world.cycle()
    pause = await world.action(C3, "pause")
    assert pause["status"] == "proposed" and pause["expires_at"] is not None
    assert (await world.send()) == {}  # nothing leaves before a person says so
    assert meta.graph.writes == []
    queue = await api.get("/actions", params={"status": "proposed"})
    assert {a["id"] for a in queue.json()["items"]} >= {pause["id"]}

    async def approve() -> httpx.Response:
        return await api.post(f"/actions/{pause['id']}/approve")

    first, second = await asyncio.gather(approve(), approve())
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    refused = first if first.status_code == 409 else second
    assert "approved already" in refused.json()["detail"]
    assert (await world.send()).get("applied") == 1
    assert writes_to(meta, C3) == [{"status": "PAUSED"}]
    done = await world.action(C3, "pause")
    assert (done["status"], done["decided_by"] is not None) == ("executed", True)
    again = await api.post(f"/actions/{pause['id']}/approve")
    assert again.status_code == 409 and "applied already" in again.json()["detail"]
    # the other proposals wait on
    assert (await world.action(C1, "scale"))["status"] == "proposed"
    assert campaign_of(meta, C1).daily_budget == 5000


async def test_a_proposal_no_one_decides_on_expires(world, meta, api, db):
    await world.connect(mode="approve")
    await world.cycle()
    scale = await world.action(C1, "scale")
    await travel_past_expiry(db, scale["id"])
    r = await api.post(f"/actions/{scale['id']}/approve")
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    await world.send()  # each pass expires what ran out
    assert (await world.action(C1, "scale"))["status"] == "expired"
    r = await api.post(f"/actions/{scale['id']}/approve")
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    assert meta.graph.writes == []


async def test_a_rejected_proposal_changes_nothing(world, meta, api):
    await world.connect(mode="approve")
    await world.cycle()
    pause = await world.action(C3, "pause")
    r = await api.post(f"/actions/{pause['id']}/reject", json={"reason": "launch week"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["status_reason"] == "launch week"
    r = await api.post(f"/actions/{pause['id']}/approve")
    assert r.status_code == 409 and "rejected" in r.json()["detail"]
    await world.send()
    assert meta.graph.writes == [] and campaign_of(meta, C3).status == "ACTIVE"


async def test_observe_mode_proposes_and_the_next_cycle_does_not_propose_again(world, meta):
    await world.connect(mode="observe")
    await world.cycle()
    await world.cycle()
    r = await world.api.get("/actions", params={"status": "proposed"})
    per_campaign = [a["campaign_id"] for a in r.json()["items"]]
    assert len(per_campaign) == len(set(per_campaign)) == 3
    await world.send()
    assert meta.graph.writes == []


async def test_an_unreadable_answer_after_a_write_is_unknown_and_the_next_attempt_reads_first(
    world, meta, db
):
    await world.connect()
    await world.cycle()
    meta.faults.append(Fault(C1, answer=(502, "<html>Bad Gateway</html>"), after_write=True))
    counts = await world.send()
    assert counts.get("unknown") == 1, counts
    change = await db.fetchrow(
        "SELECT pc.state, pc.last_answer, a.status FROM platform_changes pc"
        " JOIN autonomous_actions a ON a.id = pc.action_id JOIN campaigns c ON c.id = pc.campaign_id"
        " WHERE c.external_id = $1",
        C1,
    )
    assert (change["state"], change["status"]) == ("unknown", "pending")
    assert "502" in change["last_answer"]
    await db.execute("UPDATE platform_changes SET next_attempt_at = now() WHERE state = 'unknown'")
    assert (await world.send()) == {"applied": 1}
    # the write had taken: the second attempt found the budget there and wrote nothing
    assert writes_to(meta, C1) == [{"daily_budget": "10000"}]
    assert (await world.action(C1, "scale"))["status"] == "executed"


# -- Never over a person's edit ------------------------------------------------------------------------


async def test_a_budget_edited_on_the_platform_before_the_write_is_a_conflict(world, meta, db):
    await world.connect()
    hook = await world.api.post(
        "/webhooks",
        json={"url": "http://127.0.0.1:9/ao", "event_types": ["platform_change.conflict"]},
    )
    assert hook.status_code == 201, hook.text
    await world.cycle()
    campaign_of(meta, C1).daily_budget = 7000  # a person, in Ads Manager, after the decision
    counts = await world.send()
    assert counts.get("conflict") == 1, counts
    assert writes_to(meta, C1) == [] and campaign_of(meta, C1).daily_budget == 7000
    scale = await world.action(C1, "scale")
    assert scale["status"] == "failed" and "nothing was overwritten" in scale["status_reason"]
    assert scale["platform_change"]["state"] == "conflict"
    assert (await world.campaign(C1))["daily_budget"] == Decimal("70.00")  # the local view follows
    event = await db.fetchval(
        "SELECT payload FROM webhook_events WHERE type = 'platform_change.conflict'"
    )
    assert event is not None and event["data"]["campaign_id"] == scale["campaign_id"]
    assert Decimal(event["data"]["seen_state"]["daily_budget"]) == Decimal("70.00")


# -- Google Ads, and the platform's refusals ------------------------------------------------------------


def google_campaign(google: FakeGoogle, cid: str) -> dict[str, Any]:
    return next(k for k in google.customers["1234567890"].campaigns if k["id"] == cid)


async def test_google_scales_its_own_budget_and_holds_a_shared_one(world, google):
    await world.connect("google")
    summary = await world.cycle()
    held = {h["title"]: h["held_code"] for h in summary["held_back"]}
    assert held == {"Shared A": "shared_budget", "Shared B": "shared_budget"}, summary["held_back"]
    assert (await world.send()).get("applied") == 1
    assert google_campaign(google, "2")["budget_micros"] == 150_000_000  # 75.00 doubled, exactly
    assert google_campaign(google, "4")["budget_micros"] == 30_000_000
    assert [w["resource"] for w in google.writes] == ["campaignBudgets"]
    assert google.writes[0]["body"]["operations"][0]["update"]["amountMicros"] == "150000000"
    scale = await world.action("2", "scale")
    assert scale["status"] == "executed"


async def test_google_pause_is_a_campaign_status_write(world, google, db):
    k = google_campaign(google, "2")
    for day in last_days(GOOGLE_TZ):
        google.customers["1234567890"].days[("2", day)] = {
            "cost_micros": 150_000_000,
            "impressions": 2000,
            "clicks": 90,
            "conversions": 0.0,
            "value": 0.0,
        }
    await world.connect("google")
    await world.cycle()
    assert (await world.send()).get("applied") == 1
    assert k["status"] == "PAUSED"
    assert [w["resource"] for w in google.writes] == ["campaigns"]
    assert (await world.campaign("2"))["status"] == "paused"


async def test_a_below_minimum_budget_records_the_platform_error_and_fails(world, meta, db):
    await world.connect()
    meta.graph.min_budget = 20000  # the doubled 5000 cents is under this account's minimum
    await world.cycle()
    counts = await world.send()
    assert counts.get("failed", 0) >= 1, counts
    scale = await world.action(C1, "scale")
    assert scale["status"] == "failed"
    assert "minimum daily budget" in scale["status_reason"], scale["status_reason"]
    change = scale["platform_change"]
    assert change["state"] == "failed" and "minimum daily budget" in change["last_answer"]
    assert campaign_of(meta, C1).daily_budget == 5000
    assert (await world.campaign(C1))["daily_budget"] == Decimal("50.00")  # as it was
    # a failed change is not tried again
    before = len(meta.graph.writes)
    await world.send()
    assert len(meta.graph.writes) == before


async def test_google_below_minimum_budget_fails_with_its_words(world, google):
    google.min_budget_micros = 500_000_000
    await world.connect("google")
    await world.cycle()
    assert (await world.send()).get("failed") == 1
    scale = await world.action("2", "scale")
    assert scale["status"] == "failed" and scale["platform_change"]["state"] == "failed"
    assert "budget" in scale["platform_change"]["last_answer"].lower()
    assert google_campaign(google, "2")["budget_micros"] == 75_000_000


# -- Rollback --------------------------------------------------------------------------------------------


async def test_a_rollback_of_an_applied_scale_restores_the_platform_budget(world, meta, api):
    await world.connect()
    await world.cycle()
    await world.send()
    scale = await world.action(C1, "scale")
    assert campaign_of(meta, C1).daily_budget == 10000
    r = await api.post(f"/actions/{scale['id']}/rollback", json={"reason": "too fast"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "executed"  # in effect until the platform has the old budget
    r = await api.post(f"/actions/{scale['id']}/rollback", json={"reason": "again"})
    assert r.status_code == 409, r.text
    assert (await world.send()).get("applied") == 1
    assert campaign_of(meta, C1).daily_budget == 5000
    assert writes_to(meta, C1) == [{"daily_budget": "10000"}, {"daily_budget": "5000"}]
    done = await world.action(C1, "scale")
    assert done["status"] == "rolled_back" and done["rollback_reason"] == "too fast"
    assert (await world.campaign(C1))["daily_budget"] == Decimal("50.00")


async def test_a_rollback_after_a_person_s_edit_is_a_conflict_not_an_overwrite(world, meta, api):
    await world.connect()
    await world.cycle()
    await world.send()
    pause = await world.action(C3, "pause")
    campaign_of(meta, C3).status = "ACTIVE"  # a person turned it back on in Ads Manager
    campaign_of(meta, C1).daily_budget = 12345
    scale = await world.action(C1, "scale")
    for action in (pause, scale):
        r = await api.post(f"/actions/{action['id']}/rollback", json={})
        assert r.status_code == 200, r.text
    before = len(meta.graph.writes)
    # the pause's rollback finds the campaign running already: nothing to write, applied
    counts = await world.send()
    assert counts == {"applied": 1, "conflict": 1}, counts
    assert len(meta.graph.writes) == before
    assert campaign_of(meta, C1).daily_budget == 12345
    assert (await world.action(C1, "scale"))["status"] == "executed"  # not rolled back
    changes = await api.get("/platform-changes", params={"state": "conflict"})
    assert [c["purpose"] for c in changes.json()["items"]] == ["rollback"]
    assert (await world.campaign(C1))["daily_budget"] == Decimal("123.45")


# -- A sender killed mid-write ------------------------------------------------------------------------


async def test_a_sender_killed_mid_write_then_restarted_writes_exactly_once(
    world, meta, db, db_url, settings, tmp_path
):
    await world.connect()
    await world.cycle()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(settings.data_dir),
        "JWT_SECRET": TEST_SECRET,
        "MEDIA_FETCH_ALLOW_PRIVATE": "true",
        "META_GRAPH_URL": meta.url,
        "CHANGE_LEASE_SECONDS": "5",
        "LOG_FORMAT": "json",
    }

    def worker(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    meta.graph.write_delay = 60  # the write takes on the platform; its answer never comes back
    first = worker("first")
    try:
        deadline = time.monotonic() + 60
        while not meta.graph.applied:
            assert time.monotonic() < deadline and first.poll() is None, (
                tmp_path / "first.log"
            ).read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # mid-write: sent, taken, never recorded
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_on = meta.graph.applied[0][0]
    # the batch it claimed is held by the dead sender until its lease runs out
    assert await db.fetchval("SELECT count(*) FROM platform_changes WHERE state = 'applying'") == 3
    meta.graph.write_delay = 0
    second = worker("second")
    try:
        deadline = time.monotonic() + 60
        while await db.fetchval("SELECT count(*) FROM platform_changes WHERE state <> 'applied'"):
            assert time.monotonic() < deadline and second.poll() is None, (
                tmp_path / "second.log"
            ).read_text()
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    # the fake's request log: every object written exactly once, the one cut off included
    written = [node for node, _ in meta.graph.writes]
    assert sorted(written) == sorted([C1, f"{C2}1", f"{C2}2", C3]), written
    assert written.count(killed_on) == 1
    assert campaign_of(meta, C3).status == "PAUSED" and campaign_of(meta, C1).daily_budget == 10000
    attempts = await db.fetch("SELECT attempts FROM platform_changes")
    assert [a["attempts"] for a in attempts] == [2, 2, 2]  # each taken again, read first


async def test_a_sender_whose_lease_ran_out_writes_nothing_once_another_took_over(
    world, meta, db, pool, settings
):
    await world.connect()
    await world.cycle()
    slow, quick = Sender(pool, "slow", 5), Sender(pool, "quick", 5)
    claim = "SELECT * FROM (" + queries.PLATFORM_CHANGES_CLAIM + ") c ORDER BY c.change_id"
    held = await db.fetch(claim, "slow", 10, 5)
    await db.execute("UPDATE platform_changes SET claimed_until = now() - interval '1 second'")
    taken = await db.fetch(claim, "quick", 10, 5)
    assert [c["change_id"] for c in held] == [c["change_id"] for c in taken]
    async with account_client(settings, world.cipher, held[0]) as client:
        assert client is not None
        outcomes = [(await slow.apply(c, client)).outcome for c in held]
    assert outcomes == ["taken over"] * 3 and meta.graph.writes == []
    for change in taken:
        async with account_client(settings, world.cipher, change) as client:
            assert client is not None
            done = await quick.apply(change, client)
        assert await quick.finish(change, done) is not None
    assert sorted(n for n, _ in meta.graph.writes) == sorted([C1, f"{C2}1", f"{C2}2", C3])


# -- Signed approval links ----------------------------------------------------------------------------


async def test_an_approval_link_in_the_webhook_approves_once_and_forgeries_change_nothing(
    world, meta, api, db, pool, settings
):
    receiver = Receiver()
    with serve(receiver.app()) as url:
        await world.connect(mode="approve")
        hook = await api.post(
            "/webhooks", json={"url": f"{url}/hook", "event_types": ["action.proposed"]}
        )
        assert hook.status_code == 201, hook.text
        await world.cycle()
        sender = WebhookSender(settings, world.cipher)
        try:
            deadline = time.monotonic() + 10
            while len(receiver.requests) < 3:
                await sender.deliver_once(pool)
                assert time.monotonic() < deadline
        finally:
            await sender.aclose()
    proposed = {b["data"]["campaign_id"]: b["data"] for b in receiver.bodies()}
    pause = await world.action(C3, "pause")
    data = proposed[pause["campaign_id"]]
    approve_url, reject_url = data["approve_url"], data["reject_url"]
    assert approve_url.startswith(settings.base_url + "/approvals/")
    path = approve_url.removeprefix(settings.base_url)
    public = httpx.AsyncClient(transport=api._transport, base_url="http://test")  # no bearer token
    async with public:
        shown = await public.get(path)
        assert shown.status_code == 200 and "Approve the pause" in shown.text
        assert (await world.action(C3, "pause"))[
            "status"
        ] == "proposed"  # a preview decides nothing
        token = path.rsplit("/", 1)[1]
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        r = await public.post(f"/approvals/{forged}")
        assert r.status_code == 403
        assert (await world.action(C3, "pause"))["status"] == "proposed"
        r = await public.post(path)
        assert r.status_code == 200 and "approved" in r.text
        assert (await world.action(C3, "pause"))["status"] == "pending"
        again = await public.post(path)
        assert again.status_code == 409  # used
        reject = await public.post(reject_url.removeprefix(settings.base_url))
        assert reject.status_code == 409
    assert (await world.send()).get("applied") == 1
    assert writes_to(meta, C3) == [{"status": "PAUSED"}]
    # an expired link: nothing left to decide
    scale = await world.action(C1, "scale")
    past = sign(
        settings.jwt_key(), uuid.UUID(scale["id"]), "approve", datetime(2020, 1, 1, tzinfo=UTC)
    )
    async with httpx.AsyncClient(transport=api._transport, base_url="http://test") as public:
        r = await public.post(f"/approvals/{past}")
    assert r.status_code == 409 and "expired" in r.json()["detail"]
    assert (await world.action(C1, "scale"))["status"] == "proposed"


async def test_observe_mode_announces_no_proposals(world, api, db):
    await world.connect(mode="observe")
    hook = await api.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["action.proposed"]}
    )
    assert hook.status_code == 201
    await world.cycle()
    assert (
        await db.fetchval("SELECT count(*) FROM autonomous_actions WHERE status = 'proposed'") == 3
    )
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
