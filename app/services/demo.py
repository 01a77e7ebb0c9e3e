"""Demo data from a real dataset: the Kaggle KAG Facebook ads file, as campaigns with 14 days of metrics,
and the sandbox ad account, which syncs the same file from a Meta-shaped platform in process
(app/platforms/sandbox.py).

The file has no dates and no revenue; each ad set's totals are spread evenly over the last 14 days, and
revenue is approved conversions × a value per conversion (DEMO_VALUE_PER_CONVERSION): both assumptions,
stated in app/data/SOURCE.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from app.data import read_ad_sets
from app.db import queries
from app.platforms.sandbox import SANDBOX_ACCOUNT_ID, sandbox_account_info

DAYS = 14


def _split(total: Decimal, parts: int, places: str) -> list[Decimal]:
    """Split ``total`` into ``parts`` non-negative shares (to ``places``) that add up to it exactly."""
    quantum = Decimal(places)
    units = int(total.quantize(quantum) / quantum)  # in cents, or in whole counts
    base, extra = divmod(units, parts)
    return [(base + (1 if i < extra else 0)) * quantum for i in range(parts)]


def build(
    value_per_conversion: Decimal, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    campaigns, rows = [], []
    for ad_set in read_ad_sets():
        external_id = f"kag-{ad_set['fb_campaign_id']}"
        spend = ad_set["spent"]
        daily = max((spend / DAYS * Decimal("1.25")).quantize(Decimal("0.01")), Decimal("5.00"))
        campaigns.append(
            {
                "external_id": external_id,
                "title": f"Campaign {ad_set['xyz_campaign_id']} · ad set {ad_set['fb_campaign_id']} "
                f"({ad_set['age']}, {ad_set['gender']})",
                "description": f"{ad_set['ads']} Facebook ads for ages {ad_set['age']}, gender {ad_set['gender']}.",
                "landing_url": f"https://shop.example.com/c/{ad_set['xyz_campaign_id']}?adset={ad_set['fb_campaign_id']}",
                "cta_label": "Shop now",
                "daily_budget": str(daily),
                "max_budget": str(daily * 3),
                "started_at": (now - timedelta(days=DAYS)).isoformat(),
            }
        )
        splits = {
            "impressions": _split(ad_set["impressions"], DAYS, "1"),
            "clicks": _split(ad_set["clicks"], DAYS, "1"),
            "conversions": _split(ad_set["approved_conversion"], DAYS, "1"),
            "spend": _split(spend, DAYS, "0.01"),
        }
        for day in range(DAYS):
            start = now - timedelta(days=DAYS - day)
            conversions = splits["conversions"][day]
            rows.append(
                {
                    "external_id": external_id,
                    "period_start": start.isoformat(),
                    "period_end": (start + timedelta(days=1)).isoformat(),
                    "impressions": int(splits["impressions"][day]),
                    "clicks": int(splits["clicks"][day]),
                    "conversions": int(conversions),
                    "spend": str(splits["spend"][day]),
                    "revenue": str((conversions * value_per_conversion).quantize(Decimal("0.01"))),
                }
            )
    return campaigns, rows


async def load(
    conn: asyncpg.Connection,
    value_per_conversion: float = 100.0,
    accounts: Sequence[uuid.UUID] = (),
    now: datetime | None = None,
) -> dict[str, int]:
    """Insert the demo campaigns (existing external ids are left alone) and upsert their metrics: in
    the manual account, or dealt out among ``accounts`` in blocks of consecutive ad sets."""
    campaigns, rows = build(Decimal(str(value_per_conversion)), now)
    if accounts:
        account_of = {
            c["external_id"]: str(accounts[i * len(accounts) // len(campaigns)])
            for i, c in enumerate(campaigns)
        }
        for item in (*campaigns, *rows):
            item["account_id"] = account_of[item["external_id"]]
    async with conn.transaction():
        inserted = await conn.fetchval(queries.DEMO_CAMPAIGNS_INSERT, json.dumps(campaigns))
        for i in range(0, len(rows), 10_000):
            await conn.fetchval(queries.METRICS_INGEST, json.dumps(rows[i : i + 10_000]))
    return {"campaigns": len(campaigns), "new_campaigns": int(inserted), "metric_rows": len(rows)}


async def connect_sandbox(conn: asyncpg.Connection) -> bool:
    """The demo's sandbox ad account, once: connected in observe mode, its first sync asked for."""
    if await conn.fetchval(queries.SANDBOX_ACCOUNT_EXISTS):
        return False
    info = sandbox_account_info()
    async with conn.transaction():
        row = await conn.fetchrow(
            queries.AD_ACCOUNT_INSERT,
            "meta",
            SANDBOX_ACCOUNT_ID,
            info.name,
            info.currency,
            info.timezone,
            "observe",
            None,
            None,
            True,
            "demo",
        )
        await conn.fetchrow(queries.AD_ACCOUNT_SYNC_REQUEST, row["id"], "connect", "demo")
    return True
