"""Imports: a daily campaign report as Meta Ads Manager or Google Ads exports it (or the generic
columns), into campaigns and metrics, all or nothing."""

from __future__ import annotations

import asyncio
from email.parser import BytesParser
from email.policy import HTTP
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.deps import ConnDep
from app.api.openapi import problems
from app.core.errors import ProblemError
from app.models.backtests import ImportReport
from app.services.imports import ImportFormat, ImportRefused, import_report

router = APIRouter(tags=["imports"])

CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def _file_of(content_type: str, body: bytes) -> bytes:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("text/csv", "text/plain", "application/csv", "text/tab-separated-values"):
        return body
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
        )
        if message.is_multipart():
            for part in message.iter_parts():
                if part.get_param("name", header="content-disposition") == "file":
                    payload = part.get_payload(decode=True)
                    if isinstance(payload, bytes):
                        return payload
        raise ProblemError(
            422,
            "file: a multipart body must carry the report in a part named file",
            errors=[{"field": "file", "message": "is required"}],
        )
    raise ProblemError(
        415, "send the report as text/csv, or as multipart/form-data with a file part"
    )


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportReport,
    responses=problems(415, 422),
    openapi_extra=CSV_BODY,
)
async def create_import(
    conn: ConnDep,
    request: Request,
    format: Annotated[
        ImportFormat, Query(description="auto (the default) tells meta, google and generic apart")
    ] = "auto",
) -> ImportReport:
    """Import a daily campaign report: campaigns created on first sight (as drafts), rows through the
    same ingestion as POST /metrics, all or nothing; 422 names the line and column of a bad cell."""
    data = await asyncio.to_thread(
        _file_of, request.headers.get("content-type", ""), await request.body()
    )
    try:
        return await import_report(conn, data, format)
    except ImportRefused as exc:
        raise ProblemError(
            422, str(exc), errors=[{"field": exc.field, "message": exc.reason}]
        ) from None
