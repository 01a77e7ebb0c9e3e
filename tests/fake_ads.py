"""Fake Meta Marketing API and Google Ads API servers for tests (real HTTP on 127.0.0.1, see
tests/servers.py), built from tests/fixtures/api-fixtures/ads/.

Meta is the sandbox's Graph API (app/platforms/graph.py) with data of the test's own and faults on
demand: ``faults.append(Fault("insights", "meta_error_80000_ad_account_insights_limit"))`` answers the
next matching request with that fixture's body and status. Google answers ``googleAds:searchStream``
for the GAQL the client sends (the account, the campaigns, metrics per day or hour) and the OAuth token
exchange, with the same faults.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.platforms.graph import Figures, GraphAccount, GraphCampaign, MetaGraph

ADS = Path(__file__).parent / "fixtures" / "api-fixtures"


def ads_fixture(name: str) -> tuple[int, Any]:
    """(status, body) of a recorded answer; a fixture without a status (a 200 with an error) is 400."""
    folder = ADS / "ads" if (ADS / "ads" / f"{name}.json").exists() else ADS
    response = json.loads((folder / f"{name}.json").read_text())["response"]
    return int(response.get("status") or 400), response["body"]


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path contains ``path`` with fixture ``name`` (or with
    ``answer``, a status and body of the test's own; or, for ``slow``, normally but ``seconds`` late).
    With ``after_write``, a matching write is carried out and only its answer replaced (it took, the
    client cannot tell)."""

    path: str
    name: str = ""
    times: int = 1
    seconds: float = 0.0
    answer: tuple[int, Any] | None = None
    after_write: bool = False

    def response(self) -> Response:
        status, body = self.answer or ads_fixture(self.name)
        return JSONResponse(body, status_code=status)


def _take(faults: list[Fault], path: str, after_write: bool = False) -> Fault | None:
    for fault in faults:
        if fault.path in path and fault.times > 0 and fault.after_write == after_write:
            fault.times -= 1
            return fault
    return None


class FakeMeta:
    def __init__(
        self, accounts: list[GraphAccount], page_size: int = 100, async_polls: int = 1
    ) -> None:
        self.faults: list[Fault] = []
        self.graph = MetaGraph(
            accounts, page_size=page_size, async_polls=async_polls, before=self._before
        )
        self.served = 0
        self.started = time.perf_counter()

    async def _before(self, request: Request) -> Response | None:
        self.served += 1
        fault = _take(self.faults, request.url.path)
        if fault is None:
            return None
        if fault.name == "slow":
            await asyncio.sleep(fault.seconds)
            return None
        return fault.response()

    def app(self) -> Any:
        inner = self.graph.app()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            fault = None
            if scope["type"] == "http" and scope["method"] == "POST":
                fault = _take(self.faults, scope["path"], after_write=True)
            if fault is None:
                await inner(scope, receive, send)
                return

            async def swallow(message: Any) -> None:
                return None

            await inner(scope, receive, swallow)
            await fault.response()(scope, receive, send)

        return app

    @property
    def calls(self) -> list[tuple[str, str]]:
        return self.graph.calls


def meta_account(
    account_id: str = "act_1234567890",
    *,
    currency: str = "USD",
    timezone: str = "America/New_York",
    token: str = "EAAGmeta-token-0001",
    campaigns: int = 2,
    days: list[date] | None = None,
) -> GraphAccount:
    """An account with ``campaigns`` campaigns (ids 120330000000000001, ...), the first with a campaign
    budget, the others with ad-set budgets, and figures for ``days``."""
    account = GraphAccount(account_id, "Meta test account", currency, timezone, token)
    for i in range(1, campaigns + 1):
        cid = f"1203300000000{i:05d}"
        if i == 1:  # a campaign budget of 5000 minor units: 50.00 USD, or 5000 JPY
            c = GraphCampaign(cid, f"Campaign {i}", daily_budget=5000)
        else:  # ad-set budgets: the active ones add up to 2000 minor units
            c = GraphCampaign(
                cid,
                f"Campaign {i}",
                adsets=[
                    {"id": f"{cid}1", "status": "ACTIVE", "daily_budget": 1234},
                    {"id": f"{cid}2", "status": "ACTIVE", "daily_budget": 766},
                    {"id": f"{cid}3", "status": "PAUSED", "daily_budget": 9999},
                ],
            )
        account.campaigns.append(c)
        for n, day in enumerate(days or []):
            account.days[(cid, day)] = figures(i, n, currency)
    return account


