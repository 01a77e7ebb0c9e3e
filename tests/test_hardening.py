"""Hardening: every input bounded (API and psql alike), one bad rule cannot stop the engine, requests
bound to their Idempotency-Key, an audit trail that holds in every session_replication_role."""

from __future__ import annotations

import json
import re
import uuid

import asyncpg
import pytest

from tests.conftest import auth, make_campaign
from tests.scenario import campaign, cycle, state

PERIOD = {"period_start": "2026-11-01T00:00:00Z", "period_end": "2026-11-02T00:00:00Z"}


def _fields(r) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in r.json()["errors"]]


# ---------------------------------------------------------------------------------------------
# Money, counts and text: the same bounds at the API and in the database
# ---------------------------------------------------------------------------------------------


async def test_money_out_of_bounds_is_422_naming_the_field(client):
    c = await make_campaign(client)
    r = await client.patch(f"/campaigns/{c['id']}", json={"daily_budget": 1e13}, headers=auth())
    assert _fields(r) == ["daily_budget"]
    body = {"external_id": "big", "title": "Big"}
    r = await client.post("/campaigns", json={**body, "daily_budget": 1e308}, headers=auth())
    assert _fields(r) == ["daily_budget"]
    r = await client.post("/campaigns", json={**body, "max_budget": 3.5e16}, headers=auth())
    assert _fields(r) == ["max_budget"]
    # Just below the bound is fine.
    r = await client.post(
        "/campaigns",
        json={**body, "daily_budget": 999_999_999_999.99, "max_budget": 999_999_999_999.99},
        headers=auth(),
    )
    assert r.status_code == 201, r.text


async def test_metric_rows_out_of_bounds_name_the_row(client):
    c = await make_campaign(client)
    row = {"campaign_id": c["id"], **PERIOD}
    r = await client.post("/metrics", json={"rows": [{**row, "spend": 1e12}]}, headers=auth())
    assert _fields(r) == ["rows[0].spend"]
    r = await client.post("/metrics", json={"rows": [{**row, "revenue": 1e15}]}, headers=auth())
    assert _fields(r) == ["rows[0].revenue"]
    two = [
        {**row, "impressions": 2**62},
        {
            **row,
            "period_start": "2026-11-02T00:00:00Z",
            "period_end": "2026-11-03T00:00:00Z",
            "impressions": 2**62,
        },
    ]
    r = await client.post("/metrics", json={"rows": two}, headers=auth())
    assert _fields(r) == ["rows[0].impressions", "rows[1].impressions"]


async def test_lifetime_totals_that_would_overflow_are_422_naming_the_row(client, db):
    c = await make_campaign(client)
    days = [
        {
            "campaign_id": c["id"],
            "period_start": f"2026-10-{d:02d}T00:00:00Z",
            "period_end": f"2026-10-{d + 1:02d}T00:00:00Z",
            "spend": 6e11,
        }
        for d in (1, 2)
    ]
    r = await client.post("/metrics", json={"rows": days}, headers=auth())
    assert _fields(r) == ["rows[0]"] and "lifetime totals" in r.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM campaign_metrics") == 0  # all or nothing


