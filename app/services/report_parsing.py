"""Reading a daily campaign report as the ad platforms export it: which shape it is, which column carries
what, and each cell as a metric row (app/services/imports.py writes the rows).

Three shapes are read: Meta Ads Manager (Campaign name, Campaign ID, Day or Reporting starts/ends,
Amount spent (CUR), Impressions, Reach, Link clicks or Clicks (all), Results or Purchases, Purchases
conversion value), Google Ads (Campaign, Campaign ID, Day, Cost, Impr., Clicks, Conversions, Conv. value,
after the report's title and date-range lines) and the generic columns of ``POST /metrics``. A file is
UTF-8 (with or without a BOM) or UTF-16 with a BOM, comma-, semicolon- or tab-separated, CRLF or LF.
Numbers may carry thousands separators and currency symbols; ``--`` and empty cells are zero (an empty
reach stays unknown); totals rows ("Total: Account", a summary row with no campaign) are skipped.
Anything else (an undetectable format, a missing column, a row shorter or longer than the header, a
malformed number or date, a day before 2000 or after tomorrow, a file spanning more than
``MAX_SPAN_DAYS``, a day outside the range the file states) is an :class:`ImportRefused` naming the
line and column, and nothing is imported. Whatever the bytes, reading them ends in a report or an
:class:`ImportRefused`, never another error.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from app.models.common import MOMENT_WORDS, parse_moment
from app.services.report_cells import (
    ImportRefused,
    decode,
    normalise,
    parse_date,
    parse_number,
)

ImportFormat = Literal["auto", "meta", "google", "generic"]
FORMATS: tuple[str, ...] = ("auto", "meta", "google", "generic")
MAX_ROWS = 1_000_000
TOO_LARGE = Decimal(10) ** 15
# The days a report may hold: none before 2000, none after tomorrow (an account's day can be ahead of
# UTC's), and at most three years from its first to its last.
FIRST_DAY = date(2000, 1, 1)
MAX_SPAN_DAYS = 1096
# The longest cell read (csv's own limit); a longer one is refused with its line.
MAX_CELL = 131_072
_CONTROL = re.compile(r"[\x00-\x08\x0B-\x1F]")

# Each target: the header names (normalised: lower case, currency in brackets dropped) that carry it,
# the first present wins.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "meta": {
        "name": ("campaign name",),
        "external_id": ("campaign id",),
        "day": ("day",),
        "starts": ("reporting starts",),
        "ends": ("reporting ends",),
        "spend": ("amount spent",),
        "impressions": ("impressions",),
        "reach": ("reach",),
        "clicks": ("link clicks", "clicks (all)"),
        "conversions": ("purchases", "website purchases", "results"),
        "revenue": (
            "purchases conversion value",
            "website purchases conversion value",
            "purchase conversion value",
        ),
    },
    "google": {
        "name": ("campaign",),
        "external_id": ("campaign id",),
        "day": ("day", "date"),
        "spend": ("cost",),
        "impressions": ("impr.", "impressions"),
        "clicks": ("clicks",),
        "conversions": ("conversions",),
        "revenue": ("conv. value", "conversion value", "total conv. value"),
    },
    "generic": {
        "name": ("title",),
        "external_id": ("external_id",),
        "campaign_id": ("campaign_id",),
        "period_start": ("period_start",),
        "period_end": ("period_end",),
        "spend": ("spend",),
        "impressions": ("impressions",),
        "reach": ("reach",),
        "clicks": ("clicks",),
        "conversions": ("conversions",),
        "revenue": ("revenue",),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "meta": ("spend", "impressions"),
    "google": ("day", "spend", "impressions", "clicks"),
    "generic": ("period_start", "period_end"),
}
# Columns an export carries that are understood and not needed (not reported as unmapped).
KNOWN_EXTRA = {
    "currency code",
    "currency",
    "result indicator",
    "result type",
    "attribution setting",
    "campaign status",
    "campaign state",
    "campaign delivery",
}

_RANGE = re.compile(
    r"^\s*\"?(?P<a>[A-Za-z]+ \d{1,2}, \d{4}|\d{4}-\d{2}-\d{2})\s*[-–]\s*"
    r"(?P<b>[A-Za-z]+ \d{1,2}, \d{4}|\d{4}-\d{2}-\d{2})\"?\s*$"
)


@dataclass
class ParsedReport:
    format: str
    rows: list[dict[str, Any]]
    campaigns: dict[str, str]  # external_id (or campaign id) → title
    unmapped_columns: list[str]
    skipped_total_rows: int = 0
    rounded_conversions: int = 0
    date_from: date | None = None
    date_to: date | None = None
    stated_range: tuple[date, date] | None = field(default=None)
    lines: list[int] = field(default_factory=list)  # the file line of each row


def _lines(text: str) -> tuple[list[list[str]], list[int]]:
    """The rows of the file and the line each starts on (a quoted cell may hold line breaks)."""
    sample = "\n".join(text[:100_000].splitlines()[:20])
    delimiter = ","
    counts = {d: sample.count(d) for d in (",", "\t", ";")}
    if counts["\t"] > counts[","]:
        delimiter = "\t"
    elif counts[";"] > counts[","]:
        delimiter = ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    starts: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return rows, starts
        except csv.Error as exc:
            reason = (
                f"a cell longer than {MAX_CELL:,} characters"
                if "field larger" in str(exc)
                else "it cannot be read as CSV (a NUL byte, or a quote left open)"
            )
            raise ImportRefused(reason, line=start) from None
        if len(rows) > MAX_ROWS + 20:
            raise ImportRefused(f"more than {MAX_ROWS:,} rows", line=start)
        rows.append(row)
        starts.append(start)


def _find_header(lines: list[list[str]], fmt: str) -> tuple[int, str]:
    """The header line (index) and the format: the first of the first 10 lines naming known columns."""
    candidates = [fmt] if fmt != "auto" else ["meta", "google", "generic"]
    for index, cells in enumerate(lines[:10]):
        names = {normalise(c) for c in cells}
        for candidate in candidates:
            spec = COLUMNS[candidate]
            if all(any(n in names for n in spec[k]) for k in REQUIRED[candidate]):
                if candidate == "meta" and not ({"day", "reporting starts"} & names):
                    continue
                if candidate == "google" and (
                    "amount spent" in names or "reporting starts" in names
                ):
                    continue
                return index, candidate
    if fmt == "auto":
        raise ImportRefused(
            "could not tell the format: expected the columns of a Meta Ads Manager export (Campaign "
            "name, Day or Reporting starts, Amount spent, Impressions), of a Google Ads export (Campaign, "
            "Day, Cost, Impr., Clicks) or the generic columns (external_id, period_start, period_end, …)",
            column=None,
        )
    missing = ", ".join(COLUMNS[fmt][k][0] for k in REQUIRED[fmt])
    raise ImportRefused(f"not a {fmt} export: the header must name {missing}")


def _stated_range(lines: list[list[str]], header: int) -> tuple[date, date] | None:
    """Google Ads puts the report's date range on a line above the header."""
    for cells in lines[:header]:
        match = _RANGE.match(",".join(cells))
        if match:
            a, b = parse_date(match["a"]), parse_date(match["b"])
            if a and b:
                return a, b
    return None


