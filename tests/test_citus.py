"""On a real Citus cluster: the migrations apply on its coordinator, the layout distributes the rows of
a campaign by account, and a cycle per account, sent to the worker that holds the account, decides as on
plain PostgreSQL (docs/scaling.md, "Citus").

Runs where CITUS_TEST_URL names a coordinator whose workers are added (citus_add_node). The test makes a
database of its own on the coordinator and on each worker, with the extension and the workers added,
and drops them afterwards, so the cluster is left as it was found. Citus is not in Debian's or PyPI's
packages: where CITUS_TEST_URL is unset, the test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.db.migrations import FUNCTIONS_DIR, head_revision
from app.db.pool import _init_connection
from app.services import demo
from tests.dbserver import DEFAULT_PORTFOLIO_LIMITS, alembic

CITUS_URL = os.environ.get("CITUS_TEST_URL")
pytestmark = pytest.mark.skipif(
    not CITUS_URL,
    reason="CITUS_TEST_URL names no Citus coordinator (Citus is built from source, not packaged)",
)


def _at(url: str, *, host: str | None = None, port: int | None = None, db: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if host is not None:
        credentials = netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""
        netloc = f"{credentials}{host}:{port}"
    return urlunsplit((parts.scheme, netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture
async def citus_db() -> AsyncIterator[str]:
    """A database of this test's on the coordinator and every worker, the workers added to it."""
    assert CITUS_URL
    name = f"ao_citus_{os.getpid()}"
    coordinator = await asyncpg.connect(CITUS_URL)
    try:
        workers = await coordinator.fetch(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0"
        )
        here = urlsplit(CITUS_URL)
        nodes = [(here.hostname, here.port or 5432)] + [
            (w["nodename"], w["nodeport"]) for w in workers
        ]
    finally:
        await coordinator.close()
    assert len(nodes) >= 3, "the coordinator has fewer than 2 workers"
    for host, port in nodes:
        admin = await asyncpg.connect(_at(CITUS_URL, host=host, port=port, db="postgres"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(_at(CITUS_URL, host=host, port=port, db=name))
        try:
            await conn.execute("CREATE EXTENSION citus")
        finally:
            await conn.close()
    url = _at(CITUS_URL, host=nodes[0][0], port=nodes[0][1], db=name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT citus_set_coordinator_host($1, $2)", nodes[0][0], nodes[0][1])
        for host, port in nodes[1:]:
            await conn.execute("SELECT citus_add_node($1, $2)", host, port)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        for host, port in nodes:
            admin = await asyncpg.connect(_at(CITUS_URL, host=host, port=port, db="postgres"))
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            finally:
                await admin.close()


# What a cycle of one account decided, without ids or times: its summary's counts and limits, its
# actions and its opportunities.
ACTIONS = """
SELECT c.external_id, a.action_type, a.status, a.reason, a.new_state ->> 'daily_budget' AS budget
  FROM autonomous_actions a JOIN campaigns c ON c.id = a.campaign_id AND c.account_id = a.account_id
 WHERE a.account_id = $1 ORDER BY 1, 2
"""
OPPORTUNITIES = """
SELECT c.external_id, o.opportunity_type, o.severity, o.description
  FROM optimization_opportunities o JOIN campaigns c ON c.id = o.campaign_id AND c.account_id = o.account_id
 WHERE o.account_id = $1 ORDER BY 1, 2
"""
SECOND = (
    "INSERT INTO ad_accounts (id, platform, external_id, name, currency, timezone)"
    " VALUES ($1, 'manual', 'client-b', 'Client B', 'EUR', 'Europe/Berlin')"
)
SETTINGS = "SELECT proconfig::text FROM pg_proc WHERE oid = 'run_account_cycle'::regproc"
# The node whose shards hold an account's rows.
NODE_OF = """
SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('campaigns', $1::uuid)
"""


async def _account_elsewhere(conn: asyncpg.Connection, manual: uuid.UUID) -> uuid.UUID:
    """An account id whose rows Citus places on another worker than the manual account's."""
    home = await conn.fetchval(NODE_OF, manual)
    for _ in range(200):
        candidate = uuid.uuid4()
        if await conn.fetchval(NODE_OF, candidate) != home:
            return candidate
    raise AssertionError("no account id lands on another worker")


async def _decide(
    conn: asyncpg.Connection, accounts: list[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    """The demo dealt out between the accounts, one cycle per account, and what each decided."""
    await conn.execute(DEFAULT_PORTFOLIO_LIMITS)
    await demo.load(conn, 100.0, accounts, now)
    decided: list[dict[str, Any]] = []
    for account in accounts:
        summary = await conn.fetchval("SELECT run_account_cycle($1::uuid)", account)
        assert summary["status"] == "succeeded", summary
        decided.append(
            {
                "counts": {k: summary[k] for k in ("paused", "scaled", "opportunities_detected")},
                "limits": [
                    {k: v for k, v in a.items() if k != "account_id"}
                    for a in summary["limits"]["accounts"]
                ],
                "actions": [dict(r) for r in await conn.fetch(ACTIONS, account)],
                "opportunities": [dict(r) for r in await conn.fetch(OPPORTUNITIES, account)],
            }
        )
    return decided


async def test_a_cycle_per_account_runs_on_its_worker_and_decides_as_on_postgresql(citus_db, db):
    await asyncio.to_thread(alembic, citus_db, "upgrade", "head")
    conn = await asyncpg.connect(citus_db)
    await _init_connection(conn)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        layout = await conn.fetchval("SELECT ao_citus_layout()")
        assert layout["distributed"], layout
        kinds = dict(
            await conn.fetch(
                "SELECT logicalrelid::text, partmethod::text FROM pg_dist_partition"
                " WHERE NOT logicalrelid::text LIKE 'campaign_metrics_p%'"
            )
        )
        distributed = await conn.fetchval("SELECT _ao_citus_distributed_tables()")
        assert {t for t, k in kinds.items() if k == "h"} == set(distributed)
        assert {"autonomous_rules", "autonomous_settings", "ad_accounts"} <= {
            t for t, k in kinds.items() if k == "n"
        }
        # one colocation group: a campaign and all its rows on one node
        assert (
            await conn.fetchval(
                "SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE logicalrelid::text = ANY ($1)",
                distributed,
            )
            == 1
        )
        # an upgrade re-applies the function files, which drops their Citus settings; the layout,
        # made again, changes no table and gives them back
        for name in ("11_posting.sql", "15_cycle.sql"):
            await conn.execute((FUNCTIONS_DIR / name).read_text(encoding="utf-8"))
        assert "citus" not in await conn.fetchval(SETTINGS)
        again = await conn.fetchval("SELECT ao_citus_layout()")
        assert not again["distributed"] and again["functions_set"] > 0
        assert "citus.multi_shard_modify_mode=sequential" in await conn.fetchval(SETTINGS)

        manual = await conn.fetchval("SELECT ao_manual_account_id()")
        second = await _account_elsewhere(conn, manual)
        await conn.execute(SECOND, second)
        accounts = [manual, second]
        nodes = [await conn.fetchval(NODE_OF, a) for a in accounts]
        assert nodes[0] != nodes[1]
        now = datetime.now(UTC)
        # each account's cycle is sent whole to the worker that holds the account
        sent: list[str] = []
        conn.add_log_listener(
            lambda _c, message: sent.append(f"{message.message} {message.detail or ''}")
        )
        await conn.execute("SET citus.log_remote_commands = on")
        on_citus = await _decide(conn, accounts, now)
        await conn.execute("RESET citus.log_remote_commands")
        for account, node in zip(accounts, nodes, strict=True):
            assert any(
                "SELECT public.run_account_cycle" in line
                and str(account) in line
                and f":{node} " in line
                for line in sent
            ), (account, node)
        with pytest.raises(asyncpg.PostgresError, match="account_id: no ad account has the id"):
            await conn.fetchval("SELECT run_account_cycle($1::uuid)", uuid.uuid4())
    finally:
        await conn.close()

    # the same portfolio on plain PostgreSQL: its own manual account, the second under the same id
    await db.execute(SECOND, second)
    on_postgresql = await _decide(
        db, [await db.fetchval("SELECT ao_manual_account_id()"), second], now
    )
    for decided in on_citus:
        assert decided["actions"] and decided["limits"], decided["counts"]
    assert on_citus == on_postgresql