async def test_psql_callers_meet_the_same_bounds(db):
    cid = await campaign(db)
    row = {"campaign_id": str(cid), **PERIOD}
    with pytest.raises(asyncpg.PostgresError) as bad:
        await db.execute(
            "SELECT ingest_campaign_metrics($1::jsonb)", [{**row, "impressions": 2**62}]
        )
    assert bad.value.sqlstate == "AO422"
    assert json.loads(bad.value.detail)["field"] == "rows[0].impressions"
    for field, value in (("spend", "NaN"), ("revenue", "Infinity"), ("clicks", 1.5)):
        with pytest.raises(asyncpg.PostgresError) as bad:
            await db.execute("SELECT ingest_campaign_metrics($1::jsonb)", [{**row, field: value}])
        assert json.loads(bad.value.detail)["field"] == f"rows[0].{field}"
    # 1,100 rows of the largest count each: every row in bounds, their sum past bigint (hours of
    # 2020, kept as hours for this).
    await db.execute("UPDATE autonomous_settings SET hourly_retention_days = 36500")
    rows = await db.fetchval(
        """SELECT jsonb_agg(jsonb_build_object(
                  'campaign_id', $1::uuid, 'impressions', 9007199254740991,
                  'period_start', timestamptz '2020-01-01' + make_interval(hours => i),
                  'period_end', timestamptz '2020-01-01' + make_interval(hours => i + 1)))
             FROM generate_series(0, 1099) i""",
        cid,
    )
    with pytest.raises(asyncpg.PostgresError) as bad:
        await db.execute("SELECT ingest_campaign_metrics($1::jsonb)", rows)
    assert bad.value.sqlstate == "AO422" and json.loads(bad.value.detail)["field"] == "rows[0]"
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE campaigns SET title = E'a\\x01b' WHERE id = $1", cid)
    with pytest.raises(asyncpg.PostgresError):
        await db.execute("UPDATE campaigns SET daily_budget = 1e13 WHERE id = $1", cid)
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE autonomous_settings SET min_spend = 1e15")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/campaigns", {"external_id": "n", "title": "a\u0000b"}, "title"),
        (
            "/campaigns",
            {"external_id": "n", "title": "ok", "description": "x\u0007y"},
            "description",
        ),
        ("/campaigns", {"external_id": "n", "title": "   "}, "title"),
        (
            "/campaigns",
            {"external_id": "n", "title": "t", "image_url": "http://a/\u0001"},
            "image_url",
        ),
        (
            "/social-accounts",
            {"platform": "facebook", "account_id": "p1", "access_token": "secret\u0000token-value"},
            "access_token",
        ),
        (
            "/rules",
            {
                "name": "nul key",
                "rule_type": "pause",
                "action": {"type": "pause"},
                "conditions": {"all": [{"metric\u0000": "roi", "op": "lt", "value": 1}]},
            },
            "conditions.all[0]",
        ),
    ],
)
async def test_control_characters_are_422_naming_the_field(client, path, body, field):
    r = await client.post(path, json=body, headers=auth())
    assert _fields(r) == [field]
    assert "secret" not in r.text  # a refused token is never echoed


async def test_null_is_refused_where_a_field_cannot_be_cleared(client):
    c = await make_campaign(client)
    for field in ("title", "status", "daily_budget"):
        r = await client.patch(f"/campaigns/{c['id']}", json={field: None}, headers=auth())
        assert _fields(r) == [field]
    r = await client.patch(f"/campaigns/{c['id']}", json={"description": None}, headers=auth())
    assert r.status_code == 200 and r.json()["description"] is None
    r = await client.patch("/settings", json={"min_spend": None}, headers=auth())
    assert _fields(r) == ["min_spend"]


# ---------------------------------------------------------------------------------------------
# Rules: bounded values, and one broken rule cannot stop the engine
# ---------------------------------------------------------------------------------------------

HUGE = "1" + "0" * 400


def _rule_json(value: str) -> bytes:
    return (
        '{"name": "odd", "rule_type": "pause", "action": {"type": "pause"}, '
        '"conditions": {"all": [{"metric": "roi", "op": "lt", "value": ' + value + "}]}}"
    ).encode()


@pytest.mark.parametrize("value", [HUGE, "1e400", "-1e13", "1000000000000"])
async def test_rule_values_out_of_bounds_are_422_and_cycles_keep_working(client, value):
    r = await client.post(
        "/rules",
        content=_rule_json(value),
        headers={**auth(), "content-type": "application/json"},
    )
    assert _fields(r) == ["conditions.all[0].value"]
    r = await client.post("/cycles", headers=auth())
    assert r.status_code == 201 and r.json()["status"] == "succeeded"
    assert (await client.get("/campaigns/underperforming", headers=auth())).status_code == 200


