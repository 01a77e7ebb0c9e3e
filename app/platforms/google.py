"""Google Ads API (REST): one customer (10 digits), read with GAQL through ``googleAds:searchStream``.

- Credentials: an OAuth refresh token with its client id and secret, exchanged for an access token at
  GOOGLE_OAUTH_TOKEN_URL (again when the access token expires); the developer token and, for a client
  of a manager account, ``login-customer-id`` go with every request.
- The account: ``SELECT customer.descriptive_name, customer.currency_code, customer.time_zone FROM
  customer``; campaigns with their budget; metrics per campaign per ``segments.date`` (and
  ``segments.hour`` for one day). Money in micros (1,000,000 = one unit), ``conversions_value`` as
  revenue; a stream is a JSON array of batches, and an error may come inside it.
- Rate limits: ``RESOURCE_EXHAUSTED`` / ``RESOURCE_TEMPORARILY_EXHAUSTED`` wait its ``retryDelay``;
  ``UNAVAILABLE``, ``INTERNAL`` and 5xx back off; an expired or refused token
  (``OAUTH_TOKEN_EXPIRED`` after a refresh, ``invalid_grant``, a permission) refuses the credentials.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from app.core.guarded_fetch import GuardedFetcher
from app.platforms.base import (
    AccountInfo,
    BudgetObject,
    CampaignState,
    CredentialsRefused,
    InsightRow,
    MalformedAnswer,
    OutcomeUnknown,
    Pace,
    PlatformCampaign,
    PlatformError,
    Throttled,
    Unreachable,
    WriteRefused,
    count_of,
    day_of,
    decimal_of,
    fetch_json,
)

MICROS = Decimal(1_000_000)
ATTEMPTS = 5
THROTTLING = {"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"}
PASSING = {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "TRANSIENT_ERROR"}
REFUSED = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
DEFAULT_RETRY_SECONDS = 30.0
STATUS = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "completed"}

ACCOUNT_QUERY = (
    "SELECT customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer"
)
CAMPAIGNS_QUERY = (
    "SELECT campaign.id, campaign.name, campaign.status, campaign_budget.amount_micros, "
    "campaign_budget.explicitly_shared, campaign_budget.reference_count FROM campaign"
)
METRICS = (
    "campaign.id, campaign.name, metrics.cost_micros, metrics.impressions, metrics.clicks, "
    "metrics.conversions, metrics.conversions_value, segments.date"
)


def customer_id(value: str) -> str:
    """A customer id as the API takes it: 10 digits (dashes dropped)."""
    return value.replace("-", "")


class GoogleAdsClient:
    def __init__(
        self,
        fetcher: GuardedFetcher,
        pace: Pace,
        *,
        api_url: str,
        version: str,
        token_url: str,
        account_id: str,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        developer_token: str,
        login_customer_id: str | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.pace = pace
        self.customer = customer_id(account_id)
        self.customer_url = f"{api_url.rstrip('/')}/{version}/customers/{self.customer}"
        self.stream_url = f"{self.customer_url}/googleAds:searchStream"
        self.token_url = token_url
        self._grant = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self.developer_token = developer_token
        self.login_customer_id = customer_id(login_customer_id) if login_customer_id else None
        self._access_token: str | None = None

    async def _refresh(self) -> str:
        answer, body = await fetch_json(
            self.fetcher,
            self.pace,
            self.token_url,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            content=urlencode(self._grant).encode(),
            what="Google's OAuth token endpoint",
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status_code == 200 and isinstance(token, str) and token:
            self._access_token = token
            return token
        words = "no access token"
        if isinstance(body, dict):
            words = str(body.get("error_description") or body.get("error") or words)[:300]
        if answer.status_code in (400, 401, 403):
            raise CredentialsRefused(f"Google refused the refresh token: {words}")
        raise PlatformError(f"Google's OAuth token endpoint answered {answer.status_code}: {words}")

    async def _stream(self, query: str) -> list[dict[str, Any]]:
        """The rows of one GAQL query (every batch of the stream), with the retries and the refresh."""
        refreshed = False
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            token = self._access_token or await self._refresh()
            headers = {
                "Authorization": f"Bearer {token}",
                "developer-token": self.developer_token,
                "Content-Type": "application/json",
            }
            if self.login_customer_id:
                headers["login-customer-id"] = self.login_customer_id
            try:
                answer, body = await fetch_json(
                    self.fetcher,
                    self.pace,
                    self.stream_url,
                    method="POST",
                    headers=headers,
                    content=json.dumps({"query": query}).encode(),
                    what="the Google Ads API",
                )
            except Unreachable:
                if last:
                    raise
                await self.pace.retry(2.0**attempt, "the Google Ads API did not answer")
                continue
            error = _error_of(body)
            if error is None and answer.status_code == 200 and isinstance(body, list):
                return _results(body)
            if error is None:
                if answer.status_code >= 500 and not last:
                    await self.pace.retry(
                        2.0**attempt, f"the Google Ads API answered {answer.status_code}"
                    )
                    continue
                raise MalformedAnswer(
                    f"the Google Ads API answered {answer.status_code} without a stream"
                )
            status, codes, words, delay = error
            if "OAUTH_TOKEN_EXPIRED" in codes and not refreshed:
                refreshed = True
                await self._refresh()
                continue
            if status in REFUSED or codes & {"OAUTH_TOKEN_EXPIRED", "USER_PERMISSION_DENIED"}:
                raise CredentialsRefused(
                    f"Google refused the credentials: {words} ({', '.join(sorted(codes)) or status})"
                )
            if (status in THROTTLING or codes & THROTTLING) and not last:
                await self.pace.wait(
                    delay or DEFAULT_RETRY_SECONDS * attempt,
                    f"Google throttled the customer ({status})",
                )
                continue
            if (status in PASSING or answer.status_code >= 500) and not last:
                await self.pace.retry(
                    2.0**attempt, f"Google failed for a moment: {words} ({status})"
                )
                continue
            raise PlatformError(f"Google Ads: {words} ({status})")
        raise PlatformError("the Google Ads API kept failing")

    # -- the interface --------------------------------------------------------------------------------

    async def read_account(self) -> AccountInfo:
        rows = await self._stream(ACCOUNT_QUERY)
        customer = rows[0].get("customer") if rows else None
        if not isinstance(customer, dict):
            raise MalformedAnswer("Google's customer answer has no customer")
        currency, timezone = customer.get("currencyCode"), customer.get("timeZone")
        if not isinstance(currency, str) or not isinstance(timezone, str):
            raise MalformedAnswer("Google's customer answer has no currency_code or time_zone")
        return AccountInfo(str(customer.get("descriptiveName") or ""), currency, timezone)

    async def campaigns(self) -> list[PlatformCampaign]:
        found = []
        for row in await self._stream(CAMPAIGNS_QUERY):
            campaign = _object(row, "campaign", "a Google campaign row")
            cid = _campaign_id(campaign)
            budget = row.get("campaignBudget")
            amount = budget.get("amountMicros") if isinstance(budget, dict) else None
            status = str(campaign.get("status") or "UNKNOWN")
            shared = _shared(budget)
            found.append(
                PlatformCampaign(
                    cid,
                    str(campaign.get("name") or cid),
                    STATUS.get(status, "paused"),
                    status,
                    None
                    if amount is None
                    else decimal_of(amount, f"campaign {cid} amount_micros") / MICROS,
                    shared,
                )
            )
        return found

    async def read_campaign(self, external_id: str) -> CampaignState:
        if not external_id.isdigit():
            raise MalformedAnswer(f"{external_id[:40]!r} is not a Google campaign id")
        query = (
            f"{CAMPAIGNS_QUERY}, campaign_budget.resource_name WHERE campaign.id = {external_id}"
        )
        rows = await self._stream(query)
        if not rows:
            raise WriteRefused(
                f"Google Ads has no campaign {external_id} in customer {self.customer}"
            )
        campaign = _object(rows[0], "campaign", "a Google campaign row")
        budget = rows[0].get("campaignBudget")
        status = str(campaign.get("status") or "UNKNOWN")
        budgets: tuple[BudgetObject, ...] = ()
        if isinstance(budget, dict) and budget.get("amountMicros") is not None:
            amount = (
                decimal_of(budget["amountMicros"], f"campaign {external_id} amount_micros") / MICROS
            )
            budgets = (
                BudgetObject(str(budget.get("resourceName") or ""), "campaign_budget", amount),
            )
        total = budgets[0].amount if budgets else None
        return CampaignState(STATUS.get(status, "paused"), status, total, budgets, _shared(budget))

    async def set_status(self, external_id: str, status: str) -> None:
        word = self.status_word(status)
        resource = f"customers/{self.customer}/campaigns/{external_id}"
        await self._mutate("campaigns", "status", {"resourceName": resource, "status": word})

    async def set_budget(self, budget: BudgetObject, amount: Decimal) -> None:
        micros = str(int((amount * MICROS).to_integral_value()))
        await self._mutate(
            "campaignBudgets", "amountMicros", {"resourceName": budget.id, "amountMicros": micros}
        )

    def status_word(self, status: str) -> str:
        return {"paused": "PAUSED", "active": "ENABLED"}[status]

    def budget_step(self) -> Decimal:
        return Decimal("0.01")

    async def _mutate(self, resource: str, mask: str, update: dict[str, Any]) -> None:
        """One mutate: tried again only on a quota answer (nothing changed); no answer, a 5xx or an
        internal error is an unknown outcome."""
        body = json.dumps({"operations": [{"updateMask": mask, "update": update}]}).encode()
        for attempt in range(1, ATTEMPTS + 1):
            token = self._access_token or await self._refresh()
            headers = {
                "Authorization": f"Bearer {token}",
                "developer-token": self.developer_token,
                "Content-Type": "application/json",
            }
            if self.login_customer_id:
                headers["login-customer-id"] = self.login_customer_id
            try:
                answer, reply = await fetch_json(
                    self.fetcher,
                    self.pace,
                    f"{self.customer_url}/{resource}:mutate",
                    method="POST",
                    headers=headers,
                    content=body,
                    what="the Google Ads API",
                )
            except Unreachable as exc:
                raise OutcomeUnknown(f"the write got no answer ({exc})") from None
            error = _error_of(reply)
            if error is None and answer.status_code == 200:
                if isinstance(reply, dict) and reply.get("partialFailureError"):
                    raise WriteRefused(
                        f"Google Ads refused the change: {reply['partialFailureError']}"
                    )
                return
            if error is None or answer.status_code >= 500:
                raise OutcomeUnknown(f"the write was answered {answer.status_code}")
            status, codes, words, delay = error
            if "OAUTH_TOKEN_EXPIRED" in codes and attempt == 1:
                await self._refresh()
                continue
            if status in REFUSED or codes & {"OAUTH_TOKEN_EXPIRED", "USER_PERMISSION_DENIED"}:
                raise CredentialsRefused(f"Google refused the credentials: {words}")
            if status in THROTTLING or codes & THROTTLING:
                wait = delay or DEFAULT_RETRY_SECONDS * attempt
                if attempt == ATTEMPTS:
                    raise Throttled(f"Google kept throttling the write ({status})", wait)
                await self.pace.wait(wait, f"Google throttled the customer ({status})")
                continue
            if status in PASSING:
                raise OutcomeUnknown(
                    f"Google answered the write with a passing error: {words} ({status})"
                )
            raise WriteRefused(
                f"Google Ads refused the change: {words} ({', '.join(sorted(codes)) or status})"
            )
        raise PlatformError("the Google Ads API kept throttling the write")

    async def insights(self, since: date, until: date, hourly_day: date | None) -> list[InsightRow]:
        rows: list[InsightRow] = []
        if until >= since:
            # GAQL, not SQL: the days are date objects, printed as YYYY-MM-DD
            query = f"SELECT {METRICS} FROM campaign WHERE segments.date BETWEEN '{since}' AND '{until}'"  # noqa: S608
            rows += [_insight(r, since, until, hourly=False) for r in await self._stream(query)]
        if hourly_day is not None:
            query = f"SELECT {METRICS}, segments.hour FROM campaign WHERE segments.date = '{hourly_day}'"  # noqa: S608
            rows += [
                _insight(r, hourly_day, hourly_day, hourly=True) for r in await self._stream(query)
            ]
        return rows


def _shared(budget: Any) -> bool:
    """A budget other campaigns share (explicitly, or by reference)."""
    if not isinstance(budget, dict):
        return False
    try:
        references = int(str(budget.get("referenceCount") or "1"))
    except ValueError:
        references = 1
    return budget.get("explicitlyShared") is True or references > 1


def _error_of(body: Any) -> tuple[str, set[str], str, float] | None:
    """(status, error codes, words, retry delay in seconds) of an error answer, or None."""
    error = body.get("error") if isinstance(body, dict) else None
    if error is None and isinstance(body, list):
        error = next((b.get("error") for b in body if isinstance(b, dict) and b.get("error")), None)
    if not isinstance(error, dict):
        return None
    codes: set[str] = set()
    delay = 0.0
    words = str(error.get("message") or "an error")[:300]
    for detail in error.get("details") or []:
        for failure in (detail.get("errors") or []) if isinstance(detail, dict) else []:
            if not isinstance(failure, dict):
                continue
            code = failure.get("errorCode")
            if isinstance(code, dict):
                codes |= {str(v) for v in code.values()}
            words = str(failure.get("message") or words)[:300]
            details = failure.get("details")
            quota = details.get("quotaErrorDetails") if isinstance(details, dict) else None
            if isinstance(quota, dict):
                delay = max(delay, _seconds(quota.get("retryDelay")))
    return str(error.get("status") or ""), codes, words, delay


def _seconds(value: Any) -> float:
    """A protobuf Duration in JSON (``"8962s"``, ``"1.5s"``)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(value or ""))
    return float(match.group(1)) if match else 0.0


