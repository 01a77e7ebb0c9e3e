"""Events: trigger rules act as soon as metrics arrive; webhooks tell people, signed and never lost."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.background.webhooks import WebhookSender
from app.core.crypto import TokenCipher
from app.db.migrations import PROJECT_ROOT
from app.db.pool import _init_connection, create_pool
from app.main import create_app
from tests.conftest import auth
from tests.scenario import campaign, cycle, state
from tests.servers import Receiver, serve

CYCLE = "SELECT run_autonomous_operations_with_posting()"
EVALUATE = "SELECT evaluate_metric_triggers()"


@pytest.fixture
def receiver():
    r = Receiver()
    with serve(r.app()) as url:
        r.url = f"{url}/hook"  # type: ignore[attr-defined]
        yield r


@pytest.fixture
def event_settings(settings):
    return settings.model_copy(
        update={
            "media_fetch_allow_private": True,  # the receiver lives on 127.0.0.1
            "webhook_retry_base_seconds": 0.05,
            "webhook_timeout_seconds": 2,
            "cycle_cron": "0 0 1 1 *",  # no scheduled cycle during a test
        }
    )


@pytest.fixture
async def api(event_settings):
    app = create_app(event_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth()
        ) as c:
            yield c


@pytest.fixture
async def sender(event_settings):
    pool = await create_pool(event_settings.database_url, 1, 4)
    s = WebhookSender(event_settings, TokenCipher(event_settings.encryption_key()))
    yield lambda: s.deliver_once(pool)
    await s.aclose()
    await pool.close()


async def _endpoint(api, url: str, **fields: Any) -> dict[str, Any]:
    r = await api.post("/webhooks", json={"url": url, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def _deliver_until(send, receiver: Receiver, count: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while len(receiver.requests) < count:
        assert time.monotonic() < deadline, f"{len(receiver.requests)} of {count} requests arrived"
        await send()
        await asyncio.sleep(0.02)


def _verify(secret: str, request: dict[str, Any]) -> None:
    """The Standard Webhooks signature, checked with a plain HMAC (not the library that signed it)."""
    h = request["headers"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + request["body"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert h["webhook-signature"] == f"v1,{expected}"
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 60


async def _wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _rows(external_id: str, spend: float, revenue: float, days: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "external_id": external_id,
            "period_start": f"2026-11-{10 + d:02d}T00:00:00Z",
            "period_end": f"2026-11-{11 + d:02d}T00:00:00Z",
            "clicks": 100,
            "impressions": 5000,
            "spend": spend,
            "revenue": revenue,
        }
        for d in range(days)
    ]


async def _external_id(db, cid) -> str:
    return await db.fetchval("SELECT external_id FROM campaigns WHERE id = $1", cid)


# -- trigger rules ------------------------------------------------------------------------------------


async def test_metrics_crossing_critical_roi_are_acted_on_by_the_listener(event_settings, db):
    fine = await campaign(db, spend=100, revenue=300)  # ROI 3: nothing to do
    app = create_app(event_settings.model_copy(update={"scheduler_enabled": True}))
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth()
        )
        # 3 days at ROI 0.03 take it below Critical ROI Pause (ROI < 0.5 on ≥ 50 spent).
        r = await client.post(
            "/metrics", json={"rows": _rows(await _external_id(db, fine), 300, 10)}
        )
        assert r.status_code == 200, r.text

        async def paused() -> bool:
            return (await state(db, fine))[0] == "paused"

        await _wait_for(paused, 10)
    row = await db.fetchrow(
        "SELECT c.trigger, c.scope, c.status, a.action_type, a.status AS action_status, r.name"
        " FROM autonomous_actions a JOIN autonomous_cycles c ON c.id = a.cycle_id"
        " JOIN autonomous_rules r ON r.id = a.rule_id WHERE a.campaign_id = $1",
        fine,
    )
    assert tuple(row) == ("metrics", 1, "succeeded", "pause", "executed", "Critical ROI Pause")


async def test_a_schedule_rule_waits_for_the_cycle(db):
    # ROI 0.8 over 48 h and more: Low ROI Pause (a schedule rule) matches, Critical ROI Pause does not.
    cid = await campaign(db, hours=100, spend=100, revenue=80)
    await db.execute(
        "SELECT ingest_campaign_metrics($1::text::jsonb)",
        json.dumps(
            [
                {
                    "campaign_id": str(cid),
                    "period_start": "2026-11-20T00:00:00Z",
                    "period_end": "2026-11-21T00:00:00Z",
                    "spend": 10,
                    "revenue": 8,
                }
            ]
        ),
    )
    assert (await db.fetchval(EVALUATE))["evaluated"] == 1
    assert await state(db, cid) == ("active", 100.0)
    assert (
        await db.fetchval("SELECT count(*) FROM autonomous_cycles") == 0
    )  # nothing decided, nothing recorded
    assert (await cycle(db))["paused"] == 1


async def test_rows_ingested_while_no_listener_runs_are_acted_on_when_one_starts(
    event_settings, db
):
    cid = await campaign(db, spend=100, revenue=300)
    # psql, with no service running: the rows are queued (and the NOTIFY goes nowhere).
    await db.execute(
        "SELECT ingest_campaign_metrics($1::text::jsonb)",
        json.dumps(_rows(await _external_id(db, cid), 300, 10)),
    )
    assert await db.fetchval("SELECT version > evaluated_version FROM metric_trigger_queue") is True
    assert await state(db, cid) == ("active", 100.0)
    app = create_app(event_settings.model_copy(update={"scheduler_enabled": True}))
    async with app.router.lifespan_context(app):

        async def paused() -> bool:
            return (await state(db, cid))[0] == "paused"

        await _wait_for(paused, 10)
    assert await db.fetchval("SELECT version = evaluated_version FROM metric_trigger_queue") is True


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def test_a_scoped_evaluation_waits_for_a_running_cycle(db, db_url):
    cid = await campaign(db, spend=100, revenue=300)
    full = await _connect(db_url)
    other = await _connect(db_url)
    try:
        tx = full.transaction()
        await tx.start()
        assert (await full.fetchval(CYCLE))["status"] == "succeeded"  # holds its locks till commit
        await other.execute(
            "SELECT ingest_campaign_metrics($1::text::jsonb)",
            json.dumps(_rows(await _external_id(db, cid), 300, 10)),
        )
        waiting = asyncio.ensure_future(other.fetchval(EVALUATE))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "a scoped evaluation must wait for the running cycle"
        await tx.commit()
        summary = await asyncio.wait_for(waiting, 10)
    finally:
        await full.close()
        await other.close()
    assert summary["paused"] == 1 and summary["trigger"] == "metrics"


async def test_a_cycle_waits_for_a_running_scoped_evaluation(db, db_url):
    cid = await campaign(db, spend=100, revenue=300)
    loser = await campaign(db, spend=100, revenue=80, hours=100)  # for the cycle's Low ROI Pause
    await db.execute(
        "SELECT ingest_campaign_metrics($1::text::jsonb)",
        json.dumps(_rows(await _external_id(db, cid), 300, 10)),
    )
    scoped = await _connect(db_url)
    try:
        tx = scoped.transaction()
        await tx.start()
        assert (await scoped.fetchval(EVALUATE))["paused"] == 1
        waiting = asyncio.ensure_future(db.fetchval(CYCLE))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "a cycle must wait for a running scoped evaluation"
        await tx.commit()
        summary = await asyncio.wait_for(waiting, 10)
    finally:
        await scoped.close()
    assert summary["status"] == "succeeded" and summary["paused"] == 1  # not skipped
    assert await state(db, loser) == ("paused", 100.0)


async def test_evaluation_type_is_a_rule_field(api, db):
    rules = (await api.get("/rules")).json()["items"]
    assert {r["name"]: r["evaluation_type"] for r in rules}["Critical ROI Pause"] == "trigger"
    r = await api.post(
        "/rules",
        json={
            "name": "Instant stop",
            "rule_type": "pause",
            "evaluation_type": "trigger",
            "action": {"type": "pause"},
            "conditions": {"all": [{"metric": "roi", "op": "lt", "value": 0.3}]},
        },
    )
    assert r.status_code == 201 and r.json()["evaluation_type"] == "trigger"
    patched = await api.patch(f"/rules/{r.json()['id']}", json={"evaluation_type": "schedule"})
    assert patched.json()["evaluation_type"] == "schedule"
    bad = await api.patch(f"/rules/{r.json()['id']}", json={"evaluation_type": "sometimes"})
    assert bad.status_code == 422 and "evaluation_type" in bad.text
    with pytest.raises(asyncpg.CheckViolationError, match="evaluation_type"):
        await db.execute("UPDATE autonomous_rules SET evaluation_type = 'sometimes'")


# -- webhooks -----------------------------------------------------------------------------------------


async def test_one_signed_delivery_per_executed_action(api, db, receiver, sender):
    hook = await _endpoint(api, receiver.url, event_types=["action.executed"])
    await campaign(db, spend=200, revenue=20)
    await campaign(db, spend=300, revenue=30)
    await campaign(db, spend=100, revenue=500, conversions=40, hours=200)
    summary = (await api.post("/cycles", json={})).json()
    assert (summary["paused"], summary["scaled"]) == (2, 1)
    await _deliver_until(sender, receiver, 3)
    await asyncio.sleep(0.2)
    await sender()
    assert len(receiver.requests) == 3  # one per action, nothing else
    for request in receiver.requests:
        _verify(hook["secret"], request)
    bodies = receiver.bodies()
    assert {b["type"] for b in bodies} == {"action.executed"}
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 3
    for body in bodies:
        # the action as the API returns it, to the byte
        assert body["data"] == (await api.get(f"/actions/{body['data']['id']}")).json()
    assert {b["data"]["action_type"] for b in bodies} == {"pause", "scale"}
    deliveries = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert [d["status"] for d in deliveries] == ["delivered"] * 3
    assert all(d["attempt_log"][0]["status_code"] == 200 for d in deliveries)


async def test_a_dry_run_and_a_failed_cycle_emit_nothing_of_what_they_undid(
    api, db, receiver, sender
):
    await _endpoint(api, receiver.url)  # every event type
    await campaign(db, spend=200, revenue=20)
    assert (await api.post("/cycles", json={"dry_run": True})).json()["paused"] == 1
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    # A failure after the pauses: everything the cycle did is undone, and only its failure is told.
    await db.execute(
        "CREATE OR REPLACE FUNCTION measure_action_impact() RETURNS integer LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'impact store unavailable'; END $$"
    )
    failed = (await api.post("/cycles", json={})).json()
    assert failed["status"] == 500 and failed["cycle_id"]
    await _deliver_until(sender, receiver, 1)
    await asyncio.sleep(0.2)
    await sender()
    (body,) = receiver.bodies()
    assert body["type"] == "cycle.failed"
    assert (
        body["data"]["id"] == failed["cycle_id"]
        and body["data"]["error"] == "impact store unavailable"
    )
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 1


async def test_a_receiver_failing_twice_still_gets_the_event_with_the_same_id(
    api, db, receiver, sender
):
    hook = await _endpoint(api, receiver.url, event_types=["action.executed"])
    receiver.answers = [500, 503]
    await campaign(db, spend=200, revenue=20)
    await api.post("/cycles", json={})
    await _deliver_until(sender, receiver, 3)
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    for request in receiver.requests:
        _verify(hook["secret"], request)  # each attempt signed afresh
    (delivery,) = (await api.get(f"/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 503, 200]
    assert delivery["attempt_log"][0]["response_excerpt"] == "not now"
    # Redelivery: the same event, the same webhook-id.
    again = await api.post(f"/webhook-deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    await _deliver_until(sender, receiver, 4)
    assert receiver.requests[-1]["headers"]["webhook-id"] == delivery["event_id"] == ids.pop()


async def test_an_unreachable_receiver_never_blocks_another(api, db, receiver, sender):
    dead = await _endpoint(api, "http://127.0.0.1:9/hook", event_types=["action.executed"])
    await _endpoint(api, receiver.url, event_types=["action.executed"])
    await campaign(db, spend=200, revenue=20)
    await api.post("/cycles", json={})
    await _deliver_until(sender, receiver, 1)
    (delivery,) = (await api.get(f"/webhooks/{dead['id']}/deliveries")).json()["items"]
    assert delivery["status"] in ("pending", "sending") and delivery["attempts"] >= 1
    assert delivery["attempt_log"][0]["error"] == "the webhook URL could not be fetched"


async def test_slack_format(api, db, receiver, sender):
    await _endpoint(api, receiver.url, format="slack", event_types=["action.executed"])
    cid = await campaign(db, title="Winter Sale", spend=200, revenue=20)
    await api.post("/cycles", json={})
    await _deliver_until(sender, receiver, 1)
    (body,) = receiver.bodies()
    assert body["text"].startswith(":pause_button: Paused “Winter Sale”: ROI 0.10×")
    assert body["blocks"][0]["text"]["text"] == body["text"]
    assert await state(db, cid) == ("paused", 100.0)


async def test_the_other_events_carry_what_the_api_shows(api, db, receiver, sender):
    await _endpoint(api, receiver.url)
    cid = await campaign(db, spend=200, revenue=20)
    await campaign(db, spend=100, revenue=150, clicks=500)  # converts none of its clicks
    summary = (await api.post("/cycles", json={})).json()
    action_id = summary["actions"][0]["id"]
    await api.post(
        f"/actions/{action_id}/rollback", json={"reason": "a promo starts", "force": True}
    )
    account = await db.fetchval(
        "INSERT INTO social_accounts (platform, account_id, access_token_encrypted)"
        " VALUES ('x', 'brand', '\\x00') RETURNING id"
    )
    await db.execute("UPDATE social_accounts SET status = 'expired' WHERE id = $1", account)
    await _deliver_until(sender, receiver, 1)
    await asyncio.sleep(0.3)
    await sender()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in receiver.bodies():
        by_type.setdefault(body["type"], []).append(body["data"])
    assert set(by_type) >= {
        "action.executed",
        "action.rolled_back",
        "opportunity.opened",
        "social_account.expired",
    }
    (rolled,) = by_type["action.rolled_back"]
    assert rolled == (await api.get(f"/actions/{action_id}")).json()
    assert rolled["status"] == "rolled_back" and rolled["rollback_reason"] == "a promo starts"
    opened = by_type["opportunity.opened"][0]
    assert opened == (await api.get(f"/opportunities/{opened['id']}")).json()
    (expired,) = by_type["social_account.expired"]
    assert expired["id"] == str(account) and expired["status"] == "expired"
    assert "access_token" not in json.dumps(expired)
    assert await state(db, cid) == ("active", 100.0)


async def test_rule_errors_become_events(api, db, receiver, sender):
    await _endpoint(api, receiver.url, event_types=["rule.error"])
    await db.execute("ALTER TABLE autonomous_rules DISABLE TRIGGER autonomous_rules_validate")
    await db.execute(
        """INSERT INTO autonomous_rules (name, rule_type, priority, conditions, action)
           VALUES ('Broken shape', 'pause', 95, '{"all": 5}', '{"type": "pause"}')"""
    )
    await db.execute("ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_validate")
    summary = (await api.post("/cycles", json={})).json()
    assert summary["status"] == "succeeded" and summary["rule_errors"]
    await _deliver_until(sender, receiver, 1)
    (body,) = receiver.bodies()
    assert body["type"] == "rule.error" and body["data"]["name"] == "Broken shape"
    assert body["data"]["cycle_id"] == summary["cycle_id"]


async def test_test_event_and_rotation(api, receiver, sender):
    hook = await _endpoint(api, receiver.url)
    r = await api.post(f"/webhooks/{hook['id']}/test")
    assert r.status_code == 202 and r.json()["event_type"] == "webhook.test"
    await _deliver_until(sender, receiver, 1)
    _verify(hook["secret"], receiver.requests[0])
    assert receiver.bodies()[0]["data"]["webhook_id"] == hook["id"]
    rotated = (await api.post(f"/webhooks/{hook['id']}/rotate-secret")).json()
    assert rotated["secret"] != hook["secret"] and rotated["secret_rotated_at"]
    await api.post(f"/webhooks/{hook['id']}/test")
    await _deliver_until(sender, receiver, 2)
    _verify(rotated["secret"], receiver.requests[1])
    with pytest.raises(AssertionError):
        _verify(hook["secret"], receiver.requests[1])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2048}, "url"),
        ({"url": "http://127.0.0.1:8000/hook"}, "url"),  # internal, and not allowed here
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "https://hooks.example.com/x", "event_types": ["action.deleted"]}, "event_types"),
        ({"url": "https://hooks.example.com/x", "format": "teams"}, "format"),
    ],
)
async def test_bad_webhooks_are_refused(client, body, field):
    r = await client.post("/webhooks", json=body, headers=auth())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in json.dumps(r.json()["errors"])


async def test_webhooks_are_never_deleted(api, receiver):
    hook = await _endpoint(api, receiver.url)
    assert (await api.delete(f"/webhooks/{hook['id']}")).status_code == 405
    off = await api.patch(f"/webhooks/{hook['id']}", json={"is_active": False})
    assert off.json()["is_active"] is False


def _dump(url: str) -> str:
    candidates = [shutil.which("pg_dump")]
    try:
        import pgserver

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"))
    except ImportError:
        pass
    for pg_dump in filter(None, candidates):
        done = subprocess.run(
            [pg_dump, "--data-only", "--dbname", url], capture_output=True, text=True
        )
        if done.returncode == 0:
            return done.stdout
    raise AssertionError("no pg_dump could dump the test database")


async def test_the_secret_never_appears_again(api, db, db_url, receiver, sender, caplog):
    caplog.set_level("DEBUG")
    hook = await _endpoint(api, receiver.url)
    secret = hook["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    await campaign(db, spend=200, revenue=20)
    await api.post("/cycles", json={})
    await api.post(f"/webhooks/{hook['id']}/test")
    receiver.answers = [500]
    await _deliver_until(sender, receiver, 3)
    seen = [
        (await api.get("/webhooks")).text,
        (await api.get(f"/webhooks/{hook['id']}")).text,
        (await api.patch(f"/webhooks/{hook['id']}", json={"description": "ops"})).text,
        (await api.get(f"/webhooks/{hook['id']}/deliveries")).text,
        (await api.get("/openapi.json")).text,
        caplog.text,
        json.dumps(receiver.bodies()),
        json.dumps([r["headers"] for r in receiver.requests]),
        _dump(db_url),
    ]
    core = secret[6:]
    for text in seen:
        assert secret not in text and core not in text


async def test_a_worker_killed_mid_delivery_loses_nothing(db, db_url, receiver, tmp_path):
    key = base64.urlsafe_b64encode(b"w" * 32).decode()
    endpoint = await db.fetchval(
        "INSERT INTO webhook_endpoints (url, secret_encrypted) VALUES ($1, $2) RETURNING id",
        receiver.url,
        TokenCipher(key).encrypt("whsec_" + base64.b64encode(b"s" * 32).decode()),
    )
    await db.fetchval("SELECT webhook_send_test($1)", endpoint)
    env = {k: v for k, v in os.environ.items() if k not in ("DEMO_DATA",)}
    env.update(
        {
            "DATABASE_URL": db_url,
            "DATA_DIR": str(tmp_path / "data"),
            "TOKEN_ENCRYPTION_KEY": key,
            "JWT_SECRET": "worker-secret-" + "w" * 40,
            "MEDIA_FETCH_ALLOW_PRIVATE": "true",
            "WEBHOOK_TIMEOUT_SECONDS": "2",  # a lease of 7 s
            "LOG_FORMAT": "json",
        }
    )

    def worker(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(tmp_path / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    receiver.hang_next_seconds = 30  # the first attempt never gets its answer
    first = worker("first")
    try:
        deadline = time.monotonic() + 30
        while not receiver.requests:
            assert time.monotonic() < deadline and first.poll() is None
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)  # mid-delivery: claimed, sent, never recorded
        first.wait(timeout=10)
        status = await db.fetchval("SELECT status FROM webhook_deliveries")
        assert status == "sending"
        second = worker("second")
        try:

            async def delivered() -> bool:
                return await db.fetchval("SELECT status FROM webhook_deliveries") == "delivered"

            await _wait_for(delivered, 30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(receiver.requests) == 2
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    assert await db.fetchval("SELECT attempts FROM webhook_deliveries") == 2


async def test_the_service_stops_its_event_loops(event_settings, db):
    """With its scheduler on, the service listens for metrics and events, and stops listening with it."""
    app = create_app(event_settings.model_copy(update={"scheduler_enabled": True}))
    listening = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
    async with app.router.lifespan_context(app):

        async def listens() -> bool:
            return await db.fetchval(listening) >= 1

        await _wait_for(listens, 10)
        started = time.monotonic()
    assert time.monotonic() - started < 15
    assert await db.fetchval(listening) == 0


async def test_event_types_have_one_source(db):
    """The database's ao_event_types() is the list; the API's model, the event documents and the Slack
    texts say the same, and the checks of both tables use it."""
    from typing import get_args

    from app.models.webhooks import EVENT_DATA, TEST_EVENT, EventType
    from app.services.event_messages import SLACK_TEXT

    types = await db.fetchval("SELECT ao_event_types()")
    assert list(get_args(EventType)) == types
    assert set(EVENT_DATA) == set(SLACK_TEXT) == {*types, TEST_EVENT}
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO webhook_endpoints (url, event_types, secret_encrypted)"
            " VALUES ('https://example.com/h', ARRAY['action.exploded'], '\\x00')"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO webhook_events (id, type, payload) VALUES ('msg_x', 'nope', '{}')"
        )
