"""Row-level security, proven as the restricted role (never as a superuser)."""

from __future__ import annotations

import json

import asyncpg
import pytest

TABLES = [
    "campaigns",
    "campaign_metrics",
    "autonomous_rules",
    "autonomous_cycles",
    "autonomous_actions",
    "optimization_opportunities",
    "campaign_schedules",
    "social_accounts",
    "social_posts",
    "autonomous_settings",
    "autonomous_counters",
    "metric_trigger_queue",
    "webhook_endpoints",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
    "backtests",
    "ad_accounts",
    "ad_account_syncs",
    "metric_revisions",
    "platform_changes",
    "platform_writes",
    "account_maturity",
    "account_settings",
    "metric_rollups",
]
# Append-only for the API role: rows are added, never changed (nor deleted).
INSERT_ONLY = {"metric_revisions", "platform_writes"}
# Written by the database's own steps only: the API role reads them, with the admin's claims.
READ_ONLY = {"metric_rollups"}
NON_ADMIN_CLAIMS = [
    {},
    {"role": "authenticated", "sub": "u1"},
    {"role": "anon"},
    {"role": "authenticated", "app_metadata": {"role": "editor"}},
    {"role": "authenticated", "user_metadata": {"role": "admin"}},
]
ADMIN_CLAIMS = [
    {"role": "authenticated", "app_metadata": {"role": "admin"}},
    {"role": "service_role"},
]


async def _seed(db: asyncpg.Connection) -> dict[str, str]:
    """One row in every table, written as the superuser."""
    ids: dict[str, str] = {}
    ids["campaign"] = str(
        await db.fetchval(
            "INSERT INTO campaigns (external_id, title, status) VALUES ('seed', 'Seed', 'active') RETURNING id"
        )
    )
    await db.execute(
        "INSERT INTO campaign_metrics (campaign_id, period_start, period_end) VALUES ($1, now(), now() + interval '1 day')",
        ids["campaign"],
    )
    ids["cycle"] = str(
        await db.fetchval("INSERT INTO autonomous_cycles (trigger) VALUES ('sql') RETURNING id")
    )
    ids["action"] = str(
        await db.fetchval(
            "INSERT INTO autonomous_actions (cycle_id, campaign_id, action_type, reason) VALUES ($1, $2, 'pause', 'seed') RETURNING id",
            ids["cycle"],
            ids["campaign"],
        )
    )
    await db.execute(
        "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, description, suggested_action)"
        " VALUES ($1, 'low_conversion', 'low', 'd', 's')",
        ids["campaign"],
    )
    ids["account"] = str(
        await db.fetchval(
            "INSERT INTO social_accounts (platform, account_id, access_token_encrypted) VALUES ('facebook', 'p1', '\\x00') RETURNING id"
        )
    )
    ids["schedule"] = str(
        await db.fetchval(
            "INSERT INTO campaign_schedules (campaign_id, scheduled_for, platforms) VALUES ($1, now(), '{facebook}') RETURNING id",
            ids["campaign"],
        )
    )
    await db.execute(
        "INSERT INTO social_posts (schedule_id, platform, account_id) VALUES ($1, 'facebook', $2)",
        ids["schedule"],
        ids["account"],
    )
    await db.execute("INSERT INTO metric_trigger_queue (campaign_id) VALUES ($1)", ids["campaign"])
    ids["endpoint"] = str(
        await db.fetchval(
            "INSERT INTO webhook_endpoints (url, secret_encrypted) VALUES ('https://hooks.example.com/a', '\\x00')"
            " RETURNING id"
        )
    )
    await db.execute(
        "INSERT INTO webhook_events (id, type, payload) VALUES ('msg_seed', 'webhook.test', '{}')"
    )
    ids["delivery"] = str(
        await db.fetchval(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id) VALUES ('msg_seed', $1) RETURNING id",
            ids["endpoint"],
        )
    )
    await db.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code) VALUES ($1, 1, 500)",
        ids["delivery"],
    )
    await db.execute(
        "INSERT INTO backtests (from_at, to_at, steps_total) VALUES (now() - interval '9 days', now(), 9)"
    )
    ids["ad_account"] = str(
        await db.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone, credentials_encrypted)"
            " VALUES ('meta', 'act_1', 'Seed', 'USD', 'UTC', '\\x00') RETURNING id"
        )
    )
    ids["sync"] = str(
        await db.fetchval(
            "INSERT INTO ad_account_syncs (account_id) VALUES ($1) RETURNING id", ids["ad_account"]
        )
    )
    await db.execute(
        "INSERT INTO metric_revisions (campaign_id, period_start, period_end, conversions, revenue, spend)"
        " VALUES ($1, now(), now() + interval '1 day', 0, 0, 0)",
        ids["campaign"],
    )
    ids["campaign_account"] = str(
        await db.fetchval("SELECT account_id FROM campaigns WHERE id = $1", ids["campaign"])
    )
    ids["change"] = str(
        await db.fetchval(
            "INSERT INTO platform_changes (action_id, campaign_id, account_id, kind, from_state, to_state)"
            " VALUES ($1, $2, $3, 'status', '{}', '{}') RETURNING id",
            ids["action"],
            ids["campaign"],
            ids["campaign_account"],
        )
    )
    await db.execute(
        "INSERT INTO platform_writes (change_id, object_id, field, value) VALUES ($1, 'c1', 'status', 'paused')",
        ids["change"],
    )
    await db.execute(
        "INSERT INTO account_maturity (account_id, conversions, revenue, days) VALUES ($1, '{1}', '{1}', 0)",
        ids["ad_account"],
    )
    await db.execute(
        "INSERT INTO account_settings (account_id, min_spend) VALUES ($1, 10)", ids["ad_account"]
    )
    await db.execute(
        "INSERT INTO metric_rollups (month, retention_days, hours, days, impressions, clicks, conversions,"
        " spend, revenue) VALUES ('2026-01-01', 90, 24, 1, 0, 0, 0, 0, 0)"
    )
    return ids


