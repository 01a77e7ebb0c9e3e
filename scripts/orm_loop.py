"""Benchmark baseline (b2): the cycle's pause/scale decisions as an ORM service would take them.

SQLAlchemy 2.0 ORM over psycopg2: one query per campaign that loads the campaign entity with its window
sums, the decision in Python, changes on the entity, audit rows added to the session, one flush (the
unit of work). Used by scripts/bench_cycle.py; never by the service.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, create_engine, func, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str]
    daily_budget: Mapped[Decimal]
    max_budget: Mapped[Decimal | None]
    spend: Mapped[Decimal]
    revenue: Mapped[Decimal]
    conversions: Mapped[int]
    started_at: Mapped[datetime | None]


class Metric(Base):
    __tablename__ = "campaign_metrics"
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaigns.id"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    period_end: Mapped[datetime]
    impressions: Mapped[int]
    reach: Mapped[int | None]
    clicks: Mapped[int]
    conversions: Mapped[int]
    spend: Mapped[Decimal]
    revenue: Mapped[Decimal]


class Action(Base):
    __tablename__ = "autonomous_actions"
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("campaigns.id"))
    action_type: Mapped[str]
    reason: Mapped[str]
    new_state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str]
    executed_at: Mapped[datetime | None]


def run(url: str, decide: Any) -> set[tuple[str, str, Decimal]]:
    """Run the loop in a transaction that is rolled back; return the decisions it wrote."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            now = session.execute(text("SELECT now()")).scalar_one()
            h48, d7, d14 = (
                now - timedelta(hours=48),
                now - timedelta(days=7),
                now - timedelta(days=14),
            )
            windows = [
                func.sum(Metric.spend).filter(Metric.period_end > h48).label("spend48"),
                func.sum(Metric.revenue).filter(Metric.period_end > h48).label("revenue48"),
                func.sum(Metric.conversions).filter(Metric.period_end > h48).label("conversions48"),
                *[
                    func.sum(getattr(Metric, f)).filter(Metric.period_end > d7).label(f"{f}7")
                    for f in ("spend", "revenue", "clicks", "impressions", "conversions", "reach")
                ],
                *[
                    func.sum(getattr(Metric, f)).filter(Metric.period_end <= d7).label(f"{f}_p7")
                    for f in ("spend", "revenue", "clicks", "impressions", "conversions")
                ],
            ]
            ids = (
                session.execute(select(Campaign.id).where(Campaign.status == "active"))
                .scalars()
                .all()
            )
            query = (
                select(Campaign, *windows)
                .outerjoin(Metric, (Metric.campaign_id == Campaign.id) & (Metric.period_end > d14))
                .group_by(Campaign.id)
            )
            for cid in ids:
                row = session.execute(query.where(Campaign.id == cid)).one()
                campaign = row[0]
                record = {
                    "spend": campaign.spend,
                    "revenue": campaign.revenue,
                    "conversions": campaign.conversions,
                    "daily_budget": campaign.daily_budget,
                    "max_budget": campaign.max_budget,
                    "hours": Decimal((now - campaign.started_at).total_seconds()) / 3600,
                    "spend48": row.spend48,
                    "revenue48": row.revenue48,
                }
                action, budget = decide(record)
                if action == "pause":
                    campaign.status = "paused"
                elif action == "scale":
                    campaign.daily_budget = budget
                if action:
                    session.add(
                        Action(
                            campaign_id=cid,
                            action_type=action,
                            reason="bench",
                            new_state={"daily_budget": str(budget)},
                            status="executed",
                            executed_at=now,
                        )
                    )
            session.flush()
            written = (
                session.execute(
                    text(
                        "SELECT campaign_id, action_type, (new_state ->> 'daily_budget')::numeric AS new_budget"
                        " FROM autonomous_actions WHERE action_type IN ('pause', 'scale')"
                    )
                )
                .mappings()
                .all()
            )
            session.rollback()
    finally:
        engine.dispose()
    return {
        (
            str(r["campaign_id"]),
            r["action_type"],
            Decimal(r["new_budget"]).quantize(Decimal("0.01")),
        )
        for r in written
    }