def _results(batches: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for batch in batches:
        if not isinstance(batch, dict):
            raise MalformedAnswer("a Google stream batch is not an object")
        results = batch.get("results", [])
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise MalformedAnswer("a Google stream batch has results that are not a list of rows")
        rows += results
    return rows


def _object(row: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    value = row.get(key)
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{what} has no {key}")
    return value


def _campaign_id(campaign: dict[str, Any]) -> str:
    cid = campaign.get("id")
    if not isinstance(cid, str | int) or not str(cid).isdigit():
        raise MalformedAnswer(f"a Google campaign has no numeric id ({str(cid)[:40]!r})")
    return str(cid)


def _insight(row: dict[str, Any], since: date, until: date, *, hourly: bool) -> InsightRow:
    campaign = _object(row, "campaign", "a Google metrics row")
    cid = _campaign_id(campaign)
    what = f"campaign {cid}"
    metrics = row.get("metrics") or {}
    segments = _object(row, "segments", what)
    if not isinstance(metrics, dict):
        raise MalformedAnswer(f"{what} metrics is not an object")
    day = day_of(segments.get("date"), f"{what} segments.date")
    if not since <= day <= until:
        raise MalformedAnswer(
            f"{what}: the day {day} is outside the range read ({since} to {until})"
        )
    hour = None
    if hourly:
        hour = count_of(segments.get("hour"), f"{what} segments.hour")
        if hour > 23:
            raise MalformedAnswer(f"{what}: segments.hour {hour} is not an hour of the day")
    return InsightRow(
        external_id=cid,
        title=str(campaign.get("name") or cid),
        day=day,
        hour=hour,
        impressions=count_of(metrics.get("impressions", 0), f"{what} impressions"),
        reach=None,
        clicks=count_of(metrics.get("clicks", 0), f"{what} clicks"),
        conversions=count_of(metrics.get("conversions", 0), f"{what} conversions"),
        spend=decimal_of(metrics.get("costMicros", 0), f"{what} cost_micros") / MICROS,
        revenue=decimal_of(metrics.get("conversionsValue", 0), f"{what} conversions_value"),
    )
