"""Every row that belongs to a campaign carries its campaign's ad account: a row naming another account's
campaign is refused as a foreign key would, a row inserted without one (psql, a fixture) gets its
campaign's, the functions write it themselves, and a migration fills it for the rows already there."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
import pytest

from tests.dbserver import admin_execute, alembic, with_database
from tests.scenario import bare_campaign, campaign, connect_account, cycle

# Each table of a campaign's rows, and one row of it for the campaign $1 under the account $2.
ROWS = {
    "campaign_metrics": """INSERT INTO campaign_metrics (campaign_id, account_id, period_start, period_end)
                           VALUES ($1, $2, now() - interval '1 hour', now())""",
    "metric_revisions": """INSERT INTO metric_revisions (campaign_id, account_id, period_start, period_end,
                                                         conversions, revenue, spend)
                           VALUES ($1, $2, now() - interval '1 day', now(), 1, 2, 3)""",
    "autonomous_actions": """INSERT INTO autonomous_actions (campaign_id, account_id, action_type, reason)
                             VALUES ($1, $2, 'pause', 'by hand')""",
    "optimization_opportunities": """INSERT INTO optimization_opportunities (campaign_id, account_id,
                                         opportunity_type, severity, description, suggested_action)
                                     VALUES ($1, $2, 'low_conversion', 'low', 'd', 's')""",
    "campaign_schedules": """INSERT INTO campaign_schedules (campaign_id, account_id, scheduled_for, platforms)
                             VALUES ($1, $2, now(), '{x}')""",
    "metric_trigger_queue": """INSERT INTO metric_trigger_queue (campaign_id, account_id) VALUES ($1, $2)""",
}
FILL_TRIGGERS = [f"{table}_account" for table in ROWS]


async def _second_account(db: asyncpg.Connection) -> uuid.UUID:
    return await db.fetchval(
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
        " VALUES ('manual', 'client-b', 'Client B', 'EUR', 'Europe/Berlin') RETURNING id"
    )


@pytest.mark.parametrize("table", sorted(ROWS))
async def test_a_row_under_another_account_than_its_campaigns_is_refused(db, table):
    cid = await bare_campaign(db)
    other = await _second_account(db)
    before = await db.fetchval(f"SELECT count(*) FROM {table}")
    with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
        await db.execute(ROWS[table], cid, other)
    assert err.value.constraint_name == f"{table}_campaign_id_fkey"
    assert await db.fetchval(f"SELECT count(*) FROM {table}") == before
    # under its campaign's own account it goes in
    own = await db.fetchval("SELECT account_id FROM campaigns WHERE id = $1", cid)
    await db.execute(ROWS[table], cid, own)


@pytest.mark.parametrize("table", sorted(ROWS))
async def test_a_row_inserted_without_its_account_gets_its_campaigns(db, table):
    other = await _second_account(db)
    cid = await db.fetchval(
        "INSERT INTO campaigns (external_id, title, account_id) VALUES ('k', 'K', $1) RETURNING id",
        other,
    )
    await db.execute(ROWS[table], cid, None)
    assert await db.fetchval(f"SELECT array_agg(DISTINCT account_id) FROM {table}") == [other]
    with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
        await db.execute(ROWS[table], uuid.uuid4(), None)
    assert err.value.constraint_name == f"{table}_campaign_id_fkey"


async def test_the_account_of_a_campaign_and_of_its_rows_is_fixed(db):
    cid = await campaign(db, spend=100, revenue=50)
    other = await _second_account(db)
    with pytest.raises(asyncpg.RestrictViolationError, match="changing account_id is not allowed"):
        await db.execute("UPDATE campaigns SET account_id = $1", other)
    await db.execute(ROWS["autonomous_actions"], cid, None)
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute("UPDATE autonomous_actions SET account_id = $1", other)
    await db.execute(ROWS["optimization_opportunities"], cid, None)
    with pytest.raises(asyncpg.RestrictViolationError, match="account_id is not allowed"):
        await db.execute("UPDATE optimization_opportunities SET account_id = $1", other)


async def test_the_functions_write_each_rows_account_themselves(db):
    """With the fill triggers off, as on Citus, ingestion, a cycle (pauses, scales, posts, opportunities),
    a trigger rule's queue and a person's resolution all write account_id."""
    await db.execute(f"ALTER TABLE campaign_metrics DISABLE TRIGGER {FILL_TRIGGERS[0]}")
    for table, trigger in zip(list(ROWS)[1:], FILL_TRIGGERS[1:], strict=True):
        await db.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    await connect_account(db, "x")
    assert await db.fetchval(
        "SELECT count(*) FROM autonomous_rules WHERE is_active AND evaluation_type = 'trigger'"
    ), "no trigger rule is active by default"
    loser = await campaign(db, hours=200, spend=400, revenue=20, conversions=1, clicks=400)
    winner = await campaign(db, hours=200, spend=400, revenue=2400, conversions=60, clicks=900)
    # converting too few of its clicks: an opportunity, neither paused nor scaled
    await campaign(
        db, hours=72, spend=100, revenue=150, conversions=1, clicks=250, impressions=20_000
    )
    summary = await cycle(db)
    assert summary["paused"] >= 1 and summary["scaled"] >= 1 and summary["posted"] >= 1
    opportunity = await db.fetchval(
        "SELECT id FROM optimization_opportunities WHERE status = 'open' LIMIT 1"
    )
    assert opportunity is not None
    await db.execute("SELECT transition_optimization_opportunity($1, 'resolve')", opportunity)
    manual = await db.fetchval("SELECT ao_manual_account_id()")
    # a sync of a connected account stores its day and the revision of what was known of it
    meta = await db.fetchval(
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, credentials_encrypted,"
        " next_sync_at) VALUES ('meta', 'act_9', 'Meta', 'USD', 'UTC', '\\x00', now()) RETURNING id"
    )
    claimed = await db.fetchrow("SELECT * FROM claim_ad_account_sync('t', 300)")
    today = await db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    day = {
        "external_id": "m1",
        "day": today.isoformat(),
        "hour": None,
        "impressions": 300,
        "reach": None,
        "clicks": 12,
        "conversions": 5,
        "spend": "4.75",
        "revenue": "55.00",
    }
    read = {
        "account": None,
        "date_from": day["day"],
        "date_to": day["day"],
        "hourly_day": None,
        "campaigns": [
            {
                "external_id": "m1",
                "title": "M1",
                "status": "active",
                "platform_status": "ACTIVE",
                "daily_budget": None,
            }
        ],
        "rows": [day],
    }
    recorded = await db.fetchval(
        "SELECT record_ad_account_sync($1, $2::jsonb, 3600)", claimed["sync_id"], read
    )
    assert recorded["status"] == "succeeded"
    for table in ROWS:
        accounts = await db.fetchval(f"SELECT array_agg(DISTINCT account_id) FROM {table}")
        expected = {
            "campaign_metrics": {manual, meta},
            "metric_trigger_queue": {manual, meta},
            "metric_revisions": {meta},
        }.get(table, {manual})
        assert set(accounts or []) == expected, table
    assert (
        await db.fetchval(
            "SELECT count(DISTINCT campaign_id) FROM metric_trigger_queue WHERE campaign_id = ANY ($1)",
            [loser, winner],
        )
        == 2
    )


async def test_a_populated_database_gets_every_rows_account_when_migrated(pg_server):
    admin_url, _ = pg_server
    name = f"ao_account_keys_{os.getpid()}"
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    url = with_database(admin_url, name)
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in ROWS)
    try:
        # the schema as the release before the account keys left it
        await asyncio.to_thread(alembic, url, "-x", "functions=off", "upgrade", "0022")
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                """
                INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)
                VALUES ('manual', 'client-b', 'Client B', 'EUR', 'Europe/Berlin');
                INSERT INTO campaigns (external_id, title, status, daily_budget, account_id)
                SELECT 'c' || g, 'C' || g, 'active', 50,
                       CASE WHEN g % 2 = 0 THEN ao_manual_account_id()
                            ELSE (SELECT id FROM ad_accounts WHERE external_id = 'client-b') END
                  FROM generate_series(1, 10) g;
                INSERT INTO campaign_metrics (campaign_id, period_start, period_end, spend)
                SELECT c.id, t, t + interval '1 hour', 1 FROM campaigns c,
                       generate_series(now() - interval '3 days', now(), interval '1 hour') t;
                INSERT INTO metric_revisions (campaign_id, period_start, period_end, conversions, revenue, spend)
                SELECT id, now() - interval '1 day', now(), 1, 2, 3 FROM campaigns;
                INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, executed_at)
                SELECT id, 'pause', 'by hand', 'executed', now() FROM campaigns;
                INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description,
                                                        suggested_action)
                SELECT id, 'low_conversion', 'low', 'd', 's' FROM campaigns;
                INSERT INTO campaign_schedules (campaign_id, scheduled_for, platforms)
                SELECT id, now(), '{x}' FROM campaigns;
                INSERT INTO metric_trigger_queue (campaign_id) SELECT id FROM campaigns;
                """
            )
            before = dict(await conn.fetchrow(counts))
        finally:
            await conn.close()
        await asyncio.to_thread(alembic, url, "upgrade", "head")
        conn = await asyncpg.connect(url)
        try:
            assert dict(await conn.fetchrow(counts)) == before
            assert before["campaign_metrics"] == 10 * 73
            for table in ROWS:
                wrong = await conn.fetchval(
                    f"SELECT count(*) FROM {table} x JOIN campaigns c ON c.id = x.campaign_id"
                    " WHERE x.account_id IS DISTINCT FROM c.account_id"
                )
                assert wrong == 0, table
                assert (
                    await conn.fetchval(f"SELECT count(DISTINCT account_id) FROM {table}") == 2
                ), table
            # the guards woke as they slept: an executed action still refuses to be rewritten
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute("UPDATE autonomous_actions SET reason = 'rewritten'")
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute("UPDATE metric_revisions SET spend = 0")
        finally:
            await conn.close()
    finally:
        admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