# A valid new row for each table (its foreign keys filled from the seed).
INSERTS = {
    "campaigns": ("INSERT INTO campaigns (external_id, title) VALUES ('new', 'New')", ()),
    "campaign_metrics": (
        "INSERT INTO campaign_metrics (campaign_id, period_start, period_end) "
        "VALUES ($1::uuid, now() - interval '9 days', now() - interval '8 days')",
        ("campaign",),
    ),
    "autonomous_rules": (
        "INSERT INTO autonomous_rules (name, rule_type, conditions, action) "
        'VALUES (\'r\', \'pause\', \'{"all": [{"metric": "roi", "op": "lt", "value": 0.1}]}\','
        ' \'{"type": "pause"}\')',
        (),
    ),
    "autonomous_cycles": ("INSERT INTO autonomous_cycles (trigger) VALUES ('api')", ()),
    "autonomous_actions": (
        "INSERT INTO autonomous_actions (campaign_id, action_type, reason) "
        "VALUES ($1::uuid, 'scale', 'x')",
        ("campaign",),
    ),
    "optimization_opportunities": (
        "INSERT INTO optimization_opportunities (campaign_id, opportunity_type, severity, "
        "description, suggested_action) VALUES ($1::uuid, 'creative_fatigue', 'low', 'd', 's')",
        ("campaign",),
    ),
    "campaign_schedules": (
        "INSERT INTO campaign_schedules (campaign_id, scheduled_for, platforms) "
        "VALUES ($1::uuid, now(), '{x}')",
        ("campaign",),
    ),
    "social_accounts": (
        "INSERT INTO social_accounts (platform, account_id, access_token_encrypted) "
        "VALUES ('x', 'x1', '\\x00')",
        (),
    ),
    "social_posts": (
        "INSERT INTO social_posts (schedule_id, platform) VALUES ($1::uuid, 'x')",
        ("schedule",),
    ),
    "autonomous_settings": (
        "INSERT INTO autonomous_settings (id) VALUES (true) ON CONFLICT (id) DO NOTHING",
        (),
    ),
    "autonomous_counters": (
        "INSERT INTO autonomous_counters (kind, key, n) VALUES ('action', 'x:y', 0)",
        (),
    ),
    "metric_trigger_queue": (
        "INSERT INTO metric_trigger_queue AS q (campaign_id) VALUES ($1::uuid)"
        " ON CONFLICT (campaign_id) DO UPDATE SET version = q.version + 1",
        ("campaign",),
    ),
    "webhook_endpoints": (
        "INSERT INTO webhook_endpoints (url, secret_encrypted) VALUES ('https://hooks.example.com/b', '\\x00')",
        (),
    ),
    "webhook_events": (
        "INSERT INTO webhook_events (id, type, payload) VALUES ('msg_new', 'webhook.test', '{}')",
        (),
    ),
    "webhook_deliveries": (
        "INSERT INTO webhook_deliveries (event_id, endpoint_id) VALUES ('msg_seed', $1::uuid)"
        " ON CONFLICT (event_id, endpoint_id) DO UPDATE SET attempts = webhook_deliveries.attempts",
        ("endpoint",),
    ),
    "webhook_attempts": (
        "INSERT INTO webhook_attempts (delivery_id, attempt) VALUES ($1::uuid, 2)",
        ("delivery",),
    ),
    "backtests": (
        "INSERT INTO backtests (from_at, to_at, steps_total) VALUES (now() - interval '2 days', now(), 2)",
        (),
    ),
    "ad_accounts": (
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
        " VALUES ('manual', 'client-b', 'B', 'EUR', 'Europe/Paris')",
        (),
    ),
    "ad_account_syncs": (
        "INSERT INTO ad_account_syncs (account_id, status) VALUES ($1::uuid, 'failed')",
        ("ad_account",),
    ),
    "metric_revisions": (
        "INSERT INTO metric_revisions (campaign_id, period_start, period_end, conversions, revenue, spend)"
        " VALUES ($1::uuid, now() - interval '2 days', now() - interval '1 day', 1, 2, 3)",
        ("campaign",),
    ),
    "platform_changes": (
        "INSERT INTO platform_changes (action_id, purpose, campaign_id, account_id, kind, from_state, to_state)"
        " VALUES ($1::uuid, 'rollback', $2::uuid, $3::uuid, 'status', '{}', '{}')",
        ("action", "campaign", "campaign_account"),
    ),
    "platform_writes": (
        "INSERT INTO platform_writes (change_id, object_id, field, value)"
        " VALUES ($1::uuid, 'c2', 'daily_budget', '10')",
        ("change",),
    ),
    "account_maturity": (
        "INSERT INTO account_maturity (account_id, conversions, revenue, days)"
        " VALUES ($1::uuid, '{0.5, 1}', '{0.5, 1}', 3) ON CONFLICT (account_id) DO UPDATE SET days = 3",
        ("ad_account",),
    ),
    "account_settings": (
        "INSERT INTO account_settings (account_id, min_spend) VALUES ($1::uuid, 20)"
        " ON CONFLICT (account_id) DO UPDATE SET min_spend = 20",
        ("ad_account",),
    ),
    "metric_rollups": (
        "INSERT INTO metric_rollups (month, retention_days, hours, days, impressions, clicks,"
        " conversions, spend, revenue) VALUES ('2026-02-01', 90, 24, 1, 0, 0, 0, 0, 0)",
        (),
    ),
}
# A harmless update of every row of each table.
UPDATES = {
    "campaigns": "UPDATE campaigns SET title = title",
    "campaign_metrics": "UPDATE campaign_metrics SET clicks = clicks",
    "autonomous_rules": "UPDATE autonomous_rules SET priority = priority",
    "autonomous_cycles": "UPDATE autonomous_cycles SET error = error",
    "autonomous_actions": "UPDATE autonomous_actions SET actual_impact = actual_impact",
    "optimization_opportunities": "UPDATE optimization_opportunities SET severity = severity",
    "campaign_schedules": "UPDATE campaign_schedules SET status = status",
    "social_accounts": "UPDATE social_accounts SET display_name = display_name",
    "social_posts": "UPDATE social_posts SET attempts = attempts",
    "autonomous_settings": "UPDATE autonomous_settings SET min_spend = min_spend",
    "autonomous_counters": "UPDATE autonomous_counters SET n = n",
    "metric_trigger_queue": "UPDATE metric_trigger_queue SET version = version",
    "webhook_endpoints": "UPDATE webhook_endpoints SET is_active = is_active",
    "webhook_events": "UPDATE webhook_events SET payload = payload",
    "webhook_deliveries": "UPDATE webhook_deliveries SET attempts = attempts",
    "webhook_attempts": "UPDATE webhook_attempts SET error = error",
    "backtests": "UPDATE backtests SET progress = progress",
    "ad_accounts": "UPDATE ad_accounts SET name = name",
    "ad_account_syncs": "UPDATE ad_account_syncs SET requests = requests",
    "metric_revisions": "UPDATE metric_revisions SET spend = spend",
    "platform_changes": "UPDATE platform_changes SET attempts = attempts",
    "platform_writes": "UPDATE platform_writes SET value = value",
    "account_maturity": "UPDATE account_maturity SET days = days",
    "account_settings": "UPDATE account_settings SET min_spend = min_spend",
    "metric_rollups": "UPDATE metric_rollups SET spend = spend",
}


