"""Eve's error envelope, and every exception-to-response mapping in one place.

``{"_status": "ERR", "_error": {"code": 404, "message": "..."}}`` for every
error; validation failures carry ``_issues``. The mapping:

    EveHTTPError(status, message)   that status (raised by the routers)
    ValidationError                 422 with Eve's ``_issues``
    QueryError                      400 (a ``where``/``sort`` we cannot run)
    InputTooLarge                   413 with ``_issues`` (an import above the memory budget)
    InputError                      422 with ``_issues`` {field: message}
    StorageFullError                507 Insufficient Storage
    NotFoundError                   404
    EtagMismatch                    412
    ConflictError                   409
    Starlette HTTPException         its status (404 route miss, 405 without ``Allow``)
    RequestValidationError          400 naming the parameter
    anything else                   500 envelope (logged) — see ``bioblocks.api.app``
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ConflictError, InputError, InputTooLarge, NotFoundError, StorageFullError
from ..store import EtagMismatch, QueryError, ValidationError

log = logging.getLogger(__name__)

#: Werkzeug's default descriptions, as Eve sends them.
DEFAULT_MESSAGES = {
    400: "The browser (or proxy) sent a request that this server could not understand.",
    401: "Please provide proper credentials",
    403: "You don't have the permission to access the requested resource. It is either "
    "read-protected or not readable by the server.",
    404: "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again.",
    405: "The method is not allowed for the requested URL.",
    409: "A conflict happened while processing the request. The resource might have been "
    "modified while the request was being processed.",
    412: "Client and server etags don't match",
    413: "The data value transmitted exceeds the capacity limit.",
    415: "The server does not support the media type transmitted in the request.",
    416: "The server cannot provide the requested range.",
    422: "The request was well-formed but was unable to be followed due to semantic errors.",
    428: "To edit a document its etag must be provided using the If-Match header",
    500: "The server encountered an internal error and was unable to complete your request.",
    507: "Insufficient Storage: the server's disk is full; nothing was written.",
}

JSON = "application/json"


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Serialise a response body (orjson; indented when ``pretty``)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if pretty else 0)


class EveHTTPError(Exception):
    """Raise from a router to answer ``status`` with the envelope (and extra body keys)."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        with_error: bool = True,
    ) -> None:
        super().__init__(message or DEFAULT_MESSAGES.get(status, ""))
        self.status = status
        self.message = message or DEFAULT_MESSAGES.get(status, "")
        self.headers = headers or {}
        self.extra = extra or {}
        self.with_error = with_error


def eve_error(
    status: int,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    with_error: bool = True,
) -> Response:
    """Return the JSON error envelope for ``status`` (default message: Werkzeug's)."""
    body: dict[str, Any] = {"_status": "ERR"}
    body.update(extra or {})
    if with_error:
        body["_error"] = {"code": status, "message": message or DEFAULT_MESSAGES.get(status, "")}
    return Response(dumps(body), status_code=status, headers=headers, media_type=JSON)


def issues_for(exc: InputError) -> dict[str, Any]:
    """Return the ``_issues`` of an InputError (Eve's issues, or ``{field: message}``)."""
    if isinstance(exc, ValidationError):
        return exc.issues
    return {exc.field or "validator exception": exc.message}


def _handle_eve(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, EveHTTPError)
    return eve_error(
        exc.status, exc.message, headers=exc.headers, extra=exc.extra, with_error=exc.with_error
    )


def _handle_bioblocks(_: Request, exc: Exception) -> Response:
    if isinstance(exc, QueryError):
        return eve_error(400, exc.message)
    if isinstance(exc, InputError):
        return eve_error(
            413 if isinstance(exc, InputTooLarge) else 422,
            "Insertion failure: 1 document(s) contain(s) error(s)"
            if isinstance(exc, ValidationError)
            else str(exc),
            extra={"_issues": issues_for(exc)},
        )
    if isinstance(exc, NotFoundError):
        return eve_error(404, str(exc) or None)
    if isinstance(exc, EtagMismatch):
        return eve_error(412)
    if isinstance(exc, ConflictError):
        return eve_error(409, str(exc) or None)
    if isinstance(exc, StorageFullError):
        log.error("disk full: %s", exc)
        return eve_error(507, str(exc) or None)
    return eve_error(400, str(exc) or None)


def _handle_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message: str | None = exc.detail if isinstance(exc.detail, str) else None
    # Starlette's detail for a status is its reason phrase: prefer Werkzeug's descriptions.
    if message and exc.status_code in DEFAULT_MESSAGES and " " in message and len(message) < 30:
        message = None
    return eve_error(exc.status_code, message)


def _handle_request_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return eve_error(400, "; ".join(parts) or None)


def _handle_data_error(_: Request, exc: Exception) -> Response:
    log.info("database refused a value: %s", exc)
    return eve_error(
        400,
        "The database cannot store or compare a value of this request (for example a NUL "
        "character or a number out of range); remove it and try again",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception-to-envelope mapping on ``app``."""
    from sqlalchemy.exc import DataError

    from ..errors import BioblocksError

    app.add_exception_handler(DataError, _handle_data_error)

    app.add_exception_handler(EveHTTPError, _handle_eve)
    app.add_exception_handler(BioblocksError, _handle_bioblocks)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)


#: OpenAPI description of the error envelope, shared by every route.
ENVELOPE: dict[str, Any] = {
    "description": "Error envelope: `_status` ERR, `_error` {code, message}, `_issues` on 422",
    "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {
            "_status": {"type": "string", "enum": ["ERR"]},
            "_error": {"type": "object", "properties": {
                "code": {"type": "integer"}, "message": {"type": "string"}}},
            "_issues": {"type": "object"},
            "_items": {"type": "array"},
        },
        "required": ["_status"],
    }}},
}

#: ``responses=`` for a route whose errors (any 4xx) are the envelope.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {422: ENVELOPE, "4XX": ENVELOPE}
