"""Serving the built-in page: ``/ui/`` (the page) and ``/ui/<asset>`` (its static files).

The page is hand-written HTML, CSS and JavaScript modules in ``bioblocks/web/static/`` (no build
step). Every response carries a strict Content-Security-Policy: scripts, styles and
connections only from this server, no inline script, no framing.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from ..storage import PathOutsideDataDir, safe_resolve
from ..web import STATIC_DIR
from .errors import eve_error

#: Content types by suffix; the page ships nothing else.
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def index_response() -> Response:
    """Return the page (``index.html``) as a response; the lead serves it at ``/`` to browsers."""
    return FileResponse(STATIC_DIR / "index.html", media_type=_TYPES[".html"], headers=_HEADERS)


def _not_found(name: str) -> Response:
    return eve_error(404, f"The page has no file {name!r}.")


@router.get("/ui")
@router.get("/ui/")
async def ui_index() -> Response:
    """Return the page (its asset URLs are absolute, so ``/ui`` and ``/ui/`` both work)."""
    return index_response()


@router.get("/ui/{name:path}")
async def ui_asset(name: str) -> Response:
    """Return one static asset of the page (a 404 envelope for anything else)."""
    try:
        path = safe_resolve(STATIC_DIR, name)
    except PathOutsideDataDir:
        return _not_found(name)
    media_type = _TYPES.get(path.suffix.lower())
    if media_type is None or not path.is_file():
        return _not_found(name)
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