async def test_psql_insert_of_an_out_of_bounds_rule_is_refused(db):
    with pytest.raises(asyncpg.PostgresError) as bad:
        await db.execute(
            """INSERT INTO autonomous_rules (name, rule_type, conditions, action)
               VALUES ('odd', 'pause', '{"all": [{"metric": "roi", "op": "lt", "value": 1e400}]}',
                       '{"type": "pause"}')"""
        )
    assert bad.value.sqlstate == "AO422"
    assert json.loads(bad.value.detail)["field"] == "conditions.all[0].value"
    # The guard holds in replica mode too (ENABLE ALWAYS).
    await db.execute("SET session_replication_role = replica")
    with pytest.raises(asyncpg.PostgresError):
        await db.execute(
            """INSERT INTO autonomous_rules (name, rule_type, conditions, action)
               VALUES ('odd', 'pause', '{"all": [{"metric": "roi", "op": "lt", "value": 1e400}]}',
                       '{"type": "pause"}')"""
        )


async def _break_rule(db: asyncpg.Connection, name: str, conditions: str) -> uuid.UUID:
    """Write a rule the validation would refuse, as a fault injected around it."""
    await db.execute("ALTER TABLE autonomous_rules DISABLE TRIGGER autonomous_rules_validate")
    try:
        rule_id: uuid.UUID = await db.fetchval(
            """INSERT INTO autonomous_rules (name, rule_type, priority, conditions, action)
               VALUES ($1, 'pause', 95, $2::text::jsonb, '{"type": "pause"}') RETURNING id""",
            name,
            conditions,
        )
    finally:
        await db.execute(
            "ALTER TABLE autonomous_rules ENABLE ALWAYS TRIGGER autonomous_rules_validate"
        )
    return rule_id


async def test_a_rule_that_fails_is_skipped_and_the_others_act(client, db):
    loser = await campaign(db, spend=200, revenue=20)  # ROI 0.1: Critical ROI Pause
    winner = await campaign(db, spend=100, revenue=500, conversions=40, hours=200)  # a scale
    broken = await _break_rule(
        db, "Broken odd value", '{"all": [{"metric": "roi", "op": "lt", "value": 1e400}]}'
    )
    await _break_rule(db, "Broken shape", '{"all": 5}')
    # A valid rule whose query fails while it runs: its metric's SQL is made to divide by zero.
    r = await client.post(
        "/rules",
        json={
            "name": "Frequency cap",
            "rule_type": "pause",
            "priority": 99,
            "action": {"type": "pause"},
            "conditions": {"all": [{"metric": "frequency", "op": "gt", "value": 3}]},
        },
        headers=auth(),
    )
    assert r.status_code == 201, r.text
    source = await db.fetchval(
        "SELECT pg_get_functiondef('rule_metric_sql(text, text)'::regprocedure)"
    )
    broken_sql = re.sub(r"WHEN 'frequency' .*", "WHEN 'frequency' THEN '(1 / 0)'", source)
    assert broken_sql != source
    await db.execute(broken_sql)

    r = await client.post("/cycles", json={"dry_run": False}, headers=auth())
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["status"] == "succeeded"
    errors = {e["name"]: e for e in summary["rule_errors"]}
    assert set(errors) == {"Broken odd value", "Broken shape", "Frequency cap"}
    assert errors["Broken odd value"]["rule_id"] == str(broken)
    assert "conditions.all[0].value" in errors["Broken odd value"]["error"]
    assert errors["Frequency cap"]["error"] == "division by zero"
    assert summary["paused"] == 1 and summary["scaled"] == 1
    assert await state(db, loser) == ("paused", 100.0)
    assert (await state(db, winner))[1] == 200.0
    # The analytics read the same plan and skip the broken rules the same way.
    for path in ("/campaigns/underperforming", "/campaigns/scaling-candidates"):
        assert (await client.get(path, headers=auth())).status_code == 200
    # psql callers see the same.
    assert len((await cycle(db, dry_run=True))["rule_errors"]) == 3


