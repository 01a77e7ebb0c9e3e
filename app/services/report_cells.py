"""How one cell of an exported report is read (app/services/report_parsing.py reads the report's shape):
the file's text encoding, a header without its currency, a day in the formats the platforms write, a
number with thousands separators and currency symbols; and the refusal every failure ends in."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_CURRENCY = re.compile(r"\s*\((?:[A-Z]{3}|[^\w\s]{1,3})\)\s*$")
_NUMBER_JUNK = re.compile(r"[\s\u00a0\u202f$€£¥₹,]|US\$|[A-Z]{3}")
DATE_FORMATS = ("%Y-%m-%d", "%b %d, %Y", "%B %d, %Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d")


class ImportRefused(ValueError):
    """A file that cannot be imported: where (line, column) and why."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None) -> None:
        self.line = line
        self.column = column
        self.reason = message
        where = ", ".join(
            p for p in (f"line {line}" if line else "", f"column {column!r}" if column else "") if p
        )
        super().__init__(f"{where}: {message}" if where else message)

    @property
    def field(self) -> str:
        parts = ["file"]
        if self.line:
            parts.append(f"line {self.line}")
        if self.column:
            parts.append(self.column)
        return ".".join(parts) if len(parts) == 1 else f"{parts[0]}[{', '.join(parts[1:])}]"


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportRefused(
                "the file starts as UTF-16 text but is not: it ends inside a character or holds an "
                "unpaired surrogate"
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("the file is not UTF-8 or UTF-16 text") from None


def normalise(header: str) -> str:
    return _CURRENCY.sub("", header.replace("\ufeff", "").strip()).strip().lower()


def parse_date(text: str) -> date | None:
    value = text.strip().strip('"')
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def parse_number(text: str) -> Decimal | None:
    """'1,234.56', '$1,234.56', 'US$12', '--', '' → a Decimal, or None for empty. Plain decimals only:
    an exponent or anything else a report never writes is refused."""
    value = text.strip()
    if value in ("", "--", "-", "—", "N/A", "n/a"):
        return None
    cleaned = _NUMBER_JUNK.sub("", value)
    if not _PLAIN_NUMBER.fullmatch(cleaned) or len(cleaned) > 40:
        raise ValueError(value[:60])
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(value[:60]) from None
