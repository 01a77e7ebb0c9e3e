"""The demo's sandbox platform: the demo dataset (the KAG Facebook ads file) as a Meta ad account, served
by the in-process Graph API (app/platforms/graph.py): its three campaigns with their ad sets and ad-set
budgets, each day's figures its totals spread evenly, and the last days' purchases still arriving (a day
shows 60 % of them on the day, all of them from its fourth day on), so a sync shows late attribution and
the revisions it leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.data import read_ad_sets
from app.platforms.base import AccountInfo
from app.platforms.graph import Figures, GraphAccount, GraphCampaign, MetaGraph

SANDBOX_ACCOUNT_ID = "act_0"
SANDBOX_URL = "http://sandbox.meta.invalid"
CENT = Decimal("0.01")


def sandbox_account_info() -> AccountInfo:
    return AccountInfo("Sandbox (demo data)", "USD", "America/Los_Angeles")


# The share of a day's purchases reported by its age in days (0 = today); all of them from then on.
MATURITY = (Decimal("0.60"), Decimal("0.80"), Decimal("0.90"), Decimal("0.95"))
SPREAD_DAYS = 14


class SandboxAccount(GraphAccount):
    """Figures computed as of now: every day of the last 90 the dataset's daily share, the recent
    days' purchases still arriving, today's hours up to the current one."""

    def __init__(self, value_per_conversion: Decimal, now: Callable[[], datetime]) -> None:
        info = sandbox_account_info()
        super().__init__(SANDBOX_ACCOUNT_ID, info.name, info.currency, info.timezone, "sandbox")
        self.now = now
        self.value = value_per_conversion
        self.daily: dict[str, dict[str, Decimal]] = {}
        by_campaign: dict[str, list[dict[str, Any]]] = {}
        for ad_set in read_ad_sets():
            by_campaign.setdefault(str(ad_set["xyz_campaign_id"]), []).append(ad_set)
        for xyz, ad_sets in sorted(by_campaign.items()):
            cid = f"2385{int(xyz):011d}"
            totals = {
                k: sum((a[k] for a in ad_sets), Decimal(0))
                for k in ("impressions", "clicks", "spent", "approved_conversion")
            }
            self.daily[cid] = {k: v / SPREAD_DAYS for k, v in totals.items()}
            self.campaigns.append(
                GraphCampaign(
                    cid,
                    f"KAG campaign {xyz} (sandbox)",
                    adsets=[
                        {
                            "id": f"2386{int(a['fb_campaign_id']):011d}",
                            "status": "ACTIVE",
                            "daily_budget": int(
                                max(a["spent"] / SPREAD_DAYS * Decimal("1.25"), Decimal(5)) * 100
                            ),
                        }
                        for a in ad_sets
                    ],
                )
            )

    def figures(self, campaign_id: str, day: date, hour: int | None) -> Figures | None:
        base = self.daily.get(campaign_id)
        local_now = self.now().astimezone(ZoneInfo(self.timezone))
        age = (local_now.date() - day).days
        if base is None or age < 0 or age > 90:
            return None
        share = Decimal(1)
        if hour is not None:
            if age != 0 or hour > local_now.hour:
                return None
            share = Decimal(1) / 24
        elif age == 0:
            share = Decimal(local_now.hour + 1) / 24
        maturity = MATURITY[age] if age < len(MATURITY) else Decimal(1)
        purchases = int(
            (base["approved_conversion"] * share * maturity).to_integral_value(ROUND_HALF_EVEN)
        )
        return Figures(
            impressions=int(base["impressions"] * share),
            clicks=int(base["clicks"] * share),
            spend=(base["spent"] * share).quantize(CENT),
            purchases=purchases,
            purchase_value=(purchases * self.value).quantize(CENT),
            reach=None if hour is not None else int(base["impressions"] * share * Decimal("0.8")),
        )


def sandbox_graph(
    value_per_conversion: Decimal, now: Callable[[], datetime] | None = None
) -> MetaGraph:
    return MetaGraph([SandboxAccount(value_per_conversion, now or (lambda: datetime.now(UTC)))])
