"""A Meta-shaped Graph API in process: the sandbox platform's, and the fake the tests serve on 127.0.0.1.

``MetaGraph`` answers the calls app/platforms/meta.py makes, in the shapes of the recorded and
documented bodies (tests/fixtures/api-fixtures/ads/): the account, its campaigns and ad sets (budgets
in minor units, as strings), insights per campaign per day or per hour with cursor paging, async report
runs, the usage headers on every answer, and writes of a status or a daily budget (the minimum budget
and the ad sets' 4 budget changes an hour refused as Meta refuses them). A hook (``before``) may answer
instead, for faults.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

KEPT_LISTINGS = 64
HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"


@dataclass(frozen=True)
class Figures:
    impressions: int
    clicks: int
    spend: Decimal
    purchases: int
    purchase_value: Decimal
    reach: int | None = None


@dataclass
class GraphCampaign:
    id: str
    name: str
    status: str = "ACTIVE"
    daily_budget: int | None = None  # minor units of the account's currency
    lifetime_budget: int | None = None
    adsets: list[dict[str, Any]] = field(default_factory=list)  # {"id", "status", "daily_budget"}


@dataclass
class GraphAccount:
    id: str  # act_<digits>
    name: str
    currency: str
    timezone: str
    token: str
    campaigns: list[GraphCampaign] = field(default_factory=list)
    days: dict[tuple[str, date], Figures] = field(default_factory=dict)
    hours: dict[tuple[str, date, int], Figures] = field(default_factory=dict)

    def figures(self, campaign_id: str, day: date, hour: int | None) -> Figures | None:
        if hour is None:
            return self.days.get((campaign_id, day))
        return self.hours.get((campaign_id, day, hour))


Hook = Callable[[Request], Awaitable[Response | None]]


class MetaGraph:
    """The Graph API calls of a sync, for the accounts given."""

    def __init__(
        self,
        accounts: list[GraphAccount],
        *,
        page_size: int = 100,
        async_polls: int = 1,
        before: Hook | None = None,
    ) -> None:
        self.accounts = {a.id: a for a in accounts}
        self.page_size = page_size
        self.async_polls = async_polls
        self.before = before
        self.usage = 0.0  # the call_count percentage the usage header reports
        self.usage_next: list[float] = []  # the usage of the next answers, then ``usage`` again
        self.fail_runs = False  # report runs end as "Job Failed"
        self.calls: list[tuple[str, str]] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.listings: dict[str, list[dict[str, Any]]] = {}
        self.writes: list[tuple[str, dict[str, str]]] = []  # every write asked for
        self.applied: list[tuple[str, dict[str, str]]] = []  # every write that took
        self.budget_changes: dict[str, list[float]] = {}
        self.min_budget = 100  # minor units
        self.write_delay = 0.0  # seconds a write is answered late (after it took)
        self._listing_ids = itertools.count(1)
        self._ids = itertools.count(6042987654321098)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{version}/{node}", self._node, methods=["GET", "POST"]),
                Route("/{version}/{node}/{edge}", self._edge, methods=["GET", "POST"]),
            ]
        )

    # -- answers --------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        usage = {
            "type": "ads_insights",
            "call_count": self.usage_next.pop(0) if self.usage_next else self.usage,
            "total_cputime": 1,
            "total_time": 1,
            "estimated_time_to_regain_access": 0,
        }
        return {
            "x-business-use-case-usage": json.dumps({"0": [usage]}),
            "x-fb-ads-insights-throttle": json.dumps(
                {"app_id_util_pct": 1.0, "acc_id_util_pct": 1.0}
            ),
        }

    def _json(self, body: Any, status: int = 200) -> Response:
        return JSONResponse(body, status_code=status, headers=self._headers())

    def _error(self, status: int, code: int, message: str, subcode: int | None = None) -> Response:
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "sandbox",
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        return self._json({"error": error}, status)

    async def _params(self, request: Request) -> dict[str, str]:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode()))
        return params

    async def _guard(self, request: Request) -> tuple[Response | None, GraphAccount | None]:
        self.calls.append((request.method, request.url.path))
        if self.before is not None and (answer := await self.before(request)) is not None:
            return answer, None
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        account = next((a for a in self.accounts.values() if a.token == token), None)
        if account is None:
            return self._error(
                400, 190, "Error validating access token: Session has expired", 463
            ), None
        return None, account

    def _page(self, request: Request, rows_of: Callable[[], list[dict[str, Any]]]) -> Response:
        """One page of a listing; the rows are made once, on its first page, and the cursor points
        into them (as Meta's do: a listing does not move under its reader)."""
        params = request.query_params
        limit = min(int(params.get("limit") or self.page_size), self.page_size)
        found, offset = _uncursor(params.get("after"))
        rows = self.listings.get(found) if found else None
        if found is None or rows is None:
            found, offset, rows = str(next(self._listing_ids)), 0, rows_of()
            self.listings[found] = rows
            while len(self.listings) > KEPT_LISTINGS:
                self.listings.pop(next(iter(self.listings)))
        listing: str = found
        chunk = rows[offset : offset + limit]
        body: dict[str, Any] = {"data": chunk}
        if rows:
            after = _cursor(listing, offset + len(chunk))
            body["paging"] = {"cursors": {"before": _cursor(listing, offset), "after": after}}
            if offset + len(chunk) < len(rows):
                body["paging"]["next"] = str(request.url.include_query_params(after=after))
        return self._json(body)

    async def _node(self, request: Request) -> Response:
        refused, account = await self._guard(request)
        if refused is not None or account is None:
            return refused or self._error(400, 190, "no account")
        node = request.path_params["node"]
        if node == account.id:
            return self._json(
                {
                    "id": account.id,
                    "name": account.name,
                    "currency": account.currency,
                    "timezone_name": account.timezone,
                    "account_status": 1,
                }
            )
        campaign, adset = _find(account, node)
        if request.method == "POST":
            return await self._write(node, campaign, adset, await self._params(request))
        if campaign is not None:
            return self._json(_campaign_body(campaign))
        if adset is not None:
            return self._json(_adset_body(adset))
        run = self.runs.get(node)
        if run is None:
            return self._error(
                400, 100, f"Unsupported get request. Object with ID '{node}' does not exist", 33
            )
        run["polls"] += 1
        done = run["polls"] > self.async_polls
        status = "Job Failed" if self.fail_runs else ("Job Completed" if done else "Job Running")
        return self._json(
            {"id": node, "async_status": status, "async_percent_completion": 100 if done else 50}
        )

    async def _write(
        self,
        node: str,
        campaign: GraphCampaign | None,
        adset: dict[str, Any] | None,
        form: dict[str, str],
    ) -> Response:
        """``POST /{campaign_id}`` or ``/{adset_id}``: status or daily_budget (minor units), as Meta
        takes them; a budget below the minimum and a 5th ad-set budget change in an hour refused."""
        self.writes.append((node, dict(form)))
        if campaign is None and adset is None:
            return self._error(
                400, 100, f"Unsupported post request. Object with ID '{node}' does not exist", 33
            )
        if "status" in form:
            if form["status"] not in ("ACTIVE", "PAUSED") or campaign is None:
                return self._error(400, 100, "Invalid parameter: status")
            campaign.status = form["status"]
        if "daily_budget" in form:
            budget = int(form["daily_budget"]) if form["daily_budget"].isdigit() else -1
            if budget < self.min_budget:
                return self._json(
                    {
                        "error": {
                            "message": "Invalid parameter",
                            "type": "OAuthException",
                            "code": 100,
                            "error_subcode": 1885272,
                            "error_user_title": "Budget Too Low",
                            "error_user_msg": f"The minimum daily budget is {self.min_budget} in the account's minor units.",
                        }
                    },
                    400,
                )
            if adset is not None:
                hour = [t for t in self.budget_changes.get(node, []) if t > time.monotonic() - 3600]
                if len(hour) >= 4:
                    return self._error(400, 17, "(#17) User request limit reached", 2446079)
                self.budget_changes[node] = [*hour, time.monotonic()]
                adset["daily_budget"] = budget
            elif campaign is not None and campaign.daily_budget is not None:
                campaign.daily_budget = budget
            else:
                return self._error(400, 100, "the budget of this campaign is on its ad sets")
        self.applied.append((node, dict(form)))
        if self.write_delay:
            await asyncio.sleep(self.write_delay)
        return self._json({"success": True})

    async def _edge(self, request: Request) -> Response:
        refused, account = await self._guard(request)
        if refused is not None or account is None:
            return refused or self._error(400, 190, "no account")
        node, edge = request.path_params["node"], request.path_params["edge"]
        params = await self._params(request)
        if node == account.id and edge == "campaigns":
            return self._page(request, lambda: [_campaign_body(c) for c in account.campaigns])
        if node == account.id and edge == "insights":
            if request.method == "POST":
                run_id = str(next(self._ids))
                self.runs[run_id] = {"account": account.id, "params": params, "polls": 0}
                return self._json({"report_run_id": run_id})
            return self._page(request, lambda: _insight_rows(account, params))
        if edge == "insights" and node in self.runs:
            run = self.runs[node]
            return self._page(
                request, lambda: _insight_rows(self.accounts[run["account"]], run["params"])
            )
        campaign = next((c for c in account.campaigns if c.id == node), None)
        if campaign is not None and edge == "adsets":
            return self._page(request, lambda: [_adset_body(a) for a in campaign.adsets])
        return self._error(400, 100, f"Unsupported request: /{node}/{edge}", 33)


def _find(account: GraphAccount, node: str) -> tuple[GraphCampaign | None, dict[str, Any] | None]:
    for c in account.campaigns:
        if c.id == node:
            return c, None
        for a in c.adsets:
            if str(a.get("id")) == node:
                return None, a
    return None, None


def _adset_body(adset: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k == "daily_budget" and v is not None else v) for k, v in adset.items()}


