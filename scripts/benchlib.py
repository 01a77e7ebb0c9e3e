"""Helpers shared by the benchmark scripts: a scratch database, a real server process, the report."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dbserver import admin_execute, server_url, with_database  # noqa: E402

BENCH_SECRET = "bench-secret-" + "b" * 40
REPORT = ROOT / "docs" / "benchmarks.md"


def scratch_database(name: str) -> tuple[str, str]:
    """A new, migrated database on the same server the tests use; returns (url, server kind)."""
    from app.db.migrations import upgrade

    admin_url, kind = server_url()
    admin_execute(
        admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"
    )
    url = with_database(admin_url, name)
    upgrade(url)
    return url, kind


def drop_database(name: str) -> None:
    admin_url, _ = server_url()
    admin_execute(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_server(
    database_url: str, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The service as `make run` starts it (one uvicorn worker), against ``database_url``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "JWT_SECRET": BENCH_SECRET,
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "MIGRATE_ON_START": "false",
        **(extra_env or {}),
    }
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


# The monthly partitions of campaign_metrics a load of the last `days` days writes into (ingestion makes
# its own; a bulk INSERT does not).
MAKE_MONTHS = (
    "SELECT ao_make_metric_partitions(ARRAY(SELECT generate_series(now() - interval '{days} days',"
    " now() + interval '1 month', interval '1 month')));"
)


def write_section(key: str, markdown: str) -> None:
    """Replace the section between the markers for ``key`` in docs/benchmarks.md (or append it)."""
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = (
        REPORT.read_text()
        if REPORT.exists()
        else "# Benchmarks\n\nWritten by the scripts under `scripts/`.\n"
    )
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
