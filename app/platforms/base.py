"""What every ad platform client offers, and the outcomes a sync acts on.

A client reads one ad account: the account itself (name, currency, time zone), its campaigns (title,
status and budget as the platform has them), and its insights per campaign for a range of the account's
days (and per hour for one day). The next issue adds applying a change. Money is ``Decimal``, never a
float; a day is the account's own day. A third platform is one more module beside meta.py and google.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Protocol

from app.core.guarded_fetch import Fetched, FetchRefused, GuardedFetcher

# How long a sync may wait out a rate limit in one go; a longer wait ends the sync (failed, to be
# tried again when the platform allows).
MAX_WAIT_SECONDS = 900.0


@dataclass(frozen=True)
class AccountInfo:
    name: str
    currency: str
    timezone: str


@dataclass(frozen=True)
class PlatformCampaign:
    external_id: str
    title: str
    status: str  # active | paused | completed
    platform_status: str  # the platform's own word (ACTIVE, PAUSED, ENABLED, REMOVED, ...)
    daily_budget: Decimal | None  # None: no daily budget (a lifetime one, or none at all)
    budget_shared: bool = False  # a Google budget other campaigns share: never changed for one


@dataclass(frozen=True)
class InsightRow:
    """One campaign's figures for one of the account's days (or one hour of it)."""

    external_id: str
    title: str
    day: date
    hour: int | None
    impressions: int
    reach: int | None
    clicks: int
    conversions: int
    spend: Decimal
    revenue: Decimal


@dataclass(frozen=True)
class BudgetObject:
    """Where (part of) a campaign's daily budget lives on its platform: the campaign itself, one of its
    Meta ad sets, or its Google campaign budget (a resource name)."""

    id: str
    level: str  # campaign | adset | campaign_budget
    amount: Decimal


@dataclass(frozen=True)
class CampaignState:
    """A campaign as its platform has it now: what a change is checked against before it is written."""

    status: str  # active | paused | completed
    platform_status: str
    daily_budget: Decimal | None  # the sum of its budget objects; None: no daily budget
    budgets: tuple[BudgetObject, ...] = ()
    shared: bool = False  # a Google budget other campaigns share


class PlatformError(Exception):
    """The platform refused or failed; the message is the platform's own words (never a secret)."""


class CredentialsRefused(PlatformError):
    """The credentials are expired, revoked or lack permission: the account needs a person."""


class Throttled(PlatformError):
    """The platform asks to wait longer than a sync waits: try again at ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MalformedAnswer(PlatformError):
    """An answer of an unexpected shape, a number that does not parse, a day outside the range."""


class Unreachable(PlatformError):
    """No answer came (refused, reset, timed out): a read may be tried again."""


class WriteRefused(PlatformError):
    """The platform refused a write with an answer that proves nothing changed (its own words)."""


class OutcomeUnknown(PlatformError):
    """A write was sent and no answer says whether it took: never sent again without reading first."""


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Pace:
    """What a client spent and waited during one sync (recorded with the sync). ``wait`` is a wait the
    platform asks for (its rate limits); ``retry`` one before trying a passing failure again. Past
    ``max_wait`` neither waits: the first is Throttled, the second Unreachable."""

    sleep: Sleep
    max_wait: float = MAX_WAIT_SECONDS
    requests: int = 0
    throttled_seconds: float = 0.0
    waits: list[float] = field(default_factory=list)

    async def wait(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait:
            raise Throttled(f"{why}; the platform asks to wait {seconds:.0f} s", seconds)
        self.waits.append(seconds)
        self.throttled_seconds += seconds
        await self.sleep(seconds)

    async def retry(self, seconds: float, why: str) -> None:
        if seconds > self.max_wait:
            raise Unreachable(why)
        self.waits.append(seconds)
        await self.sleep(seconds)


class PlatformClient(Protocol):
    pace: Pace

    async def read_account(self) -> AccountInfo: ...

    async def campaigns(self) -> list[PlatformCampaign]: ...

    async def insights(self, since: date, until: date, hourly_day: date | None) -> list[InsightRow]:
        """Daily rows for ``since``..``until`` (the account's days; none when ``until`` < ``since``)
        and, when ``hourly_day`` is given, that day's rows per hour."""
        ...

    async def read_campaign(self, external_id: str) -> CampaignState: ...

    async def set_status(self, external_id: str, status: str) -> None:
        """Pause (``paused``) or resume (``active``) a campaign."""
        ...

    async def set_budget(self, budget: BudgetObject, amount: Decimal) -> None: ...

    def status_word(self, status: str) -> str:
        """The platform's word for the engine's ``active`` or ``paused``."""
        ...

    def budget_step(self) -> Decimal:
        """The smallest unit a budget is set in (a cent, or one unit of a zero-decimal currency)."""
        ...


def decimal_of(value: Any, what: str) -> Decimal:
    """A platform's number (a string, an int, or a float-free JSON number) as an exact Decimal."""
    if isinstance(value, bool) or value is None:
        raise MalformedAnswer(f"{what}: {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MalformedAnswer(f"{what}: {str(value)[:40]!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise MalformedAnswer(f"{what}: {str(value)[:40]!r} is not a number >= 0")
    return number


def count_of(value: Any, what: str) -> int:
    """A count; a fractional one (Google's data-driven conversions) to the nearest whole number."""
    number = decimal_of(value, what)
    return int(number.to_integral_value(rounding=ROUND_HALF_EVEN))


def day_of(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MalformedAnswer(f"{what}: {str(value)[:40]!r} is not a day (YYYY-MM-DD)") from None


async def fetch_json(
    fetcher: GuardedFetcher,
    pace: Pace,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    what: str,
) -> tuple[Fetched, Any]:
    """One request through the guarded fetcher, counted; the body parsed with exact decimals."""
    pace.requests += 1
    try:
        answer = await fetcher.fetch(
            url, method=method, headers=headers, content=content, follow_redirects=False, what=what
        )
    except FetchRefused as exc:
        raise Unreachable(str(exc)) from None
    try:
        body = json.loads(answer.content, parse_float=Decimal) if answer.content else None
    except ValueError:
        raise MalformedAnswer(
            f"{what} answered {answer.status_code} with a body that is not JSON"
        ) from None
    return answer, body
