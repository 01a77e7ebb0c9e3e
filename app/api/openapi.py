"""The OpenAPI document, made truthful about errors: every operation lists the problem responses it
can give, as ``application/problem+json``.

Which ones follow from the operation's shape, so they are derived here rather than repeated on each
route: 401 and 403 where a bearer token is required, 404 where the path names a resource, 400 and 413
where a body is read, 422 wherever a parameter or body is validated, 503 wherever the database is
used. Routes declare only what is particular to them (409, a 500 of a failed cycle).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from app.core.errors import PROBLEM_JSON, RETRY_AFTER_SECONDS, TITLES

# Operations that never touch the database.
_NO_DATABASE = {("get", "/healthz"), ("get", "/metrics")}
_METHODS = {"get", "put", "post", "patch", "delete"}


class FieldError(BaseModel):
    field: str
    message: str
    allowed: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document; validation problems list each bad field in ``errors``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry of a route for problems particular to it."""
    return {s: {"model": Problem, "description": TITLES[s]} for s in statuses}


def _follow(param: str, expression: str, *targets: str) -> dict[str, dict[str, Any]]:
    return {
        f"{target}.{param}": {"operationId": target, "parameters": {param: expression}}
        for target in targets
    }


# Where a response names resources another operation takes (OpenAPI links: clients and stateful
# testing follow them). Keyed by operation id and status.
_LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("create_campaign", "201"): _follow(
        "campaign_id", "$response.body#/id", "get_campaign", "update_campaign", "post_campaign"
    ),
    ("list_campaigns", "200"): _follow(
        "campaign_id",
        "$response.body#/items/0/id",
        "get_campaign",
        "update_campaign",
        "post_campaign",
    ),
    ("underperforming", "200"): _follow(
        "campaign_id", "$response.body#/items/0/campaign_id", "get_campaign", "post_campaign"
    ),
    ("scaling_candidates", "200"): _follow(
        "campaign_id", "$response.body#/items/0/campaign_id", "get_campaign", "update_campaign"
    ),
    ("create_cycle", "201"): _follow("cycle_id", "$response.body#/cycle_id", "get_cycle")
    | _follow("action_id", "$response.body#/actions/0/id", "get_action", "rollback_action"),
    ("list_cycles", "200"): _follow("cycle_id", "$response.body#/items/0/id", "get_cycle"),
    ("list_actions", "200"): _follow(
        "action_id", "$response.body#/items/0/id", "get_action", "rollback_action"
    ),
    ("post_campaign", "201"): _follow(
        "action_id", "$response.body#/id", "get_action", "rollback_action"
    )
    | _follow(
        "schedule_id", "$response.body#/new_state/schedule_id", "get_schedule", "cancel_schedule"
    ),
    ("list_schedules", "200"): _follow(
        "schedule_id", "$response.body#/items/0/id", "get_schedule", "cancel_schedule"
    ),
    ("list_opportunities", "200"): _follow(
        "opportunity_id",
        "$response.body#/items/0/id",
        "get_opportunity",
        "start_opportunity",
        "resolve_opportunity",
        "dismiss_opportunity",
    ),
    ("create_rule", "201"): _follow("rule_id", "$response.body#/id", "get_rule", "update_rule"),
    ("list_rules", "200"): _follow(
        "rule_id", "$response.body#/items/0/id", "get_rule", "update_rule"
    ),
    ("connect_account", "201"): _follow(
        "social_account_id", "$response.body#/id", "update_account"
    ),
    ("list_accounts", "200"): _follow(
        "social_account_id", "$response.body#/items/0/id", "update_account"
    ),
    ("create_backtest", "202"): _follow(
        "backtest_id", "$response.body#/id", "get_backtest", "cancel_backtest"
    ),
    ("list_backtests", "200"): _follow(
        "backtest_id", "$response.body#/items/0/id", "get_backtest", "cancel_backtest"
    ),
}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": TITLES[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {
                "description": f"seconds to wait before trying again ({RETRY_AFTER_SECONDS})",
                "schema": {"type": "integer"},
            }
        }
    return response


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _, defs = models_json_schema(
        [(Problem, "validation")], ref_template="#/components/schemas/{model}"
    )
    components.update(defs.get("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)

    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for (operation_id, code), links in _LINKS.items():
                if operation_id == operation.get("operationId") and code in responses:
                    responses[code]["links"] = links
            for status, response in list(responses.items()):
                if int(status) >= 400:
                    responses[status] = _problem(int(status)) | {
                        "description": response.get("description", TITLES.get(int(status), ""))
                    }
            wanted: set[int] = set()
            if operation.get("security"):
                wanted |= {401, 403}
            if "{" in path:
                wanted.add(404)
            if operation.get("requestBody"):
                wanted |= {400, 413, 422}
            if operation.get("parameters"):
                wanted.add(422)
            if (method, path) not in _NO_DATABASE:
                wanted.add(503)
            for status in sorted(wanted):
                responses.setdefault(str(status), _problem(status))
    app.openapi_schema = schema
    return schema


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
