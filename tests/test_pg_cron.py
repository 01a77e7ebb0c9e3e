"""The in-database schedule (docs/operations.md, "Scheduling inside PostgreSQL"): pg_cron runs the
documented statement and a cycle happens, once per slot.

pg_cron must be preloaded, so this runs a PostgreSQL of its own (Debian's binaries, a temporary data
directory, 127.0.0.1 only). pg_cron 1.4 schedules by the minute: the server is started and the job
scheduled when this module is collected, so the minute passes while the other tests run.
Where Debian's postgresql-15-cron is not installed these tests are skipped, saying why; with CI=true
they fail instead (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from app.db.pool import _init_connection
from tests.scenario import campaign
from tests.servers import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
PG_CRON = Path("/usr/lib/postgresql/15/lib/pg_cron.so")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
APP_DB = "autonomous_ops"

if not (PG_CRON.exists() and (BIN / "initdb").exists()) and not os.environ.get("CI"):
    pytest.skip(
        "Debian's pg_cron is not installed (apt-get install postgresql-15-cron)",
        allow_module_level=True,
    )


def documented_statement(schedule: str) -> str:
    """The statement docs/operations.md gives, with the schedule asked for."""
    block = re.search(r"<!-- pg_cron:begin -->\s*```sql\n(.*?)```", DOCS.read_text(), re.S)
    assert block, "docs/operations.md has no pg_cron block"
    statement = block.group(1)
    assert "'0 * * * *'" in statement and f"'{APP_DB}'" in statement
    return statement.replace("'0 * * * *'", f"'{schedule}'")


class CronServer:
    """A PostgreSQL with pg_cron preloaded, the service's database migrated, the job scheduled."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ao-cron-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{APP_DB}"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.scheduled_at = 0.0
        self.campaign_id = ""
        self.error: BaseException | None = None
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _run(self, *args: str | Path) -> None:
        subprocess.run(
            [*self._as_postgres, *map(str, args)], check=True, capture_output=True, timeout=120
        )

    def _start(self) -> None:
        try:
            if self._as_postgres:
                shutil.chown(self.root, "postgres", "postgres")
            data = self.root / "data"
            self._run(BIN / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
            with open(data / "postgresql.conf", "a") as conf:
                conf.write(
                    f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                    "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\n"
                    "cron.use_background_workers = on\nmax_worker_processes = 16\n"
                )
            self._run(BIN / "pg_ctl", "-D", data, "-l", self.root / "log", "-w", "start")
            asyncio.run(self._prepare())
        except BaseException as exc:  # reported by the test that waits for it
            self.error = exc

    async def _prepare(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute("CREATE EXTENSION pg_cron")
            await conn.execute(f"CREATE DATABASE {APP_DB}")
        finally:
            await conn.close()
        # in a process of its own: alembic's context is global to a process, and the suite's template
        # is migrated meanwhile
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", "migrate"],
            check=True,
            capture_output=True,
            timeout=300,
            env={**os.environ, "DATABASE_URL": self.url},
        )
        conn = await asyncpg.connect(self.url)
        try:  # a campaign losing money (Critical ROI Pause), for the scheduled cycle to pause
            self.campaign_id = str(await campaign(conn, title="Cron loser", spend=200, revenue=20))
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(documented_statement("* * * * *"))  # every minute, for the test
        finally:
            await conn.close()
        self.scheduled_at = time.monotonic()

    def ready(self, timeout: float = 180) -> None:
        self._thread.join(timeout)
        if self.error is not None:
            log = self.root / "log"
            raise AssertionError(
                f"the pg_cron server did not start: {self.error!r}\n"
                + (log.read_text()[-2000:] if log.exists() else "")
            )
        assert self.scheduled_at, "the pg_cron server is still starting"

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self._as_postgres,
                    str(BIN / "pg_ctl"),
                    "-D",
                    str(self.root / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)


SERVER = CronServer()  # started at collection: the minute runs while the other tests do


async def test_pg_cron_runs_the_documented_cycle_once_per_slot():
    SERVER.ready()
    conn = await asyncpg.connect(SERVER.url)
    await _init_connection(conn)
    cid = SERVER.campaign_id
    try:
        deadline = time.monotonic() + 150
        cycle = None
        while time.monotonic() < deadline:
            cycle = await conn.fetchrow(
                "SELECT * FROM autonomous_cycles WHERE trigger = 'cron' AND status <> 'skipped'"
                " AND (summary ->> 'paused')::int >= 1 ORDER BY started_at DESC LIMIT 1"
            )
            if cycle is not None:
                break
            await asyncio.sleep(1)
        assert cycle is not None, "no cycle ran on the schedule within 150 s"
        assert cycle["triggered_by"] == "pg_cron" and cycle["status"] == "succeeded"
        assert cycle["idempotency_key"].startswith("cron:") and cycle["idempotency_key"].endswith(
            ":00Z"
        )
        assert await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", cid) == "paused"
        # the slot's key is the service cron's: a second fire of the same slot replays it
        again = await conn.fetchval(
            "SELECT run_autonomous_operations_with_posting(trigger => 'cron', triggered_by => 'scheduler',"
            " idempotency_key => $1)",
            cycle["idempotency_key"],
        )
        assert again["replayed"] is True and again["cycle_id"] == str(cycle["id"])
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM autonomous_cycles WHERE idempotency_key = $1",
                cycle["idempotency_key"],
            )
            == 1
        )
    finally:
        await conn.close()
    admin = await asyncpg.connect(SERVER.admin_url)
    try:
        runs = await admin.fetch(
            "SELECT d.status, d.return_message FROM cron.job_run_details d"
            " JOIN cron.job j ON j.jobid = d.jobid WHERE j.jobname = 'autonomous-ops-cycle'"
        )
        assert runs and all(r["status"] in ("succeeded", "running") for r in runs), runs
        assert await admin.fetchval("SELECT cron.unschedule('autonomous-ops-cycle')") is True
    finally:
        await admin.close()
