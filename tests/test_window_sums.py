"""The one read of the metrics a cycle makes: every window sum exact, whichever half of the portfolio a
campaign falls in (the whole portfolio is summed in two halves by id) and whether the read is the whole
portfolio's or scoped to some campaigns."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import asyncpg

# one id in each half of the id space
LOW = uuid.UUID("00000000-0000-4000-8000-000000000001")
HIGH = uuid.UUID("ffffffff-ffff-4fff-bfff-fffffffffffe")
COLUMNS = (
    "spend_last_48h",
    "revenue_last_48h",
    "conversions_last_48h",
    "spend_last_7d",
    "spend_prev_7d",
    "clicks_last_7d",
    "clicks_prev_7d",
    "impressions_last_7d",
    "impressions_prev_7d",
    "revenue_last_7d",
    "revenue_prev_7d",
)


async def _campaign_with_history(db: asyncpg.Connection, cid: uuid.UUID, scale: int) -> None:
    await db.execute(
        """INSERT INTO campaigns (id, external_id, title, status, daily_budget, started_at)
           VALUES ($1, $2, 'Halves', 'active', 100, now() - interval '20 days')""",
        cid,
        f"ext-{cid}",
    )
    now = await db.fetchval("SELECT now()")
    rows = []
    # periods ending 10 h, 30 h, 5 days, 10 days and 20 days ago: last 48 h, last 48 h, last 7 days,
    # the 7 days before, and outside every window
    for i, hours in enumerate((10, 30, 120, 240, 480), start=1):
        end = now - timedelta(hours=hours)
        rows.append(
            {
                "campaign_id": str(cid),
                "period_start": (end - timedelta(hours=1)).isoformat(),
                "period_end": end.isoformat(),
                "spend": 10 * i * scale,
                "revenue": 7 * i * scale,
                "conversions": i * scale,
                "clicks": 100 * i * scale,
                "impressions": 1000 * i * scale,
            }
        )
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))


def _expected(scale: int) -> dict[str, Decimal]:
    def period(i: int, per: int) -> Decimal:
        return Decimal(per * i * scale)

    return {
        "spend_last_48h": period(1, 10) + period(2, 10),
        "revenue_last_48h": period(1, 7) + period(2, 7),
        "conversions_last_48h": period(1, 1) + period(2, 1),
        "spend_last_7d": period(1, 10) + period(2, 10) + period(3, 10),
        "spend_prev_7d": period(4, 10),
        "clicks_last_7d": period(1, 100) + period(2, 100) + period(3, 100),
        "clicks_prev_7d": period(4, 100),
        "impressions_last_7d": period(1, 1000) + period(2, 1000) + period(3, 1000),
        "impressions_prev_7d": period(4, 1000),
        "revenue_last_7d": period(1, 7) + period(2, 7) + period(3, 7),
        "revenue_prev_7d": period(4, 7),
    }


async def _sums(db: asyncpg.Connection, scope: list[uuid.UUID] | None) -> dict[uuid.UUID, dict]:
    async with db.transaction():
        await db.execute("SELECT _ao_prepare_stats($1::uuid[])", scope)
        rows = await db.fetch(f"SELECT campaign_id, {', '.join(COLUMNS)} FROM _ao_stats")
    return {r["campaign_id"]: {k: r[k] for k in COLUMNS} for r in rows}


async def test_both_halves_of_the_portfolio_get_exact_window_sums(db):
    await _campaign_with_history(db, LOW, 1)
    await _campaign_with_history(db, HIGH, 3)
    whole = await _sums(db, None)
    assert set(whole) == {LOW, HIGH}
    assert whole[LOW] == _expected(1)
    assert whole[HIGH] == _expected(3)
    # the scoped read (new metrics of some campaigns) sums the same
    assert await _sums(db, [HIGH]) == {HIGH: whole[HIGH]}
    assert await _sums(db, [LOW, HIGH]) == whole


async def test_without_parallel_workers_one_pass_sums_the_same(db):
    await _campaign_with_history(db, LOW, 2)
    await _campaign_with_history(db, HIGH, 5)
    await db.execute("SET max_parallel_workers_per_gather = 0")
    serial = await _sums(db, None)
    await db.execute("RESET max_parallel_workers_per_gather")
    assert serial == await _sums(db, None)
    assert serial[LOW] == _expected(2) and serial[HIGH] == _expected(5)
