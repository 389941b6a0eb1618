"""Vitessce: ``GET /analysis/{id}/vitessce.json`` and ``/analysis/{id}/vitessce/adata.zarr/<path>``.

``vitessce.json`` is the analysis's Vitessce view configuration
(:func:`bioblocks.pipeline.vitessce.analysis_config`: a scatterplot per embedding, cell
sets of the categorical tracks with their colours, gene list, heatmap) over the analysis's
AnnData-Zarr store, whose files ``adata.zarr/<path>`` are served as static files by
:func:`bioblocks.api.files.file_response` (byte ranges, ETag/304, HEAD), each path
confined to the store by :func:`bioblocks.storage.safe_resolve`. The store is written on
the first request for either (the first answer waits for it; later ones read it), again
when an analysis of the family changes. The configuration names the store by its
absolute URL on this server, so any Vitessce (this server's origin or another one, CORS
permitting) can open it; :func:`visualization_links` is what the analysis's files answer
(``GET /analysis/{id}/files``) lists under ``_links.visualization``. Reads: a token is
needed only when reads need one (Vitessce then needs it too). Unknown analyses, analyses
without files and missing store files are 404 envelopes.

``GET /vitessce/?config=<URL>`` is Vitessce itself, served by this server with no CDN: the
page ``bioblocks/web/vitessce/`` and its bundle ``dist/`` (Vitessce's npm package and
React, bundled by ``build.sh``; a 404 saying so until it is built), under a
Content-Security-Policy that lets it reach this server only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..pipeline.vitessce import analysis_config, vitessce_store
from ..storage import PathOutsideDataDir, safe_resolve
from ..web import VITESSCE_DIR
from .auth import require_read
from .errors import ERROR_RESPONSES, JSON, dumps, eve_error
from .files import content_type, file_response

router = APIRouter(tags=["vitessce"], dependencies=[Depends(require_read)])
#: The page (no token: it holds no data; the configuration it opens is a read).
page_router = APIRouter(include_in_schema=False)

#: Vitessce's web application, opened with a configuration's URL (``#?url=``).
VITESSCE_APP = "https://vitessce.io/"
#: The Vitessce page of this server (when its bundle is built), opened with ``?config=``.
VITESSCE_PAGE = "vitessce/"
#: Vitessce's bundle, built by ``bioblocks/web/vitessce/build.sh``.
VITESSCE_DIST = VITESSCE_DIR / "dist"
#: Content types of the page's files, by suffix; it ships nothing else.
_PAGE_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
#: The page loads scripts from and connects to this server only (Vitessce's look-ups of
#: gene ids on its own hosts are refused); its Blosc decoder compiles code at run time
#: ('unsafe-eval': with 'wasm-unsafe-eval' alone no chunk decodes) and it styles its
#: views inline.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "worker-src 'self' blob:; connect-src 'self' data: blob:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'self'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
#: The analysis kinds that have a Vitessce view (a t-SNE/UMAP through its SPRING analysis).
_VIEWABLE = ("SPRING", "TSNE", "UMAP")


def config_path(analysis_id: str) -> str:
    """Return the URL path (relative to the root) of an analysis's Vitessce configuration."""
    return f"analysis/{quote(analysis_id, safe='')}/vitessce.json"


def store_path(analysis_id: str) -> str:
    """Return the URL path (relative to the root) of an analysis's AnnData-Zarr store."""
    return f"analysis/{quote(analysis_id, safe='')}/vitessce/adata.zarr"


