"""Confidence is a statistical quantity in [0, 1] that grows with the sample."""

from __future__ import annotations

import json
import math
import random

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.scenario import campaign, cycle

FIELDS = (
    "revenue_lifetime",
    "spend_lifetime",
    "conversions_lifetime",
    "clicks_lifetime",
    "impressions_lifetime",
)


async def _confidence(db: asyncpg.Connection, condition: dict, **figures: float) -> float:
    expr = await db.fetchval("SELECT compile_rule_confidence($1::jsonb)", {"all": [condition]})
    # the conversions as reported are the sample; unless a test says otherwise, all of them arrived
    figures.setdefault("conversions_lifetime_reported", figures.get("conversions_lifetime", 0))
    fields = (*FIELDS, "conversions_lifetime_reported")
    cols = ", ".join(f"${i + 1}::numeric AS {f}" for i, f in enumerate(fields))
    value = await db.fetchval(
        f"SELECT ({expr})::float8 FROM (SELECT {cols}) s", *[figures.get(f, 0) for f in fields]
    )
    return float(value)


def phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


async def test_norm_cdf_matches_the_exact_function(db):
    for z in (-6, -3, -1.96, -0.5, 0, 0.3, 1, 1.645, 2.5, 7):
        assert await db.fetchval("SELECT ao_norm_cdf($1)", float(z)) == pytest.approx(
            phi(z), abs=2e-7
        )


async def test_roi_confidence_formula(db):
    # ROI 4.5 vs threshold 3 over 10 conversions: Φ(ln(4.5/3) · √11)
    got = await _confidence(
        db,
        {"metric": "roi", "op": "gte", "value": 3},
        revenue_lifetime=450,
        spend_lifetime=100,
        conversions_lifetime=10,
    )
    assert got == pytest.approx(phi(math.log(1.5) * math.sqrt(11)), abs=1e-6)
    pause = await _confidence(
        db,
        {"metric": "roi", "op": "lt", "value": 0.5},
        revenue_lifetime=20,
        spend_lifetime=100,
        conversions_lifetime=3,
    )
    assert pause == pytest.approx(phi(math.log(0.5 / 0.2) * 2), abs=1e-6)


async def test_ctr_confidence_is_the_wilson_score_test(db):
    got = await _confidence(
        db,
        {"metric": "ctr", "op": "gt", "value": 0.02},
        clicks_lifetime=300,
        impressions_lifetime=10_000,
    )
    z = (0.03 - 0.02) / math.sqrt(0.02 * 0.98 / 10_000)
    assert got == pytest.approx(phi(z), abs=1e-6)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    roi=st.floats(min_value=0.05, max_value=20),
    threshold=st.sampled_from([0.5, 1.0, 3.0, 4.0]),
    n=st.integers(min_value=0, max_value=5_000),
    more=st.integers(min_value=1, max_value=5_000),
)
async def test_roi_confidence_grows_with_the_sample(db, roi, threshold, n, more):
    op = "gte" if roi >= threshold else "lt"
    cond = {"metric": "roi", "op": op, "value": threshold}
    spend = 1000.0
    small = await _confidence(
        db, cond, revenue_lifetime=roi * spend, spend_lifetime=spend, conversions_lifetime=n
    )
    large = await _confidence(
        db,
        cond,
        revenue_lifetime=roi * spend * 3,
        spend_lifetime=spend * 3,
        conversions_lifetime=n + more,
    )
    assert 0 <= small <= 1 and 0 <= large <= 1
    assert large >= small - 1e-6  # equal up to float rounding when the rate sits on the threshold
    assert small >= 0.5 - 1e-6  # on the acting side the evidence never points the other way


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ctr=st.floats(min_value=0.0005, max_value=0.5),
    threshold=st.sampled_from([0.005, 0.01, 0.02, 0.05]),
    impressions=st.integers(min_value=1, max_value=1_000_000),
    factor=st.integers(min_value=2, max_value=50),
)
@example(
    ctr=0.05, threshold=0.05, impressions=43, factor=43
)  # on the threshold: 0.5 both, up to rounding
async def test_ctr_confidence_grows_with_the_sample(db, ctr, threshold, impressions, factor):
    op = "gt" if ctr > threshold else "lte"
    cond = {"metric": "ctr", "op": op, "value": threshold}
    small = await _confidence(
        db, cond, clicks_lifetime=ctr * impressions, impressions_lifetime=impressions
    )
    large = await _confidence(
        db,
        cond,
        clicks_lifetime=ctr * impressions * factor,
        impressions_lifetime=impressions * factor,
    )
    assert 0 <= small <= 1 and 0 <= large <= 1
    assert large >= small - 1e-6  # equal up to float rounding when the rate sits on the threshold


async def test_scaling_below_the_confidence_floor_never_happens(db):
    rng = random.Random(11)
    for _ in range(60):
        conversions = rng.choice([10, 11, 12, 15, 20, 40, 80, 200])
        roi = rng.uniform(2.9, 6.0)
        await campaign(
            db,
            hours=30,
            spend=100,
            revenue=round(100 * roi, 2),
            conversions=conversions,
            budget=100,
        )
    summary = await cycle(db)
    floor = 0.75
    scales = [a for a in summary["actions"] if a["action_type"] == "scale"]
    assert scales, "the portfolio should produce some scales"
    assert all(a["confidence"] >= floor for a in scales)
    held = [h for h in summary["held_back"] if h["held_reason"].startswith("confidence")]
    assert held and all(h["confidence"] < floor for h in held)
    stored = await db.fetchval(
        "SELECT min(confidence) FROM autonomous_actions WHERE action_type = 'scale'"
    )
    assert float(stored) >= floor
    assert (
        await db.fetchval(
            "SELECT count(*) FROM autonomous_actions WHERE confidence < 0 OR confidence > 1"
        )
        == 0
    )
    # every held-back campaign kept its budget
    held_ids = [h["campaign_id"] for h in held]
    budgets = await db.fetch(
        "SELECT daily_budget FROM campaigns WHERE id = ANY($1::uuid[])", held_ids
    )
    assert {float(b["daily_budget"]) for b in budgets} == {100.0}
    assert json.dumps(summary)  # the summary is plain JSON
