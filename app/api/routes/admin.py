from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from app.core.errors import ProblemError

router = APIRouter(tags=["dashboard"])

_PAGE = Path(__file__).resolve().parents[2] / "static" / "admin.html"


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin() -> HTMLResponse:
    """The dashboard shell: one offline page; it reads its token from the URL fragment, never the URL."""
    return HTMLResponse(
        _PAGE.read_text(encoding="utf-8"),
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        },
    )


_VENDOR = _PAGE.parent / "vendor"
# The only files served from it, with their types: no path from the request reaches the disk.
_VENDORED = {
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
}


@router.get("/admin/vendor/{name}", include_in_schema=False)
async def vendored(name: str) -> Response:
    """The dashboard's vendored libraries (uPlot, MIT; see app/static/vendor/README.md)."""
    media_type = _VENDORED.get(name)
    if media_type is None:
        raise ProblemError(404, "no such file")
    return Response(
        (_VENDOR / name).read_bytes(),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400"},
    )
