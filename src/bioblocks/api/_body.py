"""Request bodies of the Eve routes: size limit, Content-Type dispatch, JSON, forms, files."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from ..resources import MediaUpload
from ..store import INT64_MAX, INT64_MIN, MAX_DOCUMENT_DEPTH, nesting_depth
from .errors import EveHTTPError

#: A run of digits long enough to be an integer beyond 64 bits (orjson reads those as floats).
_LONG_DIGITS = re.compile(rb"\d{19,}")


class _HugeInt(str):
    """An integer literal outside the signed 64-bit range, kept as its text."""


def _parse_int(text: str) -> int | _HugeInt:
    try:
        value = int(text)
    except ValueError:  # more digits than Python converts
        return _HugeInt(text)
    return value if INT64_MIN <= value <= INT64_MAX else _HugeInt(text)


def _huge_integers(raw: bytes, prefix: str = "") -> dict[str, str]:
    """``{dotted path: message}`` for each integer literal of ``raw`` beyond signed 64 bits."""
    if not _LONG_DIGITS.search(raw):
        return {}
    value = json.loads(raw, parse_int=_parse_int)
    issues: dict[str, str] = {}
    stack: list[tuple[Any, str]] = [(value, prefix)]
    while stack and len(issues) < 10:
        node, path = stack.pop()
        if isinstance(node, _HugeInt):
            issues[path or "body"] = (
                f"the integer {str(node)[:40]} is outside the signed 64-bit range the store "
                f"keeps exactly ({INT64_MIN}..{INT64_MAX}); send it as a string"
            )
        elif isinstance(node, dict | list):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in items)
    return issues


def load_json(raw: bytes | str, *, what: str = "The request body", field: str = "") -> Any:
    """Parse JSON exactly: return the value, or raise a 400/422 envelope.

    400 for invalid JSON or nesting deeper than ``MAX_DOCUMENT_DEPTH``; 422 whose
    ``_issues`` name each integer beyond the signed 64-bit range (never read as a float),
    by its dotted path below ``field``.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "recursion" in str(exc).lower() or "depth" in str(exc).lower():
            raise EveHTTPError(400, f"{what} is nested too deeply: at most "
                                    f"{MAX_DOCUMENT_DEPTH} levels are accepted") from None
        try:
            issues = _huge_integers(data, field)
        except (ValueError, RecursionError):
            issues = {}
        if issues:  # orjson reads an integer of more than 308 digits as infinity
            raise EveHTTPError(422, f"{what} holds integers the store cannot keep exactly",
                               extra={"_issues": issues}) from None
        raise EveHTTPError(400, f"{what} is not valid JSON: {exc}") from None
    if nesting_depth(value, limit=MAX_DOCUMENT_DEPTH + 1) > MAX_DOCUMENT_DEPTH + 1:
        raise EveHTTPError(400, f"{what} is nested too deeply: at most "
                                f"{MAX_DOCUMENT_DEPTH} levels are accepted")
    issues = _huge_integers(data, field)
    if issues:
        raise EveHTTPError(422, f"{what} holds integers the store cannot keep exactly",
                           extra={"_issues": issues})
    return value


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


def _form_value(value: str, name: str) -> Any:
    """MULTIPART_FORM_FIELDS_AS_JSON: a JSON value when it parses, else the plain string."""
    what = f"Form field {name!r}"
    try:
        orjson.loads(value)
    except orjson.JSONDecodeError:
        if not _LONG_DIGITS.search(value.encode()):
            return value
        try:  # refused only for integers beyond 64 bits (422); other text stays a string
            return load_json(value, what=what, field=name)
        except EveHTTPError as exc:
            if exc.status == 422:
                raise
            return value
    return load_json(value, what=what, field=name)


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
        return load_json(body)
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
            payload[key] = _form_value(value, key)
        else:
            payload[key] = value
    await form.close()
    if not payload:
        kind = "form-urlencoded" if content_type.endswith("urlencoded") else "multipart/form-data"
        raise EveHTTPError(400, f"No {kind} data supplied")
    return payload
