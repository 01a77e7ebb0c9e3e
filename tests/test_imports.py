"""Imports: Meta Ads Manager and Google Ads daily exports, in their exact shapes, into campaigns and
metrics; all or nothing; a re-import changes nothing."""

from __future__ import annotations

import codecs
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from app.services.imports import ImportRefused, parse_report
from tests.conftest import auth

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
META = (FIXTURES / "meta_daily.csv").read_bytes()
GOOGLE = (FIXTURES / "google_daily.csv").read_bytes()

METRICS = """
SELECT c.external_id, c.title, m.period_start, m.period_end, m.impressions, m.clicks, m.conversions,
       m.spend, m.revenue
  FROM campaign_metrics m JOIN campaigns c ON c.id = m.campaign_id
 ORDER BY c.external_id, m.period_start
"""


def _without_reach(rows):
    return [{k: v for k, v in r.items() if k != "reach"} for r in rows]


def test_the_two_platforms_shapes_read_to_the_same_rows():
    meta, google = parse_report(META), parse_report(GOOGLE)
    assert (meta.format, google.format) == ("meta", "google")
    assert _without_reach(meta.rows) == _without_reach(google.rows)
    assert meta.rows[0] == {
        "external_id": "120211000000001",
        "period_start": "2026-09-01T00:00:00+00:00",
        "period_end": "2026-09-02T00:00:00+00:00",
        "impressions": 12345,
        "reach": 9800,
        "clicks": 234,
        "conversions": 5,
        "spend": "1234.56",
        "revenue": "1500.00",
    }
    assert (
        meta.campaigns
        == google.campaigns
        == {
            "120211000000001": "Spring sale",
            "120211000000002": "Retargeting, EU",
        }
    )
    # the summary row (Meta) and the two totals rows (Google) are not data
    assert (meta.skipped_total_rows, google.skipped_total_rows) == (1, 2)
    assert meta.unmapped_columns == google.unmapped_columns == []


def test_utf16_tab_separated_exports_are_read_too():
    """Google Ads' "Excel .csv" download: UTF-16 with a BOM, tab-separated."""
    cells = list(csv.reader(io.StringIO(GOOGLE.decode(), newline="")))
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\r\n").writerows(cells)
    utf16 = codecs.BOM_UTF16_LE + out.getvalue().encode("utf-16-le")
    assert "\t" in out.getvalue()
    assert parse_report(utf16).rows == parse_report(GOOGLE).rows


async def test_meta_and_google_exports_of_the_same_figures_import_to_identical_metrics(client, db):
    r = await client.post("/imports", content=META, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["format"] == "meta" and report["rows"] == 6 and report["campaigns"] == 2
    assert report["campaigns_created"] == 2 and report["skipped_total_rows"] == 1
    assert (report["date_from"], report["date_to"]) == (
        "2026-09-01T00:00:00Z",
        "2026-09-04T00:00:00Z",
    )
    after_meta = [dict(r) for r in await db.fetch(METRICS)]
    assert len(after_meta) == 6 and after_meta[0]["spend"] == Decimal("1234.56")
    # Campaigns appear as drafts (no cycle acts on them until activated), started at their first day.
    assert await db.fetchval("SELECT array_agg(DISTINCT status) FROM campaigns") == ["draft"]
    # The Google export of the same figures, sent as a multipart upload, changes no figure.
    r = await client.post(
        "/imports",
        files={"file": ("campaigns.csv", GOOGLE, "text/csv")},
        headers=auth(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "google" and r.json()["campaigns_created"] == 0
    assert [dict(r) for r in await db.fetch(METRICS)] == after_meta
    totals = await db.fetchrow(
        "SELECT sum(spend) AS spend, sum(revenue) AS revenue, sum(clicks) AS clicks FROM campaigns"
    )
    assert (totals["spend"], totals["revenue"], totals["clicks"]) == (
        Decimal("3368.61"),
        Decimal("3180.90"),
        527,
    )


async def test_re_importing_the_same_file_changes_nothing(client, db):
    headers = {**auth(), "content-type": "text/csv"}
    assert (await client.post("/imports", content=GOOGLE, headers=headers)).status_code == 201
    before = [dict(r) for r in await db.fetch(METRICS)]
    campaigns = [dict(r) for r in await db.fetch("SELECT * FROM campaigns ORDER BY id")]
    again = await client.post("/imports", content=GOOGLE, headers=headers)
    assert again.status_code == 201 and again.json()["campaigns_created"] == 0
    assert [dict(r) for r in await db.fetch(METRICS)] == before
    after = [dict(r) for r in await db.fetch("SELECT * FROM campaigns ORDER BY id")]
    assert [{k: v for k, v in c.items() if k != "updated_at"} for c in after] == [
        {k: v for k, v in c.items() if k != "updated_at"} for c in campaigns
    ]


BAD = [
    # (what, file, field, words in the message)
    (
        "a malformed number",
        GOOGLE.replace(b'"980.10"', b'"98O.10"'),
        "file[line 5, Cost]",
        "is not a number",
    ),
    (
        "a malformed date",
        GOOGLE.replace(b"2026-09-02,Spring", b"2026-09-32,Spring"),
        "file[line 5, Day]",
        "is not a date",
    ),
    (
        "a day outside the report's range",
        GOOGLE.replace(b"2026-09-03,Spring", b"2026-09-07,Spring"),
        "file[line 6, Day]",
        "outside the report's range",
    ),
    (
        "a missing required column",
        GOOGLE.replace(b",Cost,", b",Spend today,"),
        "file",
        "could not tell the format",
    ),
    ("not a report at all", b"hello,world\r\n1,2\r\n", "file", "could not tell the format"),
    (
        "a negative amount",
        META.replace(b'"45.20"', b'"-45.20"'),
        "file[line 5, Amount spent (USD)]",
        "must not be negative",
    ),
]


@pytest.mark.parametrize(("what", "data", "field", "words"), BAD, ids=[b[0] for b in BAD])
async def test_a_malformed_file_imports_nothing(client, db, what, data, field, words):
    r = await client.post("/imports", content=data, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] == field and words in problem["detail"], problem
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 0
    assert await db.fetchval("SELECT count(*) FROM campaign_metrics") == 0


async def test_a_row_the_database_refuses_names_its_line_and_nothing_is_written(client, db):
    # The same campaign and day twice: the ingestion refuses the batch; the line is the second one.
    lines = GOOGLE.split(b"\r\n")
    twice = b"\r\n".join([*lines[:4], lines[3], *lines[4:]])
    r = await client.post("/imports", content=twice, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "file[line 5, period_start]"
    assert await db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_an_explicit_format_that_does_not_fit_is_refused(client):
    r = await client.post(
        "/imports?format=meta", content=GOOGLE, headers={**auth(), "content-type": "text/csv"}
    )
    assert r.status_code == 422 and "not a meta export" in r.json()["detail"]
    r = await client.post(
        "/imports?format=excel", content=GOOGLE, headers={**auth(), "content-type": "text/csv"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    r = await client.post("/imports", json={"rows": []}, headers=auth())
    assert r.status_code == 415


def test_parse_refusals_name_line_and_column():
    with pytest.raises(ImportRefused) as caught:
        parse_report(GOOGLE.replace(b"234,5.00", b"234,5.0x"))
    assert (caught.value.line, caught.value.column) == (4, "Conversions")


def test_fractional_conversions_are_rounded_and_counted():
    report = parse_report(GOOGLE.replace(b"234,5.00", b"234,4.50"))
    assert report.rows[0]["conversions"] == 5 and report.rounded_conversions == 1