def _cursor(listing: str, offset: int) -> str:
    return base64.b64encode(f"{listing}:{offset}".encode()).decode()


def _uncursor(cursor: str | None) -> tuple[str | None, int]:
    try:
        listing, offset = base64.b64decode(cursor or "").decode().split(":")
        return listing, int(offset)
    except ValueError:
        return None, 0


def _campaign_body(c: GraphCampaign) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "status": c.status,
        "effective_status": c.status,
        "updated_time": "2026-01-01T00:00:00+0000",
    }
    if c.daily_budget is not None:
        body["daily_budget"] = str(c.daily_budget)
    if c.lifetime_budget is not None:
        body["lifetime_budget"] = str(c.lifetime_budget)
    return body


def _insight_rows(account: GraphAccount, params: dict[str, str]) -> list[dict[str, Any]]:
    span = json.loads(params.get("time_range") or "{}")
    since, until = date.fromisoformat(span["since"]), date.fromisoformat(span["until"])
    hourly = params.get("breakdowns") == HOURLY
    rows = []
    day = since
    while day <= until:
        for c in account.campaigns:
            for hour in range(24) if hourly else [None]:
                f = account.figures(c.id, day, hour)
                if f is None:
                    continue
                row: dict[str, Any] = {
                    "account_id": account.id.removeprefix("act_"),
                    "campaign_id": c.id,
                    "campaign_name": c.name,
                    "date_start": day.isoformat(),
                    "date_stop": day.isoformat(),
                    "impressions": str(f.impressions),
                    "clicks": str(f.clicks),
                    "spend": str(f.spend),
                    "actions": [{"action_type": "link_click", "value": str(f.clicks)}],
                    "action_values": [],
                }
                if f.purchases:
                    for kind in (
                        "purchase",
                        "omni_purchase",
                        "offsite_conversion.fb_pixel_purchase",
                    ):
                        row["actions"].append({"action_type": kind, "value": str(f.purchases)})
                        row["action_values"].append(
                            {"action_type": kind, "value": str(f.purchase_value)}
                        )
                if hourly:
                    row[HOURLY] = f"{hour:02d}:00:00 - {hour:02d}:59:59"
                elif f.reach is not None:
                    row["reach"] = str(f.reach)
                rows.append(row)
        day += timedelta(days=1)
    return rows


# -- the sandbox account: the demo dataset as Meta has it ---------------------------------------------
