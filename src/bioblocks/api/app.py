"""The application factory: :func:`create_app` builds the whole HTTP service.

Nothing happens at import time. ``create_app(settings)`` opens the store
(applying migrations), includes the routers — the other areas' routers first,
so their paths win, then media and the generic Eve router — and wraps
everything in :class:`EveMiddleware` (method override, trailing slashes, HEAD,
OPTIONS, the catch-all 500 envelope) and CORS.

Run it with ``bioblocks serve`` or ``uvicorn --factory bioblocks.api.app:create_app``.
"""

# No ``from __future__ import annotations`` here: the name ``annotations`` is the
# annotation router imported below (every annotation in this module is valid at run time).
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings, get_settings
from ..jobs import install_kinds
from ..pipeline.kinds import register_kinds
from ..storage import is_disk_full, sweep_staging
from ..store import Store, open_store
from . import (
    annotations,
    diffexp,
    docs,
    eve,
    export,
    expression,
    files,
    genesets,
    jobs,
    media,
    page,
    share,
    spring,
    upload,
    vitessce,
)
from .errors import DEFAULT_MESSAGES, dumps, eve_error, install_error_handlers
from .guard import install_read_filter

log = logging.getLogger(__name__)

#: Routers of the other areas, included before the generic Eve router (their paths win).
EXTRA_ROUTERS = [
    files.router, upload.router, share.router, expression.router, spring.router, jobs.router, page.router,
    diffexp.router, annotations.router, genesets.router, export.router, vitessce.router,
    vitessce.page_router,
]

_OVERRIDABLE = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class EveMiddleware:
    """ASGI middleware for Eve's routing conventions and the never-a-500-page rule.

    * ``X-HTTP-Method-Override`` replaces the method before routing;
    * a trailing slash is ignored (``/dataset/`` is ``/dataset``), without redirect;
    * HEAD runs the GET and drops the body, keeping every header;
    * OPTIONS answers 200 with ``Allow`` listing the methods of the matched route;
    * an unexpected exception is logged and answered with a 500 envelope (507
      ``Insufficient Storage`` when it says the disk is full, e.g. SQLite's
      "database or disk is full").
    """

    def __init__(self, app: ASGIApp, *, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._table: list[tuple[re.Pattern[str], set[str]]] | None = None

    def _route_table(self) -> list[tuple[re.Pattern[str], set[str]]]:
        if self._table is None:
            table = []
            for ctx in iter_route_contexts(self.fastapi_app.router.routes):
                path, methods = ctx.path, ctx.methods
                if path:
                    table.append((compile_path(path)[0], set(methods or {"GET"})))
            self._table = table
        return self._table

    def _allowed(self, scope: Scope) -> set[str]:
        methods: set[str] = set()
        for regex, route_methods in self._route_table():
            if regex.match(scope["path"]):
                methods |= route_methods
        return methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        headers = dict(scope.get("headers") or [])
        override = headers.get(b"x-http-method-override")
        if override:
            method = override.decode("latin-1").strip().upper()
            if method in _OVERRIDABLE:
                scope["method"] = method
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope["path"] = path.rstrip("/") or "/"
            if scope.get("raw_path"):
                scope["raw_path"] = scope["path"].encode()
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if scope["method"] == "OPTIONS" and b"access-control-request-method" not in headers:
                await self._options(scope, send_wrapper)
            elif scope["method"] == "HEAD":
                scope["method"] = "GET"
                await self.app(scope, receive, _head_sender(send_wrapper))
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            full = is_disk_full(exc)  # anywhere (the store included): 507, not 500
            if full:
                log.error("disk full on %s %s: %s", scope["method"], scope["path"], exc)
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            response = eve_error(507) if full else eve_error(500)
            await response(scope, receive, send)

    async def _options(self, scope: Scope, send: Send) -> None:
        allowed = self._allowed(scope)
        if not allowed:
            body = dumps({"_status": "ERR", "_error": {"code": 404, "message": DEFAULT_MESSAGES[404]}})
            status, headers = 404, [(b"content-type", b"application/json")]
        else:
            allowed |= {"HEAD", "OPTIONS"} if "GET" in allowed else {"OPTIONS"}
            order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
            value = ", ".join(m for m in order if m in allowed)
            body, status = b"", 200
            headers = [(b"allow", value.encode()), (b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _head_sender(send: Send) -> Send:
    """Wrap ``send`` so the body is dropped but the headers (incl. Content-Length) stay."""

    async def wrapper(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return wrapper


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the application: store opened (migrations applied), routers, middleware.

    ``app.state.settings`` and ``app.state.store`` are set; the store is closed
    when the application shuts down. Staging entries of crashed processes in
    ``files/tmp/`` are swept first (:func:`bioblocks.storage.sweep_staging`).
    The job kinds are installed in this process (``POST /job`` checks against them).
    """
    settings = settings or get_settings()
    install_kinds(register_kinds)
    sweep_staging(settings.resolved_data_dir)  # what crashed processes left in files/tmp/
    store = store or open_store(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Bioblocks Server",
        version="0.1.0",
        summary="Single-cell datasets and their analyses over an Eve-compatible REST API.",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # /docs and /redoc come from api/docs.py, with local assets
        redoc_url=None,
        dependencies=[Depends(install_read_filter)],  # what the caller may not see is missing
    )
    app.state.settings = settings
    app.state.store = store
    install_error_handlers(app)
    app.include_router(docs.router)
    for router in EXTRA_ROUTERS:
        app.include_router(router)
    app.include_router(media.router)
    app.include_router(eve.build_router())
    app.add_middleware(EveMiddleware, fastapi_app=app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Total-Count", "Location", "Last-Modified"],
            max_age=21600,
        )
    return app
