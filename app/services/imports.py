"""Importing a daily campaign report: the rows read by app/services/report_parsing.py (off the event
loop: a large file never holds up other requests) go through ``import_campaign_report`` (campaigns
created on first sight, then the one ingestion function) in the caller's transaction, all or nothing;
a refusal of the database names the row's line in the file."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from app.db import queries
from app.db.retry import in_savepoint
from app.models.backtests import ImportReport
from app.services.report_cells import ImportRefused
from app.services.report_parsing import (
    FORMATS,
    ImportFormat,
    ParsedReport,
    parse_report,
)

__all__ = ["FORMATS", "ImportFormat", "ImportRefused", "import_report", "parse_report"]

CHUNK_ROWS = 5000
_ROW_FIELD = re.compile(r"^rows\[(\d+)\](?:\.(\w+))?$")


async def import_report(
    conn: asyncpg.Connection,
    data: bytes,
    fmt: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Parse a report (in a thread) and write it through ``import_campaign_report`` in chunks, inside
    the caller's transaction (all or nothing; a conflict with concurrent work is retried once); a
    database refusal of a row names its line in the file."""
    parsed = await asyncio.to_thread(parse_report, data, fmt)
    for key in parsed.campaigns:
        if len(key) > 200:
            raise ImportRefused("a campaign id or name longer than 200 characters", column=key[:40])
    total = await in_savepoint(conn, lambda: _write(conn, parsed, progress))
    return ImportReport(
        format=parsed.format,
        rows=total["rows"],
        campaigns=total["campaigns"],
        campaigns_created=total["campaigns_created"],
        date_from=datetime.combine(parsed.date_from, datetime.min.time(), UTC)
        if parsed.date_from
        else None,
        date_to=datetime.combine(parsed.date_to, datetime.min.time(), UTC) + timedelta(days=1)
        if parsed.date_to
        else None,
        unmapped_columns=parsed.unmapped_columns,
        skipped_total_rows=parsed.skipped_total_rows,
        rounded_conversions=parsed.rounded_conversions,
    )


async def _write(
    conn: asyncpg.Connection, parsed: ParsedReport, progress: Callable[[int, int], None] | None
) -> dict[str, int]:
    campaigns = [{"external_id": k, "title": v} for k, v in parsed.campaigns.items()]
    total = {"rows": 0, "campaigns_created": 0}
    touched: set[str] = set()
    for start in range(0, len(parsed.rows), CHUNK_ROWS):
        chunk = parsed.rows[start : start + CHUNK_ROWS]
        keys = {r.get("external_id") for r in chunk}
        named = [c for c in campaigns if c["external_id"] in keys]
        rows_json = await asyncio.to_thread(json.dumps, chunk)
        try:
            done = await conn.fetchval(queries.IMPORT_REPORT, json.dumps(named), rows_json)
        except asyncpg.PostgresError as exc:
            raise _refusal(exc, parsed, start) from None
        total["rows"] += int(done["rows"])
        total["campaigns_created"] += int(done["campaigns_created"])
        touched |= {str(k) for k in keys if k}
        if progress is not None:
            progress(min(start + CHUNK_ROWS, len(parsed.rows)), len(parsed.rows))
    total["campaigns"] = len(
        touched | {r["campaign_id"] for r in parsed.rows if "campaign_id" in r}
    )
    return total


def _refusal(exc: asyncpg.PostgresError, parsed: ParsedReport, offset: int) -> Exception:
    """A database refusal of a row, said with the row's line in the file."""
    if exc.sqlstate != "AO422":
        unchanged: Exception = exc
        return unchanged
    try:
        detail = json.loads(getattr(exc, "detail", None) or "{}")
    except ValueError:
        detail = {}
    match = _ROW_FIELD.match(str(detail.get("field", "")))
    if not match:
        return ImportRefused(f"{detail.get('field', 'file')}: {detail.get('message') or exc}")
    index = offset + int(match[1])
    line = parsed.lines[index] if index < len(parsed.lines) else None
    return ImportRefused(str(detail.get("message") or exc), line, str(match[2] or "") or None)
