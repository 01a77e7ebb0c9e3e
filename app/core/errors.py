"""Every error is application/problem+json (RFC 9457), and database errors map to domain ones.

Database functions raise SQLSTATEs of class AO (AO422, AO404, AO409) with a JSON DETAIL; named
constraints map to the field they guard. Anything unexpected is a 500 that says nothing inside.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.db.pool import DatabaseUnavailable, is_connection_error
from app.db.retry import DatabaseBusy, is_transient
from app.models.common import PATTERN_MESSAGES

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ProblemError(Exception):
    """An error the API reports as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# The words of a refused constraint: {constraint name: (field, message)}, read from the constraints'
# comments in the database (the one place they are written). Python never parses free-form error text.
ConstraintMessages = dict[str, tuple[str, str]]


def constraint_messages(rows: list[Any]) -> ConstraintMessages:
    """Parse the rows of queries.CONSTRAINT_MESSAGES: comments of the form {"field", "message"}."""
    messages: ConstraintMessages = {}
    for row in rows:
        try:
            doc = json.loads(row["comment"])
            messages[row["name"]] = (str(doc["field"]), str(doc["message"]))
        except (ValueError, KeyError, TypeError):
            continue
    return messages


def problem_from_db_error(
    exc: asyncpg.PostgresError, messages: ConstraintMessages | None = None
) -> ProblemError | None:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate.startswith("AO"):
        status = int(sqlstate[2:]) if sqlstate[2:].isdigit() else 400
        info: dict[str, Any] = {}
        raw = getattr(exc, "detail", None)
        if raw:
            try:
                info = json.loads(raw)
            except ValueError:
                info = {}
        errors = [info] if "field" in info else None
        return ProblemError(status, str(getattr(exc, "message", exc)), errors=errors)
    constraint = getattr(exc, "constraint_name", None)
    if constraint and messages and constraint in messages:
        field, message = messages[constraint]
        status = 409 if isinstance(exc, asyncpg.UniqueViolationError) else 422
        return ProblemError(
            status, f"{field}: {message}", errors=[{"field": field, "message": message}]
        )
    table = getattr(exc, "table_name", None)
    if (
        isinstance(exc, asyncpg.CheckViolationError)
        and constraint
        and table
        and constraint.startswith(table + "_")
        and constraint.endswith("_check")
    ):
        field = constraint[len(table) + 1 : -len("_check")]
        return ProblemError(
            422, f"{field}: out of range", errors=[{"field": field, "message": "out of range"}]
        )
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return ProblemError(403, "the database refused this for your role")
    if sqlstate.startswith("22") or isinstance(exc, asyncpg.CheckViolationError):
        # A value the models let through but the database refuses (a bound, a malformed value).
        return ProblemError(422, "a value is out of range or malformed")
    return None


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    path = ""
    for p in parts:
        path += f"[{p}]" if p.isdigit() else (f".{p}" if path else p)
    return path or ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, errors=exc.errors, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            entry: dict[str, Any] = {"field": _field_path(tuple(err["loc"])), "message": err["msg"]}
            ctx = err.get("ctx") or {}
            if err["type"] == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_MESSAGES:
                entry["message"] = PATTERN_MESSAGES[ctx["pattern"]]
            if ctx.get(
                "path"
            ):  # a place inside a JSON field (a rule's conditions), or a model's field
                inner = str(ctx["path"])
                if err["loc"] in ((), ("body",)):
                    entry["field"] = inner
                else:
                    entry["field"] += inner if inner.startswith("[") else "." + inner
            if "expected" in ctx:
                entry["allowed"] = str(ctx["expected"])
            errors.append(entry)
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        return problem_response(422, shown + more, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path served by several
            # routes (GET and PATCH of /campaigns/{id}) allows all of theirs.
            headers["Allow"] = ", ".join(_allowed_methods(request))
            if request.method == "DELETE":
                detail = NOTHING_IS_DELETED
        return problem_response(exc.status_code, detail, headers=headers or None)

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.exceptions.InternalClientError)
    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        return _database_unavailable(request, exc)

    @app.exception_handler(DatabaseBusy)
    async def _busy(request: Request, exc: DatabaseBusy) -> JSONResponse:
        return _database_busy(request, exc)

    @app.exception_handler(asyncpg.PostgresError)
    async def _db(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
        if is_connection_error(exc):
            return _database_unavailable(request, exc)
        if is_transient(exc):
            return _database_busy(request, exc)
        if isinstance(exc, asyncpg.QueryCanceledError):
            return _ran_too_long(request)
        problem = problem_from_db_error(
            exc, getattr(request.app.state, "constraint_messages", None)
        )
        if problem is not None:
            return problem_response(problem.status, problem.detail, errors=problem.errors)
        log.error(
            "database error",
            extra={"path": request.url.path, "sqlstate": getattr(exc, "sqlstate", None)},
            exc_info=exc,
        )
        return problem_response(500, "the server could not complete the request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"path": request.url.path}, exc_info=exc)
        return problem_response(500, "the server could not complete the request")


RETRY_AFTER_SECONDS = 5


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
NOTHING_IS_DELETED = (
    "nothing is ever deleted: turn a rule off with PATCH is_active=false, end a campaign with "
    "PATCH status, revoke an account with PATCH status=revoked"
)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at this path, asked of the router itself."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if route.matches(scope)[0] == Match.FULL:
                allowed.append(method)
                break
    return allowed


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503: the database could not be reached or the connection was lost; nothing was changed."""
    cause = exc.__cause__ or exc
    log.warning(
        "database unavailable",
        extra={"path": request.url.path, "error": type(cause).__name__},
    )
    return problem_response(
        503,
        "the database is unavailable; nothing was changed, try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    """503: concurrent work conflicted with this request (a deadlock, a serialization failure) and a
    retry did not clear it; nothing was changed."""
    cause = exc.__cause__ or exc
    log.warning(
        "database busy",
        extra={"path": request.url.path, "sqlstate": getattr(cause, "sqlstate", None)},
    )
    return problem_response(
        503,
        "the database was busy with concurrent changes; nothing was changed, try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _ran_too_long(request: Request) -> JSONResponse:
    """503: the request's statement ran past its time limit (QUERY_TIMEOUT_SECONDS) and was stopped."""
    seconds = request.app.state.settings.query_timeout_seconds
    log.warning("statement stopped at its time limit", extra={"path": request.url.path})
    return problem_response(
        503,
        f"this ran past its time limit of {seconds:g} s and was stopped; nothing was changed "
        "(a smaller rule or portfolio, or a larger QUERY_TIMEOUT_SECONDS)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