def parse_report(data: bytes, fmt: str = "auto") -> ParsedReport:
    if fmt not in FORMATS:
        raise ImportRefused(f"format must be one of {', '.join(FORMATS)}")
    text = decode(data)
    if not text.strip():
        raise ImportRefused("the file is empty")
    lines, starts = _lines(text)
    header_index, kind = _find_header(lines, fmt)
    headers = [normalise(c) for c in lines[header_index]]
    original = [c.replace("\ufeff", "").strip() for c in lines[header_index]]
    spec = COLUMNS[kind]
    where: dict[str, int] = {}
    for target, names in spec.items():
        for name in names:
            if name in headers:
                where[target] = headers.index(name)
                break
    used = set(where.values())
    unmapped = [
        original[i]
        for i, h in enumerate(headers)
        if i not in used and h and h not in KNOWN_EXTRA and not _is_alternative(kind, h)
    ]
    if kind == "meta" and "external_id" not in where and "name" not in where:
        raise ImportRefused("the header must name Campaign name or Campaign ID")
    if kind == "google" and "external_id" not in where and "name" not in where:
        raise ImportRefused("the header must name Campaign or Campaign ID")
    if kind == "generic" and "external_id" not in where and "campaign_id" not in where:
        raise ImportRefused("the header must name external_id or campaign_id")
    stated = _stated_range(lines, header_index) if kind == "google" else None
    report = ParsedReport(kind, [], {}, unmapped, stated_range=stated)
    for index in range(header_index + 1, len(lines)):
        cells, line = lines[index], starts[index]
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(headers):
            raise ImportRefused(
                f"the row has {len(cells)} cells and the header {len(headers)}: every row has one "
                "cell per column",
                line=line,
            )
        if _is_total(kind, cells, where):
            report.skipped_total_rows += 1
            continue
        if len(report.rows) >= MAX_ROWS:
            raise ImportRefused(f"more than {MAX_ROWS:,} rows", line=line)
        report.rows.append(_row(kind, cells, where, original, line, report))
        report.lines.append(line)
    if not report.rows:
        raise ImportRefused("the file holds no data rows")
    assert report.date_from is not None and report.date_to is not None
    if (report.date_to - report.date_from).days >= MAX_SPAN_DAYS:
        raise ImportRefused(
            f"the file spans {report.date_from} to {report.date_to}: at most {MAX_SPAN_DAYS} days; "
            "import it in parts"
        )
    return report


