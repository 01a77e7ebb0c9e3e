"""The loops that act on events: the trigger listener, the webhook sender and the backtest runner,
woken by NOTIFY.

They run in ``autonomous-ops worker`` and, when SCHEDULER_ENABLED, inside the service; any number of
processes may run them on one database (claims are row locks taken with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio

import asyncpg

from app.core.config import Settings
from app.core.crypto import TokenCipher
from app.services.backtests import run_backtest_runner
from app.services.triggers import run_trigger_listener
from app.services.wakeups import BACKTESTS, METRICS, WEBHOOKS, Wakeups
from app.services.webhooks import WebhookSender, run_webhook_sender


async def run_event_loops(
    pool: asyncpg.Pool, url: str, settings: Settings, cipher: TokenCipher, stop: asyncio.Event
) -> None:
    wakeups = Wakeups(url)
    sender = WebhookSender(settings, cipher)
    try:
        await asyncio.gather(
            wakeups.run(stop),
            run_trigger_listener(pool, wakeups.events[METRICS], stop, settings.trigger_batch_size),
            run_webhook_sender(pool, sender, wakeups.events[WEBHOOKS], stop),
            run_backtest_runner(pool, wakeups.events[BACKTESTS], stop),
        )
    finally:
        await sender.aclose()
