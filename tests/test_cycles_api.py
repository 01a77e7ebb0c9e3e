"""Cycles through the API: summary, dry run, concurrency, failure, rollback, psql parity, idempotency."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.db.migrations import PROJECT_ROOT
from app.main import create_app
from tests.conftest import auth, token
from tests.scenario import actions_of, campaign, connect_account, cycle, state


async def _portfolio(db) -> dict[str, uuid.UUID]:
    return {
        "critical": await campaign(
            db, title="Critical", hours=10, spend=200, revenue=40, conversions=2
        ),
        "low": await campaign(
            db,
            title="Low",
            hours=72,
            spend=100,
            revenue=80,
            conversions=4,
            recent={"spend": 30, "revenue": 20, "conversions": 1},
        ),
        "elite": await campaign(
            db, title="Elite", hours=30, spend=100, revenue=600, conversions=60, budget=100
        ),
        "good": await campaign(
            db,
            title="Good",
            hours=30,
            spend=100,
            revenue=350,
            conversions=200,
            budget=40,
            max_budget=55,
        ),
        "steady": await campaign(
            db, title="Steady", hours=30, spend=100, revenue=200, conversions=20
        ),
    }


def _decisions(summary: dict) -> set[tuple]:
    # A real post's new_state names the schedule it created; a dry run creates none.
    return {
        (
            a["campaign_id"],
            a["action_type"],
            a["rule_name"],
            json.dumps(
                {k: v for k, v in a["new_state"].items() if k != "schedule_id"}, sort_keys=True
            ),
            a["confidence"],
        )
        for a in summary["actions"]
    }


async def _snapshot(db) -> list[tuple]:
    return [
        tuple(r)
        for r in await db.fetch(
            "SELECT id, status, daily_budget, updated_at FROM campaigns ORDER BY id"
        )
    ]


async def test_post_cycles_runs_and_reports(client, db):
    ids = await _portfolio(db)
    r = await client.post("/cycles", json={}, headers=auth())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "succeeded" and body["dry_run"] is False and body["trigger"] == "api"
    assert (body["paused"], body["scaled"], body["posted"], body["opportunities_detected"]) == (
        2,
        2,
        0,
        0,
    )
    by_campaign = {a["campaign_id"]: a for a in body["actions"]}
    assert by_campaign[str(ids["good"])]["new_state"]["daily_budget"] == 55  # 40 × 1.5 = 60, capped
    assert all(
        0 <= a["confidence"] <= 1 and a["expected_impact"]["sentence"] for a in body["actions"]
    )
    assert r.headers["location"] == f"/cycles/{body['cycle_id']}"

    one = (await client.get(f"/cycles/{body['cycle_id']}", headers=auth())).json()
    assert one["status"] == "succeeded" and one["summary"]["paused"] == 2 and one["finished_at"]
    listed = (await client.get("/cycles", headers=auth())).json()["items"]
    assert listed[0]["id"] == body["cycle_id"]

    stats = (await client.get("/stats", headers=auth())).json()
    assert stats["total_actions"] == 4 and stats["paused"] == 2 and stats["scaled"] == 2
    assert stats["posted"] == 0 and stats["open_opportunities"] == 0
    assert stats["last_cycle"]["id"] == body["cycle_id"]
    actions = (
        await client.get("/actions", params={"cycle_id": body["cycle_id"]}, headers=auth())
    ).json()
    assert len(actions["items"]) == 4
    only_pauses = (
        await client.get("/actions", params={"action_type": "pause"}, headers=auth())
    ).json()
    assert {a["campaign_title"] for a in only_pauses["items"]} == {"Critical", "Low"}


async def test_dry_run_then_real_cycle_decide_the_same(client, db):
    await _portfolio(db)
    await connect_account(db, "facebook")
    await campaign(
        db, title="Clicky", hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400
    )
    before = await _snapshot(db)
    counts_before = await db.fetchrow(
        "SELECT (SELECT count(*) FROM autonomous_actions) a, (SELECT count(*) FROM campaign_schedules) s,"
        " (SELECT count(*) FROM optimization_opportunities) o"
    )
    dry = (await client.post("/cycles", json={"dry_run": True}, headers=auth())).json()
    assert dry["dry_run"] is True and dry["status"] == "succeeded"
    assert all(a["id"] is None and a["status"] == "planned" for a in dry["actions"])
    # The dry run wrote nothing: campaigns, actions, schedules and opportunities as they were.
    assert await _snapshot(db) == before
    counts_after = await db.fetchrow(
        "SELECT (SELECT count(*) FROM autonomous_actions) a, (SELECT count(*) FROM campaign_schedules) s,"
        " (SELECT count(*) FROM optimization_opportunities) o"
    )
    assert tuple(counts_after) == tuple(counts_before)
    assert (await client.get("/stats", headers=auth())).json()["total_actions"] == 0

    real = (await client.post("/cycles", json={"dry_run": False}, headers=auth())).json()
    assert _decisions(real) == _decisions(dry)
    assert (real["paused"], real["scaled"], real["posted"]) == (
        dry["paused"],
        dry["scaled"],
        dry["posted"],
    )
    assert real["posted"] == 1


async def test_overlapping_cycles_never_run(settings, db):
    ids = await _portfolio(db)
    # Make each cycle hold its lock for a while, so that the requests really overlap.
    await db.execute("""
        CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$;
        CREATE TRIGGER slow_down BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION slow_down();""")
    app = create_app(settings.model_copy(update={"db_pool_max_size": 8}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            responses = await asyncio.gather(*[c.post("/cycles", headers=auth()) for _ in range(6)])
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) >= 1 and codes.count(409) >= 1, codes
    assert set(codes) <= {201, 409}
    for r in responses:
        assert r.headers["content-type"].startswith(
            "application/json" if r.status_code == 201 else "application/problem+json"
        )
    runs = await db.fetch(
        "SELECT started_at, finished_at FROM autonomous_cycles WHERE status = 'succeeded' ORDER BY started_at"
    )
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier["finished_at"] <= later["started_at"], "two cycles overlapped"
    assert await db.fetchval(
        "SELECT count(*) FROM autonomous_cycles WHERE status = 'skipped'"
    ) == codes.count(409)
    # No campaign got two actions of a type within its cooldown.
    dupes = await db.fetch(
        "SELECT campaign_id, action_type FROM autonomous_actions GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert dupes == []
    assert await state(db, ids["elite"]) == ("active", 200.0)


async def test_concurrent_psql_sessions_never_overlap(db_url, db):
    await _portfolio(db)
    conns = [await asyncpg.connect(db_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *[c.fetchval("SELECT run_autonomous_operations_with_posting()::text") for c in conns]
        )
    finally:
        for c in conns:
            await c.close()
    statuses = [json.loads(r)["status"] for r in results]
    assert set(statuses) <= {"succeeded", "skipped"} and "succeeded" in statuses
    assert (
        await db.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM autonomous_actions GROUP BY campaign_id, action_type"
            " HAVING count(*) > 1) d"
        )
        == 0
    )
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 4


async def test_error_mid_cycle_changes_nothing_and_is_recorded(client, db):
    ids = await _portfolio(db)
    # The scale step fails on one campaign, after the pauses have been written.
    await db.execute(f"""
        CREATE FUNCTION fail_on_elite() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = '{ids["elite"]}' AND NEW.daily_budget <> OLD.daily_budget THEN
                RAISE EXCEPTION 'injected failure';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_on_elite BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION fail_on_elite();""")
    before = await _snapshot(db)
    r = await client.post("/cycles", headers=auth())
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "injected" not in r.text
    cycle_id = r.json()["cycle_id"]
    assert await _snapshot(db) == before
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0
    failed = (await client.get(f"/cycles/{cycle_id}", headers=auth())).json()
    assert failed["status"] == "failed" and "injected failure" in failed["error"]
    assert (await client.get("/stats", headers=auth())).json()["last_cycle"]["status"] == "failed"


async def test_rollback_restores_exactly_and_refuses_twice(client, db):
    c = await campaign(
        db, title="Odd budget", hours=30, spend=100, revenue=600, conversions=60, budget=123.45
    )
    loser = await campaign(
        db, title="Loser", hours=10, spend=200, revenue=40, conversions=2, budget=77.7
    )
    await client.post("/cycles", headers=auth())
    assert await state(db, c) == ("active", 246.9)
    scale = (await actions_of(db, c))[0]
    pause = (await actions_of(db, loser))[0]

    r = await client.post(
        f"/actions/{scale['id']}/rollback", json={"reason": "too fast"}, headers=auth()
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (
        got["status"] == "rolled_back"
        and got["rollback_reason"] == "too fast"
        and got["rolled_back_by"]
    )
    assert await state(db, c) == ("active", 123.45)
    api_campaign = (await client.get(f"/campaigns/{c}", headers=auth())).json()
    assert api_campaign["daily_budget"] == 123.45

    r = await client.post(f"/actions/{pause['id']}/rollback", headers=auth())
    assert r.status_code == 200
    assert await state(db, loser) == ("active", 77.7)

    again = await client.post(f"/actions/{scale['id']}/rollback", headers=auth())
    assert again.status_code == 409 and "already rolled back" in again.json()["detail"]
    assert await state(db, c) == ("active", 123.45)
    stats = (await client.get("/stats", headers=auth())).json()
    assert stats["rolled_back"] == 2 and stats["scaled"] == 0 and stats["paused"] == 0

    # The next cycle does not simply redo what a person just undid.
    nxt = (await client.post("/cycles", headers=auth())).json()
    assert nxt["actions"] == []
    held = {h["campaign_id"]: h["held_reason"] for h in nxt["held_back"]}
    assert "rolled back" in held[str(c)] and "rolled back" in held[str(loser)]


async def test_rollback_after_the_campaign_changed_needs_force(client, db):
    c = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=100)
    await client.post("/cycles", headers=auth())
    action = (await actions_of(db, c))[0]
    await client.patch(f"/campaigns/{c}", json={"daily_budget": 250}, headers=auth())
    r = await client.post(f"/actions/{action['id']}/rollback", headers=auth())
    assert r.status_code == 409 and "changed since" in r.json()["detail"]
    assert await state(db, c) == ("active", 250.0)
    r = await client.post(f"/actions/{action['id']}/rollback", json={"force": True}, headers=auth())
    assert r.status_code == 200
    assert await state(db, c) == ("active", 100.0)


async def test_rollback_refusals(client, db):
    c = await campaign(db, hours=10, spend=10, revenue=10, conversions=1)
    r = await client.post(f"/actions/{uuid.uuid4()}/rollback", headers=auth())
    assert r.status_code == 404
    pending = await db.fetchval(
        "INSERT INTO autonomous_actions (campaign_id, action_type, reason) VALUES ($1, 'pause', 'p') RETURNING id",
        c,
    )
    r = await client.post(f"/actions/{pending}/rollback", headers=auth())
    assert r.status_code == 409 and "pending" in r.json()["detail"]
    opt = await db.fetchval(
        "INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, executed_at)"
        " VALUES ($1, 'optimize', 'o', 'executed', now()) RETURNING id",
        c,
    )
    assert (await client.post(f"/actions/{opt}/rollback", headers=auth())).status_code == 409
    bad = await client.post(
        f"/actions/{pending}/rollback", json={"force": "yes please"}, headers=auth()
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "force"


async def test_rollback_of_a_post_cancels_its_pending_schedule(client, db):
    await connect_account(db, "facebook")
    c = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400)
    await client.post("/cycles", headers=auth())
    post = (await actions_of(db, c))[0]
    r = await client.post(f"/actions/{post['id']}/rollback", headers=auth())
    assert r.status_code == 200
    assert (
        await db.fetchval("SELECT status FROM campaign_schedules WHERE action_id = $1", post["id"])
        == "cancelled"
    )


async def test_psql_superuser_and_api_decide_identically(client, db):
    await _portfolio(db)
    # A plain superuser connection without claims, as in psql; then undone.
    tr = db.transaction()
    await tr.start()
    from_sql = await cycle(db)
    await tr.rollback()
    assert from_sql["status"] == "succeeded" and from_sql["trigger"] == "sql"
    assert (
        from_sql["actions"][0]["created_by"] == "postgres" or from_sql["actions"][0]["created_by"]
    )
    from_api = (await client.post("/cycles", headers=auth())).json()
    assert _decisions(from_api) == _decisions(from_sql)
    assert len(from_api["actions"]) == 4


async def test_non_admin_claims_see_nothing_to_decide(db_url, db):
    await _portfolio(db)
    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('request.jwt.claims', '{\"role\": \"authenticated\"}', true)"
            )
            await conn.execute("SET LOCAL ROLE ao_app")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval("SELECT run_autonomous_operations_with_posting()")
    finally:
        await conn.close()
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0


async def test_idempotency_key_replays_the_first_result(client, db):
    await _portfolio(db)
    headers = {**auth(), "Idempotency-Key": "cron-2026-11-26T03"}
    first = await client.post("/cycles", headers=headers)
    second = await client.post("/cycles", headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotency-replayed"] == "true"
    assert second.json()["cycle_id"] == first.json()["cycle_id"]
    assert _decisions(second.json()) == _decisions(first.json())
    assert await db.fetchval("SELECT count(*) FROM autonomous_cycles") == 1
    bad = await client.post("/cycles", headers={**auth(), "Idempotency-Key": "x" * 201})
    assert bad.status_code == 422


async def test_cycle_bad_input_and_access(client):
    r = await client.post("/cycles", json={"dry_run": "maybe"}, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dry_run"
    r = await client.post("/cycles", json={"dryrun": True}, headers=auth())
    assert r.status_code == 422
    r = await client.post("/cycles", headers={"Authorization": f"Bearer {token('user')}"})
    assert r.status_code == 403
    assert (await client.get(f"/cycles/{uuid.uuid4()}", headers=auth())).status_code == 404


async def test_analytics_endpoints(client, db):
    ids = await _portfolio(db)
    under = (await client.get("/campaigns/underperforming", headers=auth())).json()["items"]
    by_id = {u["campaign_id"]: u for u in under}
    assert by_id[str(ids["critical"])]["severity"] == "critical"
    assert by_id[str(ids["critical"])]["recommendation"].startswith("Pause")
    assert by_id[str(ids["low"])]["severity"] == "high"
    assert str(ids["elite"]) not in by_id
    cands = (await client.get("/campaigns/scaling-candidates", headers=auth())).json()["items"]
    c_by_id = {c["campaign_id"]: c for c in cands}
    assert (
        c_by_id[str(ids["elite"])]["proposed_budget"] == 200
        and c_by_id[str(ids["elite"])]["factor"] == 2
    )
    assert c_by_id[str(ids["good"])]["proposed_budget"] == 55
    page = (
        await client.get("/campaigns/scaling-candidates", params={"limit": 1}, headers=auth())
    ).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    nxt = (
        await client.get(
            "/campaigns/scaling-candidates",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=auth(),
        )
    ).json()
    assert nxt["items"][0]["campaign_id"] != page["items"][0]["campaign_id"]
    # Read-only: nothing was decided.
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0


async def test_manual_post_trigger(client, db):
    c = await campaign(db, hours=5, spend=10, revenue=10, conversions=0)
    r = await client.post(f"/campaigns/{c}/post", headers=auth())
    assert r.status_code == 409 and "account" in r.json()["detail"]
    await connect_account(db, "x")
    r = await client.post(f"/campaigns/{c}/post", headers=auth())
    assert r.status_code == 201 and r.json()["action_type"] == "post"
    r = await client.post(f"/campaigns/{c}/post", headers=auth())
    assert r.status_code == 409 and "apart" in r.json()["detail"]
    assert (await client.post(f"/campaigns/{uuid.uuid4()}/post", headers=auth())).status_code == 404
    # the campaign's account may space its posts otherwise: none at all here
    await db.execute(
        "INSERT INTO account_settings (account_id, post_spacing_hours)"
        " SELECT account_id, 0 FROM campaigns WHERE id = $1",
        c,
    )
    r = await client.post(f"/campaigns/{c}/post", headers=auth())
    assert r.status_code == 201, r.text


async def test_cli_cycle_prints_the_summary(db_url, db):
    await _portfolio(db)
    env = {**os.environ, "DATABASE_URL": db_url}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "cycle", "--dry-run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["dry_run"] is True and summary["trigger"] == "cli" and summary["paused"] == 2
    assert "paused 2, scaled 2" in proc.stderr  # the end-of-cycle log line
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "cycle"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["paused"] == 2
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 4


async def test_scheduled_cycle_runs_as_the_service(settings, db):
    from app.background.cron import cycle_trigger, scheduled_cycle

    await _portfolio(db)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await scheduled_cycle(app.state.pool, cycle_trigger(settings.cycle_cron))
    row = await db.fetchrow(
        "SELECT trigger, triggered_by, status, idempotency_key FROM autonomous_cycles"
    )
    assert tuple(row)[:3] == ("cron", "scheduler", "succeeded")
    assert row["idempotency_key"].startswith("cron:") and row["idempotency_key"].endswith(":00Z")
    assert str(cycle_trigger("0 * * * *").fields[6]) == "0"  # minute 0 of every hour
    with pytest.raises(ValueError):
        Settings(cycle_cron="every hour")