def visualization_links(request: Request, doc: dict[str, Any]) -> list[dict[str, str]]:
    """Return the Vitessce links of the analysis ``doc``: its configuration and this
    server's Vitessce page opening it (when built; both relative to the root, as Eve's
    hrefs), and Vitessce's web application opening it (absolute); none for other kinds of
    analysis, or a t-SNE/UMAP that names no SPRING analysis."""
    process = doc.get("processType")
    if process not in _VIEWABLE or (
        process != "SPRING" and not (doc.get("parameters") or {}).get("springAnalysis")
    ):
        return []
    config = config_path(str(doc["_id"]))
    absolute = f"{str(request.base_url).rstrip('/')}/{config}"
    links = [{"title": "Vitessce configuration", "href": config}]
    if (VITESSCE_DIST / "entry.js").is_file():
        links.append({"title": "Vitessce on this server",
                      "href": f"{VITESSCE_PAGE}?config={quote('/' + config, safe='/')}"})
    links.append({"title": "Vitessce (vitessce.io)",
                  "href": f"{VITESSCE_APP}#?url={quote(absolute, safe='')}"})
    return links


@router.get(
    "/analysis/{analysis_id}/vitessce.json",
    responses={200: {"description": "The Vitessce view configuration of the analysis"},
               **ERROR_RESPONSES},
)
async def get_vitessce_config(analysis_id: str, request: Request) -> Response:
    """The analysis's Vitessce view configuration (its AnnData-Zarr store is written first
    if need be)."""
    state = request.app.state
    zarr_url = f"{str(request.base_url).rstrip('/')}/{store_path(analysis_id)}"
    config = await run_in_threadpool(
        analysis_config, state.store, state.settings, analysis_id, zarr_url=zarr_url
    )
    return Response(dumps(config), media_type=JSON, headers={"Cache-Control": "no-cache"})


def _store_file(request: Request, analysis_id: str, path: str) -> Response:
    state = request.app.state
    folder = vitessce_store(state.store, state.settings, analysis_id)
    try:
        target = safe_resolve(folder, path, decode=True)
    except PathOutsideDataDir:
        return eve_error(404, "The requested file was not found.")
    return file_response(request, target, media_type=content_type(target.name))


async def _serve_store_file(analysis_id: str, path: str, request: Request) -> Response:
    """A file of the analysis's AnnData-Zarr store (ranges, ETag/304)."""
    return await run_in_threadpool(_store_file, request, analysis_id, path)


for _method in ("GET", "HEAD"):
    router.add_api_route(
        "/analysis/{analysis_id}/vitessce/adata.zarr/{path:path}", _serve_store_file,
        methods=[_method], operation_id=f"{_method.lower()}_vitessce_store_file",
        summary="A file of the analysis's AnnData-Zarr store (for Vitessce)",
        responses={206: {"description": "Partial content (Range)"},
                   304: {"description": "Not modified"}, **ERROR_RESPONSES},
    )


def _page_file(name: str) -> Response:
    """``index.html`` and ``page.css`` from the page's folder, the rest from its bundle."""
    folder = VITESSCE_DIR if name in ("index.html", "page.css") else VITESSCE_DIST
    try:
        target = safe_resolve(folder, name)
    except PathOutsideDataDir:
        target = None
    media_type = _PAGE_TYPES.get(target.suffix.lower()) if target else None
    if target is None or media_type is None or not target.is_file():
        if not (VITESSCE_DIST / "entry.js").is_file():
            return eve_error(404, "The Vitessce page is not built: run "
                             "`bash src/bioblocks/web/vitessce/build.sh` (needs node and npm).")
        return eve_error(404, f"The Vitessce page has no file {name!r}.")
    return FileResponse(target, media_type=media_type, headers=_PAGE_HEADERS)


@page_router.get("/vitessce")
@page_router.get("/vitessce/")
async def vitessce_page() -> Response:
    """Vitessce, opening the configuration named by ``?config=`` (a URL on this server)."""
    if not (VITESSCE_DIST / "entry.js").is_file():
        return _page_file("entry.js")  # the 404 saying how to build it
    return _page_file("index.html")


@page_router.get("/vitessce/{name:path}")
async def vitessce_asset(name: str) -> Response:
    """A file of the Vitessce page or its bundle."""
    return _page_file(name)


__all__ = ["config_path", "page_router", "router", "store_path", "visualization_links"]