async def _as_api_role(conn: asyncpg.Connection, claims: dict[str, object]) -> None:
    await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", json.dumps(claims))
    await conn.execute("SET LOCAL ROLE ao_app")


async def test_api_role_is_restricted(db):
    row = await db.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'ao_app'")
    assert row is not None and not row["rolsuper"] and not row["rolbypassrls"]
    forced = await db.fetch(
        "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND relrowsecurity", TABLES
    )
    assert sorted(r["relname"] for r in forced) == sorted(TABLES)
    # and no table of the service is left out of these tests
    every = await db.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind IN ('r', 'p') AND NOT relispartition"
        " AND relname NOT IN ('alembic_version', 'schema_functions')"
    )
    assert sorted(r["relname"] for r in every) == sorted(TABLES)
    # a partition is read through its parent only: row-level security on, nothing granted
    partitions = await db.fetch(
        "SELECT c.relrowsecurity, has_table_privilege('ao_app', c.oid, 'SELECT') AS readable"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'campaign_metrics'::regclass"
    )
    assert partitions and all(p["relrowsecurity"] and not p["readable"] for p in partitions)


@pytest.mark.parametrize("claims", NON_ADMIN_CLAIMS)
async def test_non_admin_sees_nothing(db, claims):
    await _seed(db)
    async with db.transaction():
        await _as_api_role(db, claims)
        assert await db.fetchval("SELECT current_user") == "ao_app"
        for table in TABLES:
            assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert await db.fetchval("SELECT count(*) FROM campaigns_with_kpis") == 0


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("claims", NON_ADMIN_CLAIMS[:3])
async def test_non_admin_cannot_insert(db, table, claims):
    ids = await _seed(db)
    sql, params = INSERTS[table]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.transaction():
            await _as_api_role(db, claims)
            await db.execute(sql, *[ids[p] for p in params])


