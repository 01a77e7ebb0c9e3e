"""The ad account sync loop: one due account at a time, read from its platform and recorded
(app/services/sync.py). Woken when a person asks for a sync (``POST /ad-accounts/{id}/sync``, the CLI),
and every minute for the accounts whose next sync came due; any number of workers share the accounts
(each claim is SKIP LOCKED, with a lease).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.background.loop import PassReport
from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.services.sync import sync_once, worker_name

SYNC_POLL_SECONDS = 60.0


def sync_pass(pool: asyncpg.Pool, settings: Settings, cipher: TokenCipher) -> Any:
    worker = worker_name()

    async def one_pass() -> PassReport:
        synced = await sync_once(pool, settings, cipher, worker=worker)
        report = PassReport(claimed=0 if synced is None else 1)
        if synced is not None:
            report.count(str(synced.get("status")))
        return report

    return one_pass