def figures(i: int, n: int, currency: str = "USD") -> Figures:
    """Deterministic figures with cents (none in a zero-decimal currency)."""
    spend = (
        Decimal(1000 + 37 * i + 11 * n)
        if currency == "JPY"
        else Decimal(f"{12 + i}.{(7 * n + i) % 100:02d}")
    )
    value = (
        Decimal(5000 * i + n) if currency == "JPY" else Decimal(f"{40 + n}.{(13 * i) % 100:02d}")
    )
    return Figures(
        impressions=1000 + n,
        clicks=50 + i,
        spend=spend,
        purchases=2 + n % 3,
        purchase_value=value,
        reach=800 + n,
    )


@dataclass
class GoogleCustomer:
    id: str  # 10 digits
    name: str = "Google test customer"
    currency: str = "USD"
    timezone: str = "America/Los_Angeles"
    campaigns: list[dict[str, Any]] = field(default_factory=list)  # id, name, status, budget_micros
    days: dict[tuple[str, date], dict[str, Any]] = field(default_factory=dict)
    hours: dict[tuple[str, date, int], dict[str, Any]] = field(default_factory=dict)


class FakeGoogle:
    """``POST /token`` (OAuth refresh) and ``POST /{version}/customers/{id}/googleAds:searchStream``."""

    def __init__(
        self,
        customers: list[GoogleCustomer],
        refresh_token: str = "1//google-refresh-0001",
        developer_token: str = "dev-token-0001",
        batch: int = 2,
    ) -> None:
        self.customers = {c.id: c for c in customers}
        self.refresh_token = refresh_token
        self.developer_token = developer_token
        self.batch = batch
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.tokens: set[str] = set()
        self.expire_tokens = False  # every access token is reported expired
        self.writes: list[dict[str, Any]] = []  # every mutate asked for
        self.applied: list[dict[str, Any]] = []  # every mutate that took
        self.min_budget_micros = 10_000
        self.writes_per_second = (
            0  # 0: no limit; past it RESOURCE_EXHAUSTED, its retryDelay to wait
        )
        self.write_times: list[float] = []

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.requests.append(
            {"path": "/token", "form": {k: v for k, v in form.items() if k == "grant_type"}}
        )
        if form.get("refresh_token") != self.refresh_token:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
                status_code=400,
            )
        access = f"ya29.access-{len(self.tokens) + 1:04d}"
        self.tokens.add(access)
        return JSONResponse({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    async def stream(self, request: Request) -> Response:
        body = json.loads(await request.body())
        query = str(body.get("query", ""))
        self.requests.append(
            {"path": request.url.path, "query": query, "headers": dict(request.headers)}
        )
        fault = _take(self.faults, request.url.path)
        if fault is not None:
            return fault.response()
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.tokens or self.expire_tokens:
            status, answer = ads_fixture("google_error_oauth_token_expired")
            return JSONResponse(answer, status_code=status)
        if request.headers.get("developer-token") != self.developer_token:
            status, answer = ads_fixture("google_error_user_permission_denied")
            return JSONResponse(answer, status_code=status)
        customer = self.customers.get(request.path_params["cid"])
        if customer is None:
            status, answer = ads_fixture("google_error_user_permission_denied")
            return JSONResponse(answer, status_code=status)
        results = self._results(customer, query)
        batches = [results[i : i + self.batch] for i in range(0, len(results), self.batch)] or [[]]
        return JSONResponse(
            [
                {"results": b, "fieldMask": "…", "requestId": "fake"}
                if b
                else {"fieldMask": "…", "requestId": "fake"}
                for b in batches
            ]
        )

    def _results(self, c: GoogleCustomer, query: str) -> list[dict[str, Any]]:
        if "FROM customer" in query:
            return [
                {
                    "customer": {
                        "resourceName": f"customers/{c.id}",
                        "descriptiveName": c.name,
                        "currencyCode": c.currency,
                        "timeZone": c.timezone,
                    }
                }
            ]
        if "metrics." not in query:
            only = re.search(r"WHERE campaign.id = (\d+)", query)
            return [
                {
                    "campaign": {
                        "resourceName": f"customers/{c.id}/campaigns/{k['id']}",
                        "id": k["id"],
                        "name": k["name"],
                        "status": k.get("status", "ENABLED"),
                    },
                    "campaignBudget": {
                        "resourceName": self._budget_name(c, k),
                        "amountMicros": str(k["budget_micros"]),
                        "explicitlyShared": bool(k.get("shared")),
                        "referenceCount": "2" if k.get("shared") else "1",
                    },
                }
                for k in c.campaigns
                if only is None or k["id"] == only.group(1)
            ]
        between = re.search(r"BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'", query)
        on = re.search(r"segments.date = '(\d{4}-\d{2}-\d{2})'", query)
        hourly = "segments.hour" in query
        if between:
            since, until = (
                date.fromisoformat(between.group(1)),
                date.fromisoformat(between.group(2)),
            )
        else:
            assert on is not None
            since = until = date.fromisoformat(on.group(1))
        rows = []
        day = since
        while day <= until:
            for k in c.campaigns:
                for hour in range(24) if hourly else [None]:
                    m = (
                        c.hours.get((k["id"], day, hour))
                        if hour is not None
                        else c.days.get((k["id"], day))
                    )
                    if m is None:
                        continue
                    segments: dict[str, Any] = {"date": day.isoformat()}
                    if hour is not None:
                        segments["hour"] = hour
                    rows.append(
                        {
                            "campaign": {
                                "resourceName": f"customers/{c.id}/campaigns/{k['id']}",
                                "id": k["id"],
                                "name": k["name"],
                            },
                            "metrics": {
                                "costMicros": str(m["cost_micros"]),
                                "impressions": str(m["impressions"]),
                                "clicks": str(m["clicks"]),
                                "conversions": m["conversions"],
                                "conversionsValue": m["value"],
                            },
                            "segments": segments,
                        }
                    )
            day += timedelta(days=1)
        return rows

    @staticmethod
    def _budget_name(c: GoogleCustomer, k: dict[str, Any]) -> str:
        return f"customers/{c.id}/campaignBudgets/{k.get('budget_id', k['id'])}"

    async def mutate(self, request: Request) -> Response:
        """``campaigns:mutate`` (status) and ``campaignBudgets:mutate`` (amountMicros), as the fixtures."""
        body = json.loads(await request.body())
        resource = request.path_params["resource"]
        self.writes.append({"resource": resource, "body": body})
        fault = _take(self.faults, request.url.path)
        if fault is not None:
            return fault.response()
        now = time.monotonic()
        self.write_times = [t for t in self.write_times if t > now - 1]
        if self.writes_per_second and len(self.write_times) >= self.writes_per_second:
            status, answer = ads_fixture("google_error_quota_exhausted")
            quota = answer["error"]["details"][0]["errors"][0]["details"]["quotaErrorDetails"]
            quota["retryDelay"] = f"{max(self.write_times[0] + 1 - now, 0.01):.3f}s"
            return JSONResponse(answer, status_code=status)
        self.write_times.append(now)
        customer = self.customers[request.path_params["cid"]]
        results = []
        for op in body.get("operations", []):
            update = op["update"]
            name = update["resourceName"]
            if resource == "campaigns":
                k = next(k for k in customer.campaigns if name.endswith(f"/campaigns/{k['id']}"))
                k["status"] = update["status"]
            else:
                if int(update["amountMicros"]) < self.min_budget_micros:
                    status, answer = ads_fixture("google_error_budget_below_minimum")
                    return JSONResponse(answer, status_code=status)
                for k in customer.campaigns:
                    if self._budget_name(customer, k) == name:
                        k["budget_micros"] = int(update["amountMicros"])
            results.append({"resourceName": name})
        self.applied.append({"resource": resource, "body": body})
        return JSONResponse({"results": results})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route(
                    "/{version}/customers/{cid}/googleAds:searchStream",
                    self.stream,
                    methods=["POST"],
                ),
                Route(
                    "/{version}/customers/{cid}/{resource}:mutate", self.mutate, methods=["POST"]
                ),
            ]
        )
