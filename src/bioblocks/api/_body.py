"""Request bodies of the Eve routes: size limit, Content-Type dispatch, JSON, forms, files."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from ..resources import MediaUpload
from .errors import EveHTTPError


async def read_body(request: Request, *, limit: int) -> bytes:
    """Return the request body; raise a 413 envelope when it is larger than ``limit``."""
    declared = request.headers.get("content-length")
    too_big = (
        f"The request body is larger than the limit of {limit} bytes "
        "(BIOBLOCKS_MAX_BODY_BYTES)"
    )
    if declared is not None:
        try:
            if int(declared) > limit:
                raise EveHTTPError(413, too_big)
        except ValueError:
            raise EveHTTPError(400, "Malformed Content-Length header") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EveHTTPError(413, too_big)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # noqa: SLF001 - lets request.form() parse the bytes already read
    return body


def _form_value(value: str) -> Any:
    """MULTIPART_FORM_FIELDS_AS_JSON: a JSON value when it parses, else the plain string."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


async def parse_body(request: Request, *, limit: int) -> Any:
    """Return the payload of a write: a dict, a list (JSON bulk) or any other JSON value.

    JSON, ``application/x-www-form-urlencoded`` (string fields) and
    ``multipart/form-data`` (fields JSON-decoded; file parts become
    :class:`MediaUpload`) are accepted; anything else is a 400 envelope.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (
        "application/json", "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        raise EveHTTPError(
            400,
            "Unknown or no Content-Type header supplied; send application/json "
            "(or multipart/form-data to upload files)",
        )
    body = await read_body(request, limit=limit)
    if content_type == "application/json":
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise EveHTTPError(400, f"The request body is not valid JSON: {exc}") from None
    try:
        form = await request.form(max_files=32, max_fields=1000)
    except (MultiPartException, ValueError, AssertionError) as exc:
        raise EveHTTPError(400, f"The form data cannot be parsed: {exc}") from None
    payload: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in payload:
            continue
        if isinstance(value, UploadFile):
            data = await value.read()
            payload[key] = MediaUpload(
                filename=value.filename or key,
                content_type=value.content_type or "application/octet-stream",
                data=data,
            )
        elif content_type == "multipart/form-data":
            payload[key] = _form_value(value)
        else:
            payload[key] = value
    await form.close()
    if not payload:
        kind = "form-urlencoded" if content_type.endswith("urlencoded") else "multipart/form-data"
        raise EveHTTPError(400, f"No {kind} data supplied")
    return payload
