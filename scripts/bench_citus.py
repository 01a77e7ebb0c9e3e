"""One account's cycle on a Citus cluster against the same cycle on plain PostgreSQL, side by side.

The same portfolio (two accounts, their rows on different workers) is loaded into a database laid out on
the Citus coordinator named by CITUS_BENCH_URL (or CITUS_TEST_URL) and into a scratch database on the
server the tests use; each account's cycle runs as a dry run (the same decisions every time), cold
first, then warm. Writes the "citus" section of docs/benchmarks.md.

    CITUS_BENCH_URL=postgresql://postgres@127.0.0.1:9700/postgres .venv/bin/python scripts/bench_citus.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from bench_cycle import generate_sql
from benchlib import drop_database, machine, scratch_database, write_section

from app.db.migrations import upgrade
from app.db.pool import _init_connection

NAME = "ao_bench_citus"
NODE_OF = """
SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
 WHERE p.shardid = get_shard_id_for_distribution_column('campaigns', $1::uuid)
"""
ACCOUNT = (
    "INSERT INTO ad_accounts (id, platform, external_id, name, currency, timezone)"
    " VALUES ($1, 'manual', $2, $2, 'USD', 'UTC')"
)


def _at(url: str, port: int, db: str) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(
        (parts.scheme, f"{credentials}{parts.hostname}:{port}", f"/{db}", parts.query, "")
    )


async def citus_database(coordinator: str) -> tuple[str, list[int]]:
    """A database of the bench's on every node of the cluster, migrated and laid out."""
    conn = await asyncpg.connect(coordinator)
    try:
        ports = [urlsplit(coordinator).port or 5432] + [
            r["nodeport"]
            for r in await conn.fetch(
                "SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0"
            )
        ]
    finally:
        await conn.close()
    for port in ports:
        admin = await asyncpg.connect(_at(coordinator, port, "postgres"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {NAME}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(_at(coordinator, port, NAME))
        try:
            await conn.execute("CREATE EXTENSION citus")
        finally:
            await conn.close()
    url = _at(coordinator, ports[0], NAME)
    conn = await asyncpg.connect(url)
    try:
        host = urlsplit(coordinator).hostname
        await conn.execute("SELECT citus_set_coordinator_host($1, $2)", host, ports[0])
        for port in ports[1:]:
            await conn.execute("SELECT citus_add_node($1, $2)", host, port)
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(url)
    try:
        await conn.fetchval("SELECT ao_citus_layout()")
    finally:
        await conn.close()
    return url, ports


async def drop_citus_database(coordinator: str, ports: list[int]) -> None:
    for port in ports:
        admin = await asyncpg.connect(_at(coordinator, port, "postgres"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
        finally:
            await admin.close()


async def accounts_on_two_workers(conn: asyncpg.Connection) -> list[uuid.UUID]:
    first = uuid.uuid4()
    home = await conn.fetchval(NODE_OF, first)
    while True:
        second = uuid.uuid4()
        if await conn.fetchval(NODE_OF, second) != home:
            return [first, second]


async def generate(url: str, accounts: list[uuid.UUID], campaigns: int, days: int) -> float:
    """The portfolio, made on plain PostgreSQL (its statements draw random numbers row by row, which
    Citus runs in no UPDATE)."""
    conn = await asyncpg.connect(url)
    try:
        for i, account in enumerate(accounts):
            await conn.execute(ACCOUNT, account, f"citus-{i}")
        t = time.perf_counter()
        await conn.execute(
            generate_sql("steady", campaigns, days, accounts=len(accounts), accounts_like="citus-%")
        )
        return time.perf_counter() - t
    finally:
        await conn.close()


async def copy(source_url: str, target_url: str, accounts: list[uuid.UUID], folder: Path) -> float:
    """The same rows into the Citus database: the accounts, the campaigns, their metrics."""
    source = await asyncpg.connect(source_url)
    target = await asyncpg.connect(target_url)
    try:
        for i, account in enumerate(accounts):
            await target.execute(ACCOUNT, account, f"citus-{i}")
        t = time.perf_counter()
        for table in ("campaigns", "campaign_metrics"):
            path = folder / f"{table}.copy"
            await source.copy_from_query(
                f"SELECT * FROM {table}", output=str(path), format="binary"
            )
            await target.copy_to_table(table, source=str(path), format="binary")
        await target.execute("ANALYZE")
        return time.perf_counter() - t
    finally:
        await source.close()
        await target.close()


async def measure(url: str, accounts: list[uuid.UUID], repeat: int) -> list[dict[str, float]]:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        per_account = []
        for account in accounts:
            times = []
            for _ in range(repeat + 1):
                t = time.perf_counter()
                summary = await conn.fetchval("SELECT run_account_cycle($1::uuid, true)", account)
                times.append(time.perf_counter() - t)
            assert summary["dry_run"], summary
            per_account.append(
                {
                    "cold": times[0],
                    "warm": statistics.median(times[1:]),
                    "paused": summary["paused"],
                }
            )
        return per_account
    finally:
        await conn.close()


async def run(coordinator: str, campaigns: int, days: int, repeat: int) -> str:
    citus_url, ports = await citus_database(coordinator)
    plain_url, kind = scratch_database(NAME)
    try:
        conn = await asyncpg.connect(citus_url)
        try:
            accounts = await accounts_on_two_workers(conn)
            nodes = [await conn.fetchval(NODE_OF, a) for a in accounts]
        finally:
            await conn.close()
        load = await generate(plain_url, accounts, campaigns, days)
        with tempfile.TemporaryDirectory() as folder:
            copied = await copy(plain_url, citus_url, accounts, Path(folder))
        on_postgresql = await measure(plain_url, accounts, repeat)
        on_citus = await measure(citus_url, accounts, repeat)
    finally:
        drop_database(NAME)
        await drop_citus_database(coordinator, ports)

    rows = []
    for i, (c, p) in enumerate(zip(on_citus, on_postgresql, strict=True)):
        assert c["paused"] == p["paused"], (c, p)
        rows.append(
            f"| account {i + 1} (worker :{nodes[i]}) | {p['warm']:.2f} s | {c['warm']:.2f} s | "
            f"{c['warm'] / p['warm']:.2f}× | {p['cold']:.2f} s | {c['cold']:.2f} s | {c['paused']} |"
        )
    return f"""
## One account's cycle on Citus (`scripts/bench_citus.py`)

{datetime.now(UTC):%Y-%m-%d}, {machine()}; plain PostgreSQL: {kind}; Citus 13.2 built from source, a
coordinator and {len(ports) - 1} workers on the same machine. {campaigns:,} active campaigns × {days} daily
rows dealt out between two accounts whose rows Citus holds on different workers; each account's cycle
(`run_account_cycle`, a dry run: the same decisions every time) once cold, then the median of {repeat}.
On Citus the call is sent whole to the worker that holds the account. The portfolio is made on plain
PostgreSQL ({load:.1f} s) and copied into Citus ({copied:.1f} s): the same rows on both.

| | plain PostgreSQL, warm | Citus, warm | Citus ÷ plain | plain, cold | Citus, cold | pauses decided (same on both) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

All the nodes share this machine's two cores, so this is what the layout costs one account's cycle
(distributed planning, the remote writes to the reference tables), not what a cluster of machines gains.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    coordinator = os.environ.get("CITUS_BENCH_URL") or os.environ.get("CITUS_TEST_URL")
    if not coordinator:
        raise SystemExit("CITUS_BENCH_URL (or CITUS_TEST_URL) must name a Citus coordinator")
    section = asyncio.run(run(coordinator, args.campaigns, args.days, args.repeat))
    write_section("citus", section)
    print(section)


if __name__ == "__main__":
    main()
