"""Hostile files and URLs: whatever the bytes of an export or the host of a URL, the answer is a report
or a refusal in words (422 naming the line, or the guarded fetcher's refusal), never a 500 or a held
request. The report parser and the URL vetting are fuzzed with hypothesis (schemathesis does not
reach inside a CSV), and parsing runs off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.guarded_fetch import FetchRefused, GuardedFetcher
from app.services import imports
from app.services.report_cells import ImportRefused
from app.services.report_parsing import parse_report
from tests.conftest import auth, make_campaign

META_HEADER = (
    '"Campaign name","Campaign ID","Day","Amount spent (USD)","Impressions","Link clicks",'
    '"Purchases","Purchases conversion value"\n'
)
TODAY = datetime.now(UTC).date()


def _meta(*rows: str) -> bytes:
    return (META_HEADER + "".join(r + "\n" for r in rows)).encode()


def _day(ago: int) -> str:
    return (TODAY - timedelta(days=ago)).isoformat()


HOSTILE = {
    "utf-16 with an odd byte count": b"\xff\xfe" + META_HEADER.encode("utf-16-le") + b"x",
    "a 200 KB cell": _meta(f'"{"x" * 200_000}","1","{_day(1)}","1","1","1","0","0"'),
    "the last day a date can be": _meta('"a","1","9999-12-31","1","1","1","0","0"'),
    "a day before 2000": _meta('"a","1","1999-12-31","1","1","1","0","0"'),
    "a day next week": _meta(
        f'"a","1","{(TODAY + timedelta(days=7)).isoformat()}","1","1","1","0","0"'
    ),
    "a row shorter than the header": _meta(f'"a","1","{_day(1)}","1"'),
    "a row longer than the header": _meta(f'"a","1","{_day(1)}","1","1","1","0","0","extra"'),
    "a NUL byte": _meta(f'"a\x00","1","{_day(1)}","1","1","1","0","0"'),
    "a quote left open": _meta(f'"a,"1","{_day(1)}","1","1","1","0","0'),
    "an exponent": _meta(f'"a","1","{_day(1)}","1e999999","1","1","0","0"'),
    "four years": _meta(
        f'"a","1","{_day(1)}","1","1","1","0","0"', f'"a","1","{_day(4 * 365)}","1","1","1","0","0"'
    ),
    "a generic date-time far away": (
        b"external_id,period_start,period_end,spend\nx,9999-12-31T00:00:00Z,9999-12-31T23:00:00Z,1\n"
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_export_is_refused_naming_where(client, name):
    r = await client.post(
        "/imports",
        content=HOSTILE[name],
        headers={**auth(), "content-type": "text/csv"},
        timeout=30,
    )
    assert r.status_code == 422, (name, r.status_code, r.text[:300])
    (error,) = r.json()["errors"]
    assert error["field"].startswith("file")
    if name not in ("utf-16 with an odd byte count", "four years"):
        assert "line 2" in error["field"] or "line 3" in error["field"], error


async def test_a_row_must_have_a_cell_per_column(client):
    ok = _meta(f'"a","1","{_day(2)}","10","100","5","1","20"')
    r = await client.post("/imports", content=ok, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    short = _meta(f'"a","1","{_day(2)}","10","100","5","1"')
    r = await client.post("/imports", content=short, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file[line 2]"
    assert "7 cells and the header 8" in r.json()["detail"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_report_or_a_refusal(data):
    with contextlib.suppress(ImportRefused):
        parse_report(data)


_CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "--",
            "1,234.56",
            "$12",
            "-3",
            "1e5",
            "NaN",
            "2026-11-01",
            "9999-12-31",
            "Total: Account",
            '"',
            "\x00",
            "٣",
            "１２",
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_CELL, min_size=1, max_size=10), min_size=1, max_size=8),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["meta", "google", "generic"]),
)
def test_any_cells_under_a_real_header_are_a_report_or_a_refusal(rows, sep, kind):
    header = {
        "meta": META_HEADER.rstrip("\n").replace(",", sep),
        "google": sep.join(
            [
                "Campaign",
                "Campaign ID",
                "Day",
                "Cost",
                "Impr.",
                "Clicks",
                "Conversions",
                "Conv. value",
            ]
        ),
        "generic": sep.join(["external_id", "period_start", "period_end", "spend", "clicks"]),
    }[kind]
    text = header + "\n" + "\n".join(sep.join(r) for r in rows)
    for encoded in (
        text.encode("utf-8", "surrogatepass"),
        b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass"),
    ):
        try:
            report = parse_report(encoded)
        except ImportRefused:
            continue
        assert report.rows and all(r.get("period_start") for r in report.rows)


async def test_parsing_runs_off_the_event_loop(client, monkeypatch):
    threads: list[int] = []
    real = imports.parse_report

    def watched(data: bytes, fmt: str = "auto"):
        threads.append(threading.get_ident())
        return real(data, fmt)

    monkeypatch.setattr(imports, "parse_report", watched)
    body = _meta(f'"a","1","{_day(2)}","10","100","5","1","20"')
    r = await client.post("/imports", content=body, headers={**auth(), "content-type": "text/csv"})
    assert r.status_code == 201, r.text
    assert threads and threads[0] != threading.get_ident()


def _never_connects(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a refused URL was fetched: {request.url}")


async def _internal(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]  # every name resolves inside: nothing may be fetched


_HOST = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(
        [
            "１２７.０.０.１",
            "①②⑦.0.0.1",
            "127.1",
            "0x7f.0.0.1",
            "[::1",
            "[::ffff:127.0.0.1]",
            "xn--",
            "a..b",
            "\u0080",
            "%31%32%37.0.0.1",
            "localhost",
            "exa mple.com",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(_HOST, st.sampled_from(["http", "https", "ftp", "HTTP"]), st.text(max_size=20))
def test_any_host_is_vetted_or_refused_never_fetched(host, scheme, path):
    async def probe() -> None:
        fetcher = GuardedFetcher(resolver=_internal, transport=httpx.MockTransport(_never_connects))
        try:
            for call in (fetcher.vet, fetcher.fetch):
                with pytest.raises(FetchRefused):
                    await call(f"{scheme}://{host}/{path}")
        finally:
            await fetcher.aclose()

    asyncio.run(probe())


async def test_an_image_url_with_full_width_digits_is_refused_not_a_500(client):
    c = await make_campaign(client, image_url="http://１２７.０.０.１/image.png")
    r = await client.get(f"/media/campaigns/{c['id']}.jpg")
    assert r.status_code == 502, r.text
    assert r.json()["detail"] == "the image could not be fetched"