def _is_alternative(kind: str, header: str) -> bool:
    """A header that names a target another present column already carries (Clicks (all) beside Link
    clicks, Results beside Purchases): understood, not unmapped."""
    return any(header in names for names in COLUMNS[kind].values())


def _is_total(kind: str, cells: list[str], where: dict[str, int]) -> bool:
    first = cells[0].strip().lower() if cells else ""
    if first.startswith("total"):
        return True
    name = _cell(cells, where.get("name")).strip()
    ident = _cell(cells, where.get("external_id") if kind != "generic" else None).strip()
    if kind == "google" and name.lower().startswith("total"):
        return True
    return kind == "meta" and not name and not ident  # Ads Manager's summary row


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def _row(
    kind: str,
    cells: list[str],
    where: dict[str, int],
    headers: list[str],
    line: int,
    report: ParsedReport,
) -> dict[str, Any]:
    def number(target: str, whole: bool) -> Decimal | None:
        index = where.get(target)
        if index is None:
            return None
        try:
            value = parse_number(_cell(cells, index))
        except ValueError as exc:
            raise ImportRefused(f"{exc.args[0]!r} is not a number", line, headers[index]) from None
        if value is not None and value < 0:
            raise ImportRefused("must not be negative", line, headers[index])
        if value is not None and value >= TOO_LARGE:
            raise ImportRefused("is too large (at most 10^15)", line, headers[index])
        if value is not None and whole and value != value.to_integral_value():
            if target != "conversions":
                raise ImportRefused("must be a whole number", line, headers[index])
            report.rounded_conversions += 1
            value = value.to_integral_value(ROUND_HALF_UP)
        return value

    def day(target: str) -> date:
        index = where[target]
        value = parse_date(_cell(cells, index))
        if value is None:
            raise ImportRefused(
                f"{_cell(cells, index)[:60]!r} is not a date (YYYY-MM-DD, or e.g. Nov 1, 2026)",
                line,
                headers[index],
            )
        return within_days(value, line, headers[index])

    def clean(text: str, target: str) -> None:
        if _CONTROL.search(text):
            raise ImportRefused(
                "holds a control character (tab and newline are the only ones a name may hold)",
                line,
                headers[where[target]] if target in where else None,
            )

    def within_days(value: date, line: int, column: str) -> date:
        latest = datetime.now(UTC).date() + timedelta(days=1)
        if not FIRST_DAY <= value <= latest:
            raise ImportRefused(
                f"{value} is not a day a report can hold: from {FIRST_DAY} to tomorrow ({latest})",
                line,
                column,
            )
        return value

    row: dict[str, Any] = {}
    if kind == "generic":
        for target in ("period_start", "period_end"):
            index = where[target]
            text = _cell(cells, index).strip()
            try:
                moment = parse_moment(text)
            except ValueError:
                raise ImportRefused(f"{text[:60]!r} {MOMENT_WORDS}", line, headers[index]) from None
            within_days(moment.date(), line, headers[index])
            row[target] = moment.isoformat()
        if "campaign_id" in where and _cell(cells, where["campaign_id"]).strip():
            text = _cell(cells, where["campaign_id"]).strip()
            try:
                row["campaign_id"] = str(uuid.UUID(text))
            except ValueError:
                raise ImportRefused(
                    f"{text[:60]!r} is not a campaign id (a UUID)",
                    line,
                    headers[where["campaign_id"]],
                ) from None
        else:
            key = _cell(cells, where.get("external_id")).strip()
            if not key:
                raise ImportRefused("is empty", line, headers[where["external_id"]])
            clean(key, "external_id")
            clean(_cell(cells, where.get("name")), "name")
            row["external_id"] = key
            report.campaigns.setdefault(key, _cell(cells, where.get("name")).strip() or key)
        first = datetime.fromisoformat(row["period_start"]).date()
        last = datetime.fromisoformat(row["period_end"]).date()
    else:
        if "day" in where:
            first = day("day")
            last = first + timedelta(days=1)
            if "starts" in where and "ends" in where:
                starts, ends = day("starts"), day("ends")
                if not starts <= first <= ends:
                    raise ImportRefused(
                        f"{first} is outside the reporting range {starts} – {ends}",
                        line,
                        headers[where["day"]],
                    )
        else:
            first = day("starts")
            last = day("ends") + timedelta(days=1)
            if last <= first:
                raise ImportRefused("ends before it starts", line, headers[where["ends"]])
        if report.stated_range and not (
            report.stated_range[0] <= first and last - timedelta(days=1) <= report.stated_range[1]
        ):
            a, b = report.stated_range
            raise ImportRefused(
                f"{first} is outside the report's range {a} – {b}", line, headers[where["day"]]
            )
        name = _cell(cells, where.get("name")).strip()
        key = _cell(cells, where.get("external_id")).strip() or name
        if not key:
            column = headers[where.get("external_id", where.get("name", 0))]
            raise ImportRefused("names no campaign", line, column)
        clean(name, "name")
        clean(key, "external_id" if "external_id" in where else "name")
        report.campaigns.setdefault(key, name or key)
        row["external_id"] = key
        row["period_start"] = datetime(first.year, first.month, first.day, tzinfo=UTC).isoformat()
        row["period_end"] = datetime(last.year, last.month, last.day, tzinfo=UTC).isoformat()
    for target, whole in (
        ("impressions", True),
        ("reach", True),
        ("clicks", True),
        ("conversions", True),
        ("spend", False),
        ("revenue", False),
    ):
        value = number(target, whole)
        if value is None:
            if target != "reach":
                row[target] = 0
            continue
        row[target] = int(value) if whole else str(value)
    report.date_from = min(first, report.date_from or first)
    report.date_to = max(last - timedelta(days=1), report.date_to or first)
    return row
