"""The audit trail's and opportunities' references: checked once per statement, and sound because the
rows referred to (campaigns, cycles, rules) can never be deleted, truncated or renumbered, whoever asks
(a superuser in psql, as here, and with session_replication_role = replica too)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.scenario import campaign, cycle

INSERT_ACTION = """
INSERT INTO autonomous_actions (cycle_id, campaign_id, rule_id, action_type, reason, status)
VALUES ($1, $2, $3, 'pause', 'by hand', 'pending')
"""


async def _references(db: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    cid = await campaign(db, spend=200, revenue=20)
    summary = await cycle(db)
    rule_id = await db.fetchval("SELECT id FROM autonomous_rules ORDER BY priority DESC LIMIT 1")
    return uuid.UUID(summary["cycle_id"]), cid, rule_id


@pytest.mark.parametrize(
    ("column", "referenced"),
    [
        ("campaign_id", "campaigns"),
        ("cycle_id", "autonomous_cycles"),
        ("rule_id", "autonomous_rules"),
    ],
)
async def test_an_action_naming_a_missing_row_is_refused_as_a_foreign_key_would(
    db, column, referenced
):
    cycle_id, cid, rule_id = await _references(db)
    before = await db.fetchval("SELECT count(*) FROM autonomous_actions")
    refs = {"cycle_id": cycle_id, "campaign_id": cid, "rule_id": rule_id}
    missing = uuid.uuid4()
    refs[column] = missing
    with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
        await db.execute(INSERT_ACTION, refs["cycle_id"], refs["campaign_id"], refs["rule_id"])
    assert err.value.constraint_name == f"autonomous_actions_{column}_fkey"
    assert err.value.detail == f'Key ({column})=({missing}) is not present in table "{referenced}".'
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == before


async def test_one_missing_reference_refuses_the_whole_statement(db):
    cycle_id, cid, rule_id = await _references(db)
    before = await db.fetchval("SELECT count(*) FROM autonomous_actions")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            """INSERT INTO autonomous_actions (cycle_id, campaign_id, rule_id, action_type, reason, status)
               SELECT $1, c, $3, 'pause', 'by hand', 'pending' FROM unnest($2::uuid[]) c""",
            cycle_id,
            [cid, cid, uuid.uuid4(), cid],
            rule_id,
        )
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == before
    # Without a cycle or a rule (a person's action) only the campaign must exist.
    await db.execute(INSERT_ACTION, None, cid, None)
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == before + 1


async def test_an_opportunity_needs_its_campaign_and_keeps_it(db):
    cid = await campaign(db, spend=200, revenue=20)
    other = await campaign(db, spend=200, revenue=20)
    insert = """INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,
                                                        suggested_action, confidence_score, evidence)
                VALUES ($1, 'low_conversion', 'low', 'd', 's', 0.5, '{}') RETURNING id"""
    with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
        await db.fetchval(insert, uuid.uuid4())
    assert err.value.constraint_name == "optimization_opportunities_campaign_id_fkey"
    oid = await db.fetchval(insert, cid)
    with pytest.raises(
        asyncpg.RestrictViolationError, match="changing campaign_id or account_id is not allowed"
    ):
        await db.execute(
            "UPDATE optimization_opportunities SET campaign_id = $2 WHERE id = $1", oid, other
        )
    # other updates go through
    await db.execute(
        "UPDATE optimization_opportunities SET status = 'in_progress' WHERE id = $1", oid
    )
    assert (
        await db.fetchval("SELECT campaign_id FROM optimization_opportunities WHERE id = $1", oid)
        == cid
    )


@pytest.mark.parametrize("table", ["campaigns", "autonomous_cycles", "autonomous_rules"])
@pytest.mark.parametrize("replica", [False, True])
async def test_rows_referred_to_are_never_deleted_truncated_or_renumbered(db, table, replica):
    await _references(db)
    count = await db.fetchval(f"SELECT count(*) FROM {table}")
    assert count > 0
    if replica:
        await db.execute("SET session_replication_role = replica")
    with pytest.raises(asyncpg.RestrictViolationError, match=f"{table}: DELETE is not allowed"):
        await db.execute(f"DELETE FROM {table}")
    with pytest.raises(asyncpg.RestrictViolationError, match=f"{table}: TRUNCATE is not allowed"):
        await db.execute(f"TRUNCATE {table} CASCADE")
    with pytest.raises(
        asyncpg.RestrictViolationError, match=f"{table}: changing id is not allowed"
    ):
        await db.execute(f"UPDATE {table} SET id = gen_random_uuid()")
    await db.execute("RESET session_replication_role")
    assert await db.fetchval(f"SELECT count(*) FROM {table}") == count


async def test_a_cycle_acting_on_many_campaigns_writes_their_actions(db):
    # The set-based check passes for a whole cycle's inserts at once.
    ids = [await campaign(db, spend=200, revenue=20) for _ in range(5)]
    summary = await cycle(db)
    assert summary["paused"] == 5
    written = await db.fetch(
        "SELECT campaign_id FROM autonomous_actions WHERE cycle_id = $1",
        uuid.UUID(summary["cycle_id"]),
    )
    assert sorted(r["campaign_id"] for r in written) == sorted(ids)
