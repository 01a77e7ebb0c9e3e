"""The real service process: embedded PostgreSQL by default, nothing embedded with DATABASE_URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.core.security import mint_token
from app.db.migrations import PROJECT_ROOT

SECRET = "process-test-secret-" + "z" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env_extra: dict[str, str], data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEMO_DATA")}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "JWT_SECRET": SECRET,
            "SCHEDULER_ENABLED": "false",
            "LOG_FORMAT": "json",
            "DEMO_DATA": "false",
        }
    )
    env.update(env_extra)
    log = open(data_dir.parent / f"serve-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, (data_dir.parent / f"serve-{port}.log").read_text()
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise AssertionError("service did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> bool:
    """SIGTERM, as a supervisor would; True when the service shut down gracefully.

    uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit.
    """
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60) in (0, -signal.SIGTERM)


def _exercise(base: str) -> None:
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'authenticated', 'admin')}"}
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    c = httpx.post(
        base + "/campaigns",
        json={"external_id": "smoke", "title": "Smoke", "status": "active"},
        headers=headers,
    )
    assert c.status_code == 201, c.text
    rows = [
        {
            "external_id": "smoke",
            "period_start": f"2026-01-0{d}T00:00:00Z",
            "period_end": f"2026-01-0{d + 1}T00:00:00Z",
            "clicks": 10,
            "impressions": 100,
            "spend": 5,
            "revenue": 12,
        }
        for d in range(1, 4)
    ]
    m = httpx.post(base + "/metrics", json={"rows": rows}, headers=headers)
    assert m.status_code == 200, m.text
    got = httpx.get(base + f"/campaigns/{c.json()['id']}", headers=headers).json()
    assert got["clicks"] == 30 and got["roi"] == 2.4
    assert httpx.get(base + "/campaigns").status_code == 401


def test_embedded_postgres_serves_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    proc, base = _start({}, data_dir)
    try:
        assert (data_dir / "postgres" / "PG_VERSION").exists()
        assert (data_dir / "postgres" / "postmaster.pid").exists()
        _exercise(base)
    finally:
        stopped = _stop(proc)
    assert stopped
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert "Application shutdown complete" in log and "stopping embedded PostgreSQL" in log
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), (
        "embedded PostgreSQL left running"
    )
    # A restart finds the data it left and the schema at head.
    proc, base = _start({}, data_dir)
    try:
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'authenticated', 'service')}"}
        items = httpx.get(base + "/campaigns", headers=headers).json()["items"]
        assert [c["external_id"] for c in items] == ["smoke"]
    finally:
        assert _stop(proc)


def test_database_url_starts_nothing_embedded(tmp_path, db_url):
    data_dir = tmp_path / "data"
    proc, base = _start({"DATABASE_URL": db_url}, data_dir)
    try:
        _exercise(base)
        log = (tmp_path / f"serve-{base.rsplit(':', 1)[1]}.log").read_text()
        assert '"embedded": false' in log
    finally:
        assert _stop(proc)
    assert not (data_dir / "postgres").exists()


def test_embedded_first_start_loads_the_demo_and_prints_the_dashboard_link(tmp_path):
    data_dir = tmp_path / "data"
    # the scheduler on, as `make run` has it (the cron slot out of reach): the runner takes the demo's
    # backtest at once
    proc, base = _start(
        {"DEMO_DATA": "true", "SCHEDULER_ENABLED": "true", "CYCLE_CRON": "0 0 1 1 *"}, data_dir
    )
    try:
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'authenticated', 'admin')}"}
        deadline = time.monotonic() + 60
        while True:
            backtests = httpx.get(base + "/backtests", headers=headers).json()["items"]
            if backtests and backtests[0]["status"] == "succeeded":
                break
            assert time.monotonic() < deadline, backtests
            time.sleep(0.5)
        assert len(backtests) == 1 and backtests[0]["result"]["totals"]["pauses"] > 0
        # the sandbox ad account syncs the same dataset through the Meta client, in process
        while True:
            accounts = httpx.get(base + "/ad-accounts", headers=headers).json()["items"]
            (sandbox,) = [a for a in accounts if a["is_sandbox"]]
            if sandbox["last_sync_at"]:
                break
            assert time.monotonic() < deadline, accounts
            time.sleep(0.5)
        assert sandbox["campaigns"] == 3 and sandbox["status"] == "active"
        (manual,) = [a for a in accounts if a["platform"] == "manual"]
        page = httpx.get(
            base + "/campaigns", params={"limit": 200, "account_id": manual["id"]}, headers=headers
        ).json()
        assert len(page["items"]) == 200 and all(
            c["external_id"].startswith("kag-") for c in page["items"]
        )
        summary = httpx.post(base + "/cycles", json={}, headers=headers, timeout=60).json()
        assert summary["paused"] > 0  # one click on Run cycle produces real actions
        assert httpx.get(base + "/admin").status_code == 200
    finally:
        assert _stop(proc)
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert f"Dashboard: {base}/admin#token=" in log
