"""Interactive API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc) that work offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank without
internet access. These pages load the same assets from ``/docs/assets/``, served from
the files the ``fastapi-offline`` package ships; no page refers to another host
(Swagger UI's online validator and ReDoc's Google fonts are switched off, and ReDoc's
page may show images from this server only).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from .errors import eve_error

ASSETS_URL = "/docs/assets"

#: The asset files served under :data:`ASSETS_URL`, with their content types.
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

TITLE = "Bioblocks Server"

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    """Return the folder holding Swagger UI's and ReDoc's files (from ``fastapi-offline``)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Return the Swagger UI page; its script, style and icon come from :data:`ASSETS_URL`."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{TITLE} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=None,
        # Swagger UI would otherwise send the schema to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """Return the ReDoc page; its script and icon come from :data:`ASSETS_URL`."""
    root = _root(request)
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{TITLE} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    # ReDoc's sidebar shows its maker's logo from their CDN (and hides it when it fails to
    # load): images from this server only, so the page never contacts another host.
    page.headers["Content-Security-Policy"] = "img-src 'self' data:"
    return page


@router.get(ASSETS_URL + "/{name}")
def asset(name: str) -> Response:
    """Return one of :data:`ASSETS` (cacheable for a day); any other name is a 404 envelope."""
    media_type = ASSETS.get(name)
    path = assets_dir() / name
    if media_type is None or not path.is_file():
        return eve_error(404, f"no docs asset {name!r}; the assets are {', '.join(ASSETS)}")
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})
