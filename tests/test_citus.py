"""On a real Citus cluster: the migrations apply on its coordinator, and a cycle over two accounts there
decides as on plain PostgreSQL (docs/scaling.md, "Citus").

Runs where CITUS_TEST_URL names a coordinator whose workers are added (citus_add_node). The test makes a
database of its own on the coordinator and on each worker, with the extension and the workers added,
and drops them afterwards, so the cluster is left as it was found. Citus is not in Debian's or PyPI's
packages: where CITUS_TEST_URL is unset, the test is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.db.migrations import head_revision
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


async def _decisions(conn: asyncpg.Connection) -> dict[str, Any]:
    """The demo spread over two accounts, one cycle at the default limits, and what it decided, without
    ids or times."""
    await conn.execute(DEFAULT_PORTFOLIO_LIMITS)
    await demo.load(conn, 100.0)
    second = await conn.fetchval(
        "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
        " VALUES ('manual', 'client-b', 'Client B', 'EUR', 'Europe/Berlin') RETURNING id"
    )
    await conn.execute(
        "UPDATE campaigns SET account_id = $1 WHERE id IN"
        " (SELECT id FROM campaigns ORDER BY external_id LIMIT (SELECT count(*) / 2 FROM campaigns))",
        second,
    )
    summary = await conn.fetchval("SELECT run_autonomous_operations_with_posting()")
    actions = await conn.fetch(
        """SELECT c.external_id, a.action_type, a.status, a.reason, a.new_state ->> 'daily_budget' AS budget
             FROM autonomous_actions a JOIN campaigns c ON c.id = a.campaign_id
            ORDER BY 1, 2"""
    )
    opportunities = await conn.fetch(
        """SELECT c.external_id, o.opportunity_type, o.severity, o.description
             FROM optimization_opportunities o JOIN campaigns c ON c.id = o.campaign_id
            ORDER BY 1, 2"""
    )
    return {
        "counts": {k: summary[k] for k in ("paused", "scaled", "opportunities_detected", "status")},
        "limits": [
            {k: v for k, v in a.items() if k != "account_id"} for a in summary["limits"]["accounts"]
        ],
        "actions": [dict(r) for r in actions],
        "opportunities": [dict(r) for r in opportunities],
    }


async def test_the_migrations_apply_on_citus_and_a_cycle_decides_as_on_postgresql(citus_db, db):
    await asyncio.to_thread(alembic, citus_db, "upgrade", "head")
    conn = await asyncpg.connect(citus_db)
    await _init_connection(conn)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        assert await conn.fetchval("SELECT count(*) FROM citus_get_active_worker_nodes()") >= 2
        on_citus = await _decisions(conn)
    finally:
        await conn.close()
    on_postgresql = await _decisions(db)
    assert on_citus["actions"], "the demo cycle decided nothing"
    assert len(on_citus["limits"]) == 2
    assert on_citus == on_postgresql