@pytest.mark.parametrize("table", TABLES)
async def test_non_admin_updates_touch_zero_rows(db, table):
    await _seed(db)
    if table in INSERT_ONLY | READ_ONLY:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.transaction():
                await _as_api_role(db, {"role": "authenticated"})
                await db.execute(UPDATES[table])
        return
    async with db.transaction():
        await _as_api_role(db, {"role": "authenticated"})
        assert await db.execute(UPDATES[table]) == "UPDATE 0"


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("claims", ADMIN_CLAIMS)
async def test_admin_and_service_read_and_write(db, table, claims):
    ids = await _seed(db)
    tr = db.transaction()
    await tr.start()
    try:
        await _as_api_role(db, claims)
        assert await db.fetchval(f"SELECT count(*) FROM {table}") >= 1
        sql, params = INSERTS[table]
        if table in READ_ONLY:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with db.transaction():
                    await db.execute(sql, *[ids[p] for p in params])
            return
        await db.execute(sql, *[ids[p] for p in params])
        if table in INSERT_ONLY:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with db.transaction():
                    await db.execute(UPDATES[table])
        else:
            status = await db.execute(UPDATES[table])
            assert status != "UPDATE 0"
    finally:
        await tr.rollback()


@pytest.mark.parametrize("claims", [*ADMIN_CLAIMS, NON_ADMIN_CLAIMS[1]])
async def test_api_role_can_delete_nothing(db, claims):
    await _seed(db)
    for table in TABLES:
        # metric rows: the one delete there is (a synced day's hours giving way to it) is the
        # database's own, refused to every statement but that step's
        refused = (
            asyncpg.RestrictViolationError
            if table == "campaign_metrics"
            else asyncpg.InsufficientPrivilegeError
        )
        with pytest.raises(refused):
            async with db.transaction():
                await _as_api_role(db, claims)
                await db.execute(f"DELETE FROM {table}")


@pytest.mark.parametrize(
    "statement", ["DELETE FROM autonomous_actions", "TRUNCATE autonomous_actions CASCADE"]
)
async def test_superuser_cannot_delete_actions(db, statement):
    await _seed(db)
    assert await db.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await db.execute(statement)
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") == 1


async def test_actions_update_only_moves_forward(db):
    ids = await _seed(db)
    with pytest.raises(asyncpg.RestrictViolationError):
        await db.execute(
            "UPDATE autonomous_actions SET reason = 'rewritten' WHERE id = $1", ids["action"]
        )
    await db.execute(
        "UPDATE autonomous_actions SET status = 'executed', executed_at = now() WHERE id = $1",
        ids["action"],
    )
    with pytest.raises(asyncpg.RestrictViolationError):
        await db.execute(
            "UPDATE autonomous_actions SET status = 'pending' WHERE id = $1", ids["action"]
        )
    await db.execute(
        "UPDATE autonomous_actions SET status = 'rolled_back', rolled_back_at = now(), rolled_back_by = 'a' WHERE id = $1",
        ids["action"],
    )
    with pytest.raises(asyncpg.RestrictViolationError):
        await db.execute(
            "UPDATE autonomous_actions SET rolled_back_by = 'b' WHERE id = $1", ids["action"]
        )
    await db.execute(
        "UPDATE autonomous_actions SET actual_impact = '{\"roi_change\": 0.1}' WHERE id = $1",
        ids["action"],
    )
