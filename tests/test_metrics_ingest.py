"""POST /metrics: bulk, set-based, all or nothing, totals in step."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import auth, make_campaign

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def _row(campaign: dict, day: int, **fields: object) -> dict:
    row = {
        "campaign_id": campaign["id"],
        "period_start": (DAY0 + timedelta(days=day)).isoformat(),
        "period_end": (DAY0 + timedelta(days=day + 1)).isoformat(),
        "impressions": 1000,
        "reach": 800,
        "clicks": 20,
        "conversions": 2,
        "spend": 10.25,
        "revenue": 30.5,
    }
    row.update(fields)
    return row


async def _count_rows(db) -> int:
    return await db.fetchval("SELECT count(*) FROM campaign_metrics")


async def test_ten_thousand_rows_persist_and_totals_match(client, db):
    rng = random.Random(7)
    campaigns = [await make_campaign(client) for _ in range(40)]
    rows = []
    for i in range(10_000):
        c = campaigns[i % 40]
        day = i // 40
        rows.append(
            _row(
                c,
                day,
                impressions=rng.randint(0, 50_000),
                reach=rng.choice([None, rng.randint(0, 9000)]),
                clicks=rng.randint(0, 900),
                conversions=rng.randint(0, 40),
                spend=round(rng.uniform(0, 500), 2),
                revenue=round(rng.uniform(0, 1500), 4),
            )
        )
    r = await client.post("/metrics", json={"rows": rows}, headers=auth("service"))
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 10_000, "campaigns": 40}
    assert await _count_rows(db) == 10_000
    mismatched = await db.fetch(
        """
        SELECT c.id FROM campaigns c
        JOIN (SELECT campaign_id, sum(impressions) i, coalesce(sum(reach), 0) re, sum(clicks) cl,
                     sum(conversions) cv, sum(spend) sp, sum(revenue) rv
              FROM campaign_metrics GROUP BY campaign_id) s ON s.campaign_id = c.id
        WHERE (c.impressions, c.reach, c.clicks, c.conversions, c.spend, c.revenue)
              IS DISTINCT FROM (s.i, s.re, s.cl, s.cv, s.sp, s.rv)
        """
    )
    assert mismatched == []
    # And against the payload itself, for one campaign.
    mine = [row for row in rows if row["campaign_id"] == campaigns[3]["id"]]
    got = (await client.get(f"/campaigns/{campaigns[3]['id']}", headers=auth())).json()
    assert got["clicks"] == sum(row["clicks"] for row in mine)
    assert got["spend"] == pytest.approx(sum(row["spend"] for row in mine))
    assert got["reach"] == sum(row["reach"] or 0 for row in mine)


async def test_resending_a_period_replaces_it(client):
    c = await make_campaign(client)
    first = [_row(c, 0, clicks=10, spend=5), _row(c, 1, clicks=7, spend=3)]
    assert (await client.post("/metrics", json={"rows": first}, headers=auth())).status_code == 200
    again = [_row(c, 0, clicks=1, spend=1, revenue=4, conversions=1, impressions=100)]
    assert (await client.post("/metrics", json={"rows": again}, headers=auth())).status_code == 200
    got = (await client.get(f"/campaigns/{c['id']}", headers=auth())).json()
    assert got["clicks"] == 8
    assert got["spend"] == pytest.approx(4.0)
    assert got["impressions"] == 1100
    assert got["roi"] == pytest.approx((4 + 30.5) / 4.0)
    assert got["ctr"] == pytest.approx(8 / 1100, rel=1e-4)
    assert got["conversion_rate"] == pytest.approx(3 / 8)
    assert got["cpa"] == pytest.approx(4.0 / 3, rel=1e-3)


async def test_rows_by_external_id(client, db):
    c = await make_campaign(client, external_id="fb-123")
    row = _row(c, 0)
    del row["campaign_id"]
    row["external_id"] = "fb-123"
    r = await client.post("/metrics", json={"rows": [row]}, headers=auth())
    assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT clicks FROM campaigns WHERE external_id = 'fb-123'") == 20


BAD_ROWS = {
    "negative": ({"clicks": -1}, "clicks"),
    "negative_spend": ({"spend": -0.01}, "spend"),
    "string_number": ({"impressions": "many"}, "impressions"),
    "float_count": ({"clicks": 1.5}, "clicks"),
    "unknown_field": ({"ctr": 0.5}, "ctr"),
    "period_order": ({"period_end": DAY0.isoformat()}, ""),
    "bad_date": ({"period_start": "yesterday"}, "period_start"),
    "unknown_campaign": ({"campaign_id": "00000000-0000-0000-0000-000000000001"}, "campaign_id"),
    "bad_uuid": ({"campaign_id": "nope"}, "campaign_id"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
async def test_one_bad_row_rejects_the_batch(client, db, case):
    c = await make_campaign(client)
    rows = [_row(c, d) for d in range(30)]
    change, field = BAD_ROWS[case]
    rows[17].update(change)
    r = await client.post("/metrics", json={"rows": rows}, headers=auth())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert any(e["field"].startswith("rows[17]") and field in e["field"] for e in body["errors"]), (
        body
    )
    assert "rows[17]" in body["detail"]
    assert await _count_rows(db) == 0
    assert await db.fetchval("SELECT clicks FROM campaigns WHERE id = $1::uuid", c["id"]) == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_refused(client, db, literal):
    c = await make_campaign(client)
    text = json.dumps({"rows": [_row(c, 0), _row(c, 1, spend="__X__")]}).replace('"__X__"', literal)
    r = await client.post(
        "/metrics", content=text, headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "rows[1].spend"
    assert await _count_rows(db) == 0


async def test_duplicate_period_in_one_batch_names_the_row(client, db):
    c = await make_campaign(client)
    rows = [_row(c, 0), _row(c, 1), _row(c, 0, clicks=1)]
    r = await client.post("/metrics", json={"rows": rows}, headers=auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "rows[2].period_start"
    assert await _count_rows(db) == 0


async def test_batch_over_ten_thousand_is_refused(client, db):
    c = await make_campaign(client)
    rows = [_row(c, d) for d in range(10_001)]
    r = await client.post("/metrics", json={"rows": rows}, headers=auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "rows"
    assert "10000" in r.json()["errors"][0]["message"]
    assert await _count_rows(db) == 0


async def test_empty_batch_and_missing_rows_are_refused(client):
    assert (await client.post("/metrics", json={"rows": []}, headers=auth())).status_code == 422
    r = await client.post("/metrics", json={}, headers=auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rows"


async def test_oversized_body_is_413(client, db):
    big = b'{"rows": [' + b" " * (10 * 1024 * 1024 + 10) + b"]}"
    r = await client.post(
        "/metrics", content=big, headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count_rows(db) == 0


async def test_oversized_chunked_body_is_413(client):
    async def chunks():
        yield b'{"rows": ['
        for _ in range(11):
            yield b" " * (1024 * 1024)
        yield b"]}"

    r = await client.post(
        "/metrics", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )
    assert r.status_code == 413


async def test_non_admin_cannot_ingest(client, db):
    c = await make_campaign(client)
    from tests.conftest import token

    r = await client.post(
        "/metrics",
        json={"rows": [_row(c, 0)]},
        headers={"Authorization": f"Bearer {token('user')}"},
    )
    assert r.status_code == 403
    assert await _count_rows(db) == 0
