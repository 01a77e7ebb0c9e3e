"""The embedded PostgreSQL (PyPI ``pgserver``) used when ``DATABASE_URL`` is not set."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_server: Any = None


def start(data_dir: Path) -> str:
    """Start (or join) the private server under ``data_dir/postgres``; return its URL."""
    global _server
    with _lock:
        if _server is None:
            # Imported lazily: nothing embedded loads when DATABASE_URL is set. platformdirs warns
            # when XDG_RUNTIME_DIR is unset (containers, CI); the fallback it takes is fine.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pgserver

            pgdata = (data_dir / "postgres").resolve()
            pgdata.mkdir(parents=True, exist_ok=True)
            log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        return str(_server.get_uri())


def stop() -> None:
    """Stop the embedded server if this process started it."""
    global _server
    with _lock:
        if _server is not None:
            log.info("stopping embedded PostgreSQL")
            _server.cleanup()
            _server = None


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """``DATABASE_URL`` when given, else the embedded server's URL (starting it)."""
    return database_url if database_url else start(data_dir)
