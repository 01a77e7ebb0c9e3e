"""Builders for decision scenarios: campaigns with metric rows placed in time relative to now()."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg


async def campaign(
    db: asyncpg.Connection,
    *,
    title: str | None = None,
    hours: float = 100,
    spend: float = 100,
    revenue: float = 0,
    conversions: int = 0,
    clicks: int = 100,
    impressions: int = 10_000,
    recent: dict[str, float] | None = None,
    budget: float = 100,
    max_budget: float | None = None,
    status: str = "active",
    landing_url: str | None = "https://shop.example.com/offer?ref=ads",
    account_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """A campaign running for ``hours`` with the given lifetime totals.

    In the manual account unless ``account_id`` names another. Without ``recent`` all its figures sit
    in one period ending now (so every window sees them).
    With ``recent`` ({spend, revenue, conversions, clicks, impressions}), those sit in the last 24 h and
    the rest in a period that ended 72 h ago (outside last_24h and last_48h).
    """
    title = title or f"Campaign {uuid.uuid4().hex[:6]}"
    cid: uuid.UUID = await db.fetchval(
        """INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at, landing_url,
                                  description, image_url, cta_label, account_id)
           VALUES ($1, $2, $3, $4, $5, now() - make_interval(secs => $6::float8 * 3600), $7,
                   'A campaign worth sharing', 'https://cdn.example.com/i.jpg', 'Shop now',
                   coalesce($8::uuid, ao_manual_account_id()))
           RETURNING id""",
        f"ext-{uuid.uuid4().hex[:10]}",
        title,
        status,
        budget,
        max_budget,
        hours,
        landing_url,
        str(account_id) if account_id is not None else None,
    )
    totals = {
        "spend": spend,
        "revenue": revenue,
        "conversions": conversions,
        "clicks": clicks,
        "impressions": impressions,
    }
    rows: list[dict[str, Any]] = []
    now = await db.fetchval("SELECT now()")
    from datetime import timedelta

    if recent is None:
        start = now - timedelta(hours=min(hours, 24) or 1)
        rows.append(
            {
                "campaign_id": str(cid),
                "period_start": start.isoformat(),
                "period_end": now.isoformat(),
                **totals,
            }
        )
    else:
        rest = {k: totals[k] - recent.get(k, 0) for k in totals}
        assert all(v >= 0 for v in rest.values()), rest
        rows.append(
            {
                "campaign_id": str(cid),
                "period_start": (now - timedelta(hours=24)).isoformat(),
                "period_end": now.isoformat(),
                **{k: recent.get(k, 0) for k in totals},
            }
        )
        old_start = now - timedelta(hours=max(hours, 73))
        rows.append(
            {
                "campaign_id": str(cid),
                "period_start": old_start.isoformat(),
                "period_end": (now - timedelta(hours=72)).isoformat(),
                **rest,
            }
        )
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
    return cid


async def cycle(db: asyncpg.Connection, dry_run: bool = False) -> dict[str, Any]:
    raw = await db.fetchval("SELECT run_autonomous_operations_with_posting($1)::text", dry_run)
    return json.loads(raw)


async def state(db: asyncpg.Connection, cid: uuid.UUID) -> tuple[str, float]:
    row = await db.fetchrow("SELECT status, daily_budget FROM campaigns WHERE id = $1", cid)
    return row["status"], float(row["daily_budget"])


async def actions_of(db: asyncpg.Connection, cid: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT a.*, r.name AS rule_name FROM autonomous_actions a LEFT JOIN autonomous_rules r ON r.id = a.rule_id
           WHERE a.campaign_id = $1 ORDER BY a.created_at""",
        cid,
    )


async def connect_account(
    db: asyncpg.Connection, platform: str = "facebook", expires_in_hours: float | None = None
) -> None:
    await db.execute(
        """INSERT INTO social_accounts (platform, account_id, access_token_encrypted, token_expires_at)
           VALUES ($1, $2, '\\x00', CASE WHEN $3::float8 IS NULL THEN NULL
                                         ELSE now() + make_interval(secs => $3::float8 * 3600) END)""",
        platform,
        f"{platform}-{uuid.uuid4().hex[:6]}",
        expires_in_hours,
    )


async def periods(
    db: asyncpg.Connection, cid: uuid.UUID, rows: list[tuple[float, float, dict[str, float]]]
) -> None:
    """Metric rows for ``cid``: (hours ago the period starts, its length in hours, figures)."""
    from datetime import timedelta

    now = await db.fetchval("SELECT now()")
    payload = [
        {
            "campaign_id": str(cid),
            "period_start": (now - timedelta(hours=ago)).isoformat(),
            "period_end": (now - timedelta(hours=ago - length)).isoformat(),
            **figures,
        }
        for ago, length, figures in rows
    ]
    await db.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(payload))


async def bare_campaign(
    db: asyncpg.Connection,
    *,
    hours: float = 24 * 20,
    budget: float = 100,
    max_budget: float | None = None,
    title: str | None = None,
) -> uuid.UUID:
    """An active campaign without metric rows (add them with ``periods``)."""
    return await db.fetchval(
        """INSERT INTO campaigns (external_id, title, status, daily_budget, max_budget, started_at)
           VALUES ($1, $2, 'active', $3, $4, now() - make_interval(secs => $5::float8 * 3600)) RETURNING id""",
        f"ext-{uuid.uuid4().hex[:10]}",
        title or f"Campaign {uuid.uuid4().hex[:6]}",
        budget,
        max_budget,
        hours,
    )


async def opportunities(
    db: asyncpg.Connection, cid: uuid.UUID | None = None, kind: str | None = None
) -> list:
    return await db.fetch(
        """SELECT * FROM optimization_opportunities
           WHERE ($1::uuid IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR opportunity_type = $2)
           ORDER BY detected_at""",
        cid,
        kind,
    )