# ---------------------------------------------------------------------------------------------
# Idempotency keys are bound to their request
# ---------------------------------------------------------------------------------------------


async def test_idempotency_key_reused_with_another_body_is_422(client, db):
    await campaign(db, spend=200, revenue=20)
    key = {"Idempotency-Key": f"slot-{uuid.uuid4()}"}
    dry = await client.post("/cycles", json={"dry_run": True}, headers={**auth(), **key})
    assert dry.status_code == 201 and dry.json()["dry_run"] is True
    real = await client.post("/cycles", json={"dry_run": False}, headers={**auth(), **key})
    assert _fields(real) == ["Idempotency-Key"]
    assert "reused with a different request" in real.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 0
    # The same request replays; an empty body is the same request as dry_run false.
    key2 = {"Idempotency-Key": f"slot-{uuid.uuid4()}"}
    first = await client.post("/cycles", headers={**auth(), **key2})
    again = await client.post("/cycles", json={"dry_run": False}, headers={**auth(), **key2})
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["cycle_id"] == first.json()["cycle_id"]
    # psql callers are held to it too.
    with pytest.raises(asyncpg.PostgresError) as bad:
        await db.execute(
            "SELECT run_autonomous_operations_with_posting(true, 'sql', NULL, $1)",
            key2["Idempotency-Key"],
        )
    assert bad.value.sqlstate == "AO422"


async def test_idempotency_keys_are_kept_24_hours(client, db):
    key = {"Idempotency-Key": "daily-report"}
    first = await client.post("/cycles", json={"dry_run": True}, headers={**auth(), **key})
    await db.execute(
        "UPDATE autonomous_cycles SET started_at = now() - interval '25 hours' WHERE id = $1",
        uuid.UUID(first.json()["cycle_id"]),
    )
    later = await client.post("/cycles", json={"dry_run": False}, headers={**auth(), **key})
    assert later.status_code == 201 and "idempotency-replayed" not in later.headers
    assert later.json()["cycle_id"] != first.json()["cycle_id"]


# ---------------------------------------------------------------------------------------------
# The audit trail holds for everyone
# ---------------------------------------------------------------------------------------------


async def _executed_action(db: asyncpg.Connection) -> uuid.UUID:
    await campaign(db, spend=200, revenue=20)
    await cycle(db)
    action: uuid.UUID = await db.fetchval("SELECT id FROM autonomous_actions LIMIT 1")
    return action


async def test_replica_mode_does_not_silence_the_audit_guards(db):
    action = await _executed_action(db)
    await db.execute("SET session_replication_role = replica")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("DELETE FROM autonomous_actions")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("TRUNCATE autonomous_actions CASCADE")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("UPDATE autonomous_actions SET reason = 'edited' WHERE id = $1", action)
    await db.execute("RESET session_replication_role")
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 1


async def test_written_once_fields_and_rollback_fields(db):
    action = await _executed_action(db)
    with pytest.raises(asyncpg.PostgresError, match="executed_at"):
        await db.execute(
            "UPDATE autonomous_actions SET executed_at = now() + interval '1 day' WHERE id = $1",
            action,
        )
    await db.execute(
        "UPDATE autonomous_actions SET actual_impact = '{\"x\": 1}' WHERE id = $1", action
    )
    with pytest.raises(asyncpg.PostgresError, match="actual_impact"):
        await db.execute(
            "UPDATE autonomous_actions SET actual_impact = '{\"x\": 2}' WHERE id = $1", action
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "UPDATE autonomous_actions SET rolled_back_by = 'someone' WHERE id = $1", action
        )
