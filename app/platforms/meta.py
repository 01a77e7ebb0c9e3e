"""Meta Marketing API: one ad account (``act_<digits>``), read through the Graph API.

- The account: ``GET /act_{id}?fields=name,currency,timezone_name,account_status``.
- Campaigns: ``GET /act_{id}/campaigns``; a campaign without a budget of its own has its ad sets'
  (``GET /{campaign_id}/adsets``, the active ones summed). Budgets come in the currency's minor units
  (offset 100, or 1 for a zero-decimal currency).
- Insights: ``GET /act_{id}/insights?level=campaign&time_increment=1``, cursor paging (``paging.next``
  followed to its end); a large read is an async report run (``POST`` the same parameters, poll
  ``async_status``, read its rows). One purchase action type counted once (the first of
  ``purchase_types`` a row carries), revenue from ``action_values`` of that type. Hours come from
  ``breakdowns=hourly_stats_aggregated_by_advertiser_time_zone``.
- Rate limits: the usage headers are read on every answer and the sync slows before the limit (2 minutes
  at 85 %, 10 minutes at 95 %, as the connectors the fixtures come from do, or the time Meta names);
  codes 4, 17, 32, 613 and 80000-80014 back off and retry; a 200 with an ``error`` body is an error;
  code 190 (and 10, 200: a permission) refuses the credentials.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from app.core.guarded_fetch import Fetched, GuardedFetcher
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
from app.platforms.meta_answers import (
    action_value,
    hour_of,
    minor_amount,
    minor_units_offset,
    status_of,
    usage_of,
)

THROTTLING_CODES = {4, 17, 32, 613, *range(80000, 80015)}
CREDENTIAL_CODES = {10, 190, 200}
TRANSIENT_CODES = {1, 2}
INSIGHT_FIELDS = "campaign_id,campaign_name,spend,impressions,reach,clicks,actions,action_values"
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
PAGE = 500
ATTEMPTS = 5
# Slow down before the limit: (usage %, seconds to wait), highest first.
USAGE_WAITS = ((95.0, 600.0), (85.0, 120.0))
THROTTLE_BACKOFF_SECONDS = 60.0


class MetaClient:
    def __init__(
        self,
        fetcher: GuardedFetcher,
        pace: Pace,
        *,
        graph_url: str,
        version: str,
        account_id: str,
        token: str,
        currency: str = "USD",
        purchase_types: tuple[str, ...] = ("purchase", "omni_purchase"),
        async_rows: int = 10_000,
        poll_seconds: float = 5.0,
        polls: int = 720,
    ) -> None:
        self.fetcher = fetcher
        self.pace = pace
        self.base = f"{graph_url.rstrip('/')}/{version}"
        self.account_id = account_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.currency = currency
        self.purchase_types = purchase_types
        self.async_rows = async_rows
        self.poll_seconds = poll_seconds
        self.polls = polls
        self.campaign_count = 0

    # -- requests -------------------------------------------------------------------------------------

    async def _call(
        self, url: str, *, form: dict[str, str] | None = None, write: bool = False
    ) -> dict[str, Any]:
        """One Graph call, paced by the usage headers, with the backoffs and the platform's words. A
        write is tried again only on an answer that proves nothing changed (a throttling code); no
        answer, a 5xx or a transient error after a write is an unknown outcome."""
        headers = dict(self.headers)
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        content = urlencode(form).encode() if form is not None else None
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                answer, body = await fetch_json(
                    self.fetcher,
                    self.pace,
                    url,
                    method="GET" if form is None else "POST",
                    headers=headers,
                    content=content,
                    what="the Meta Graph API",
                )
            except Unreachable as exc:
                if write:
                    raise OutcomeUnknown(f"the write got no answer ({exc})") from None
                if last:
                    raise
                await self.pace.retry(2.0**attempt, "the Meta Graph API did not answer")
                continue
            highest, regain = usage_of(answer.headers)
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                if write:
                    self._refuse_write(error, answer)
                await self._back_off(error, answer, attempt, regain)
                continue
            if write and answer.status_code >= 500:
                raise OutcomeUnknown(f"the write was answered {answer.status_code}")
            if answer.status_code >= 500 and not last:
                await self.pace.retry(
                    2.0**attempt, f"the Meta Graph API answered {answer.status_code}"
                )
                continue
            if answer.status_code != 200 or not isinstance(body, dict):
                raise PlatformError(
                    f"the Meta Graph API answered {answer.status_code} without data"
                )
            await self._slow_down(highest, regain)
            return body
        raise PlatformError("the Meta Graph API kept failing")

    def _refuse_write(self, error: dict[str, Any], answer: Fetched) -> None:
        """A write's error: a refusal that proves nothing changed (raised), or a throttling (returns, to
        be waited out and tried again)."""
        code = error.get("code")
        words = str(error.get("error_user_msg") or error.get("message") or "an error")[:500]
        subcode = error.get("error_subcode")
        if code in THROTTLING_CODES:
            return
        if code in CREDENTIAL_CODES:
            raise CredentialsRefused(f"Meta refused the credentials: {words} (code {code})")
        if error.get("is_transient") or code in TRANSIENT_CODES or answer.status_code >= 500:
            raise OutcomeUnknown(
                f"Meta answered the write with a passing error: {words} (code {code})"
            )
        raise WriteRefused(
            f"Meta refused the change: {words} (code {code}"
            + (f", subcode {subcode})" if subcode else ")")
        )

    async def _slow_down(self, highest: float, regain: float) -> None:
        if regain > 0:
            await self.pace.wait(regain, "Meta names a time to regain access")
            return
        for threshold, seconds in USAGE_WAITS:
            if highest >= threshold:
                await self.pace.wait(seconds, f"Meta usage at {highest:.0f} %")
                return

    async def _back_off(
        self, error: dict[str, Any], answer: Fetched, attempt: int, regain: float
    ) -> None:
        """Waits out a throttling or a passing failure; raises for anything else (and at the last try)."""
        code = error.get("code")
        words = str(error.get("error_user_msg") or error.get("message") or "an error")[:500]
        if code in CREDENTIAL_CODES:
            raise CredentialsRefused(f"Meta refused the credentials: {words} (code {code})")
        throttled = code in THROTTLING_CODES
        if not throttled and not (
            error.get("is_transient") or code in TRANSIENT_CODES or answer.status_code >= 500
        ):
            raise PlatformError(f"Meta: {words} (code {code})")
        wait = regain or THROTTLE_BACKOFF_SECONDS * 2 ** (attempt - 1)
        if attempt == ATTEMPTS:
            if throttled:
                raise Throttled(f"Meta kept throttling: {words} (code {code})", wait)
            raise PlatformError(f"Meta kept failing: {words} (code {code})")
        if throttled:
            await self.pace.wait(wait, f"Meta throttled the account (code {code})")
        else:
            await self.pace.retry(2.0**attempt, f"Meta failed for a moment: {words} (code {code})")

    def _url(self, path: str, params: dict[str, Any]) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)
        return f"{self.base}/{path}" + (f"?{query}" if query else "")

    async def _pages(self, url: str) -> list[dict[str, Any]]:
        """Every row of a paged edge: ``paging.next`` is followed to its end."""
        rows: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            body = await self._call(next_url)
            data = body.get("data")
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise MalformedAnswer("a Meta page has no data list of objects")
            rows += data
            paging = body.get("paging")
            following = paging.get("next") if isinstance(paging, dict) else None
            next_url = following if isinstance(following, str) and following else None
        return rows

    # -- the interface --------------------------------------------------------------------------------

    async def read_account(self) -> AccountInfo:
        body = await self._call(
            self._url(self.account_id, {"fields": "name,currency,timezone_name,account_status"})
        )
        currency, timezone = body.get("currency"), body.get("timezone_name")
        if not isinstance(currency, str) or not isinstance(timezone, str):
            raise MalformedAnswer("Meta's account answer has no currency or timezone_name")
        self.currency = currency
        return AccountInfo(str(body.get("name") or self.account_id), currency, timezone)

    def _money(self, minor: Any, what: str) -> Decimal:
        return decimal_of(minor, what) / minor_units_offset(self.currency)

    async def campaigns(self) -> list[PlatformCampaign]:
        fields = "id,name,status,effective_status,daily_budget,lifetime_budget,updated_time"
        rows = await self._pages(
            self._url(f"{self.account_id}/campaigns", {"fields": fields, "limit": PAGE})
        )
        found = []
        for row in rows:
            cid = row.get("id")
            if not isinstance(cid, str) or not cid.isdigit():
                raise MalformedAnswer(f"a Meta campaign has no numeric id ({str(cid)[:40]!r})")
            found.append(
                PlatformCampaign(
                    cid,
                    str(row.get("name") or cid),
                    status_of(row),
                    str(row.get("status") or "UNKNOWN"),
                    await self._budget(cid, row),
                )
            )
        self.campaign_count = len(found)
        return found

    async def _budget(self, cid: str, row: dict[str, Any]) -> Decimal | None:
        what = f"campaign {cid}"
        if row.get("daily_budget") not in (None, "", "0"):
            return self._money(row["daily_budget"], f"{what} daily_budget")
        if row.get("lifetime_budget") not in (None, "", "0"):
            return None
        adsets = await self._pages(
            self._url(f"{cid}/adsets", {"fields": "id,status,daily_budget", "limit": PAGE})
        )
        live = [
            a
            for a in adsets
            if a.get("status") == "ACTIVE" and a.get("daily_budget") not in (None, "")
        ]
        if not live:
            return None
        return sum(
            (
                self._money(a["daily_budget"], f"{what} ad set {a.get('id')} daily_budget")
                for a in live
            ),
            Decimal(0),
        )

    async def insights(self, since: date, until: date, hourly_day: date | None) -> list[InsightRow]:
        rows: list[InsightRow] = []
        if until >= since:
            raw = await self._insight_rows(since, until, hourly=False)
            rows += [self._row(r, since, until, hourly=False) for r in raw]
        if hourly_day is not None:
            raw = await self._insight_rows(hourly_day, hourly_day, hourly=True)
            rows += [self._row(r, hourly_day, hourly_day, hourly=True) for r in raw]
        return rows

    async def _insight_rows(
        self, since: date, until: date, *, hourly: bool
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "level": "campaign",
            "time_increment": 1,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "fields": INSIGHT_FIELDS,
            "breakdowns": HOURLY if hourly else None,
        }
        expected = ((until - since).days + 1) * (24 if hourly else 1) * self.campaign_count
        if expected <= self.async_rows:
            return await self._pages(
                self._url(f"{self.account_id}/insights", {**params, "limit": PAGE})
            )
        form = {k: str(v) for k, v in params.items() if v is not None}
        started = await self._call(f"{self.base}/{self.account_id}/insights", form=form)
        run = started.get("report_run_id")
        if not isinstance(run, str | int) or not str(run).isdigit():
            raise MalformedAnswer("Meta's async report answer has no report_run_id")
        for _ in range(self.polls):
            job = await self._call(self._url(str(run), {}))
            status = job.get("async_status")
            if status == "Job Completed":
                return await self._pages(self._url(f"{run}/insights", {"limit": PAGE}))
            if status in ("Job Failed", "Job Skipped"):
                raise PlatformError(
                    f"Meta's report run {run} ended as {status!r}; the sync will try again"
                )
            await self.pace.sleep(self.poll_seconds)
        raise PlatformError(
            f"Meta's report run {run} did not complete in time; the sync will try again"
        )

    def _row(self, row: dict[str, Any], since: date, until: date, *, hourly: bool) -> InsightRow:
        cid = row.get("campaign_id")
        if not isinstance(cid, str) or not cid:
            raise MalformedAnswer("a Meta insights row has no campaign_id")
        what = f"campaign {cid}"
        day = day_of(row.get("date_start"), f"{what} date_start")
        if not since <= day <= until or row.get("date_stop", row.get("date_start")) != row.get(
            "date_start"
        ):
            raise MalformedAnswer(
                f"{what}: the day {str(row.get('date_start'))[:20]} is outside the range read ({since} to {until})"
            )
        hour = hour_of(row.get(HOURLY), what) if hourly else None
        kind = self._purchase_type(row.get("actions"), what)
        return InsightRow(
            external_id=cid,
            title=str(row.get("campaign_name") or cid),
            day=day,
            hour=hour,
            impressions=count_of(row.get("impressions", 0), f"{what} impressions"),
            reach=None
            if hourly or row.get("reach") is None
            else count_of(row["reach"], f"{what} reach"),
            clicks=count_of(row.get("clicks", 0), f"{what} clicks"),
            conversions=count_of(
                action_value(row.get("actions"), kind, f"{what} actions"), f"{what} actions"
            ),
            spend=decimal_of(row.get("spend", 0), f"{what} spend"),
            revenue=action_value(row.get("action_values"), kind, f"{what} action_values"),
        )

    # -- writing: read first, then one object at a time ------------------------------------------------

    async def read_campaign(self, external_id: str) -> CampaignState:
        row = await self._call(
            self._url(
                external_id, {"fields": "id,status,effective_status,daily_budget,lifetime_budget"}
            )
        )
        what = f"campaign {external_id}"
        budgets: tuple[BudgetObject, ...] = ()
        if row.get("daily_budget") not in (None, "", "0"):
            budgets = (
                BudgetObject(external_id, "campaign", self._money(row["daily_budget"], what)),
            )
        elif row.get("lifetime_budget") in (None, "", "0"):
            adsets = await self._pages(
                self._url(
                    f"{external_id}/adsets", {"fields": "id,status,daily_budget", "limit": PAGE}
                )
            )
            budgets = tuple(
                BudgetObject(
                    str(a.get("id")), "adset", self._money(a["daily_budget"], f"{what} ad set")
                )
                for a in adsets
                if a.get("status") == "ACTIVE" and a.get("daily_budget") not in (None, "")
            )
        total = sum((b.amount for b in budgets), Decimal(0)) if budgets else None
        return CampaignState(status_of(row), str(row.get("status") or "UNKNOWN"), total, budgets)

    async def set_status(self, external_id: str, status: str) -> None:
        word = self.status_word(status)
        await self._write(external_id, {"status": word})

    async def set_budget(self, budget: BudgetObject, amount: Decimal) -> None:
        await self._write(budget.id, {"daily_budget": minor_amount(amount, self.currency)})

    def status_word(self, status: str) -> str:
        return {"paused": "PAUSED", "active": "ACTIVE"}[status]

    def budget_step(self) -> Decimal:
        return Decimal(1) / minor_units_offset(self.currency)

    async def _write(self, object_id: str, form: dict[str, str]) -> None:
        answer = await self._call(f"{self.base}/{object_id}", form=form, write=True)
        if answer.get("success") is not True:
            raise OutcomeUnknown(f"Meta answered the write without success: {str(answer)[:200]}")

    def _purchase_type(self, actions: Any, what: str) -> str | None:
        if actions is not None and not isinstance(actions, list):
            raise MalformedAnswer(f"{what} actions is not a list")
        present = {a.get("action_type") for a in actions or [] if isinstance(a, dict)}
        return next((t for t in self.purchase_types if t in present), None)
