"""The demo dataset: the Kaggle KAG Facebook ads file (SOURCE.md), read into its ad sets' totals. The
demo loader (app/services/demo.py) and the sandbox platform (app/platforms/sandbox.py) both start here."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

CSV_PATH = Path(__file__).resolve().parent / "KAG_conversion_data.csv"


def read_ad_sets(path: Path = CSV_PATH) -> list[dict[str, Any]]:
    """One entry per ad set (fb_campaign_id) with its ads' totals; BOM and CRLF handled."""
    totals: dict[str, dict[str, Any]] = {}
    sums: dict[str, defaultdict[str, Decimal]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            key = row["fb_campaign_id"]
            if key not in totals:
                totals[key] = {
                    "xyz_campaign_id": row["xyz_campaign_id"],
                    "fb_campaign_id": key,
                    "age": row["age"],
                    "gender": row["gender"],
                    "ads": 0,
                }
                sums[key] = defaultdict(Decimal)
            totals[key]["ads"] += 1
            for field in ("Impressions", "Clicks", "Spent", "Approved_Conversion"):
                sums[key][field] += Decimal(row[field])
    for key, entry in totals.items():
        entry.update({k.lower(): v for k, v in sums[key].items()})
    return list(totals.values())
