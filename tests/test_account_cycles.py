"""A cycle of one ad account (run_account_cycle): it reads and acts on that account's campaigns only, an
account that does not exist is refused naming account_id, and the Citus layout refuses a database
without Citus."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.scenario import campaign


async def _client(db: asyncpg.Connection, name: str) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
        " VALUES ('manual', $1, $1, 'EUR', 'Europe/Berlin') RETURNING id",
        name,
    )


async def _status(db: asyncpg.Connection, cid: uuid.UUID) -> str:
    return await db.fetchval("SELECT status FROM campaigns WHERE id = $1", cid)


async def test_a_cycle_of_one_account_acts_on_its_campaigns_only(db):
    a, b = await _client(db, "client-a"), await _client(db, "client-b")
    loser_a = await campaign(db, hours=200, spend=400, revenue=20, clicks=400, account_id=a)
    loser_b = await campaign(db, hours=200, spend=400, revenue=20, clicks=400, account_id=b)
    summary = await db.fetchval("SELECT run_account_cycle($1)", a)
    assert summary["status"] == "succeeded" and summary["account_id"] == str(a)
    assert summary["paused"] == 1
    assert [x["campaign_id"] for x in summary["actions"]] == [str(loser_a)]
    assert [x["account_id"] for x in summary["limits"]["accounts"]] == [str(a)]
    assert (await _status(db, loser_a), await _status(db, loser_b)) == ("paused", "active")
    assert not await db.fetchval(
        "SELECT count(*) FROM optimization_opportunities WHERE account_id <> $1", a
    )
    # the setting lasts for the cycle only: the next cycle of every account reaches b
    assert (await db.fetchval("SELECT run_autonomous_operations_with_posting()"))["paused"] == 1
    assert await _status(db, loser_b) == "paused"


async def test_a_dry_run_of_one_account_changes_nothing(db):
    a = await _client(db, "client-a")
    loser = await campaign(db, hours=200, spend=400, revenue=20, clicks=400, account_id=a)
    summary = await db.fetchval("SELECT run_account_cycle($1, true)", a)
    assert summary["dry_run"] and summary["paused"] == 1
    assert await _status(db, loser) == "active"
    assert not await db.fetchval("SELECT count(*) FROM autonomous_actions")


@pytest.mark.parametrize("account", [uuid.uuid4(), None])
async def test_a_cycle_of_an_account_that_does_not_exist_is_refused(db, account):
    await campaign(db, hours=200, spend=400, revenue=20, clicks=400)
    before = await db.fetchval("SELECT count(*) FROM autonomous_cycles")
    with pytest.raises(asyncpg.PostgresError) as err:
        await db.fetchval("SELECT run_account_cycle($1::uuid)", account)
    assert err.value.sqlstate == "AO422"
    assert "account_id: no ad account has the id" in str(err.value)
    assert await db.fetchval("SELECT count(*) FROM autonomous_cycles") == before


async def test_the_citus_layout_refuses_a_database_without_citus(db):
    with pytest.raises(asyncpg.PostgresError) as err:
        await db.fetchval("SELECT ao_citus_layout()")
    assert err.value.sqlstate == "AO409"
    assert "citus extension" in str(err.value)
    assert not await db.fetchval(
        "SELECT count(*) FROM pg_policies WHERE qual NOT LIKE '%SELECT%' AND policyname LIKE '%privileged'"
    )
