"""``GET/HEAD /datasets/<path>`` and ``/spring/datasets/<path>``: the files tree.

Serves ``<data_dir>/datasets/...`` (canonical matrices, analysis folders) to
front-ends: single byte ranges (206, 416 when unsatisfiable), ``ETag`` and
``Last-Modified`` with 304 answers to ``If-None-Match``/``If-Modified-Since``,
gzip for text when the client accepts it (never for ranges), fixed content
types by suffix (text is ``text/plain``; nothing is ever served as HTML or a
script) with ``X-Content-Type-Options: nosniff``, and Eve 404 envelopes for
anything missing, a folder, or outside the tree. Paths go through
:func:`bioblocks.storage.safe_resolve` (``..``, encoded and double-encoded
traversal, backslashes, NUL, absolute paths and symlinks leaving the tree are
refused). Files are streamed in chunks.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ..storage import PathOutsideDataDir, safe_resolve
from .auth import require_read
from .errors import ERROR_RESPONSES, eve_error

router = APIRouter()

CHUNK = 256 * 1024
GZIP_MIN_BYTES = 1024
TEXT_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/plain; charset=utf-8",
    ".tsv": "text/plain; charset=utf-8",
    ".json": "application/json",
}
BINARY = "application/octet-stream"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_NOT_FOUND = "The requested file was not found."


def content_type(name: str) -> str:
    """Return the content type served for a file name (by suffix; binary otherwise)."""
    return TEXT_TYPES.get(os.path.splitext(name)[1].lower(), BINARY)


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """Parse a ``Range`` header for a file of ``size`` bytes.

    Returns the inclusive ``(first, last)`` byte range, None to ignore the header
    (malformed, or several ranges: the whole file is sent), or False when it is
    unsatisfiable (416).
    """
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        length = int(last_text)
        if length == 0 or size == 0:
            return False
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        return False
    return first, min(last, size - 1)


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        return _etag_matches(inm, etag)
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        return int(mtime) <= since
    return False


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params or float(q) > 0
            except ValueError:
                return False
    return False


def _read_chunks(fh: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    fh.seek(start)
    left = length
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk


def _gzip_chunks(fh: BinaryIO) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    while chunk := fh.read(CHUNK):
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def _serve(request: Request, path: str) -> Response:
    settings = request.app.state.settings
    root = settings.resolved_data_dir / "datasets"
    try:
        target = safe_resolve(root, path, decode=True)
    except PathOutsideDataDir:
        return eve_error(404, _NOT_FOUND)
    try:
        fh = open(target, "rb")  # noqa: SIM115 - closed after streaming
    except OSError:
        return eve_error(404, _NOT_FOUND)
    try:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            return eve_error(404, _NOT_FOUND)
        return _respond(request, fh, st, target.name)
    except BaseException:
        fh.close()
        raise


def _respond(request: Request, fh: BinaryIO, st: os.stat_result, name: str) -> Response:
    size = st.st_size
    ctype = content_type(name)
    compressible = ctype != BINARY
    base_tag = f"{st.st_mtime_ns:x}-{size:x}"
    headers = {
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    if compressible:
        headers["Vary"] = "Accept-Encoding"
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if (
        range_header
        and if_range
        and if_range.strip() not in (f'"{base_tag}"', headers["Last-Modified"])
    ):
        range_header = None
    use_gzip = (
        compressible and not range_header and size >= GZIP_MIN_BYTES and _accepts_gzip(request)
    )
    etag = f'"{base_tag}-gz"' if use_gzip else f'"{base_tag}"'
    headers["ETag"] = etag
    head = request.method == "HEAD"
    if _not_modified(request, etag, st.st_mtime):
        fh.close()
        return Response(status_code=304, headers=headers)
    if range_header:
        span = parse_range(range_header, size)
        if span is False:
            fh.close()
            return eve_error(416, headers={"Content-Range": f"bytes */{size}", **headers})
        if span is not None:
            first, last = span
            length = last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            headers["Content-Length"] = str(length)
            if head:
                fh.close()
                return Response(status_code=206, headers=headers, media_type=ctype)
            return StreamingResponse(
                _read_chunks(fh, first, length),
                status_code=206,
                headers=headers,
                media_type=ctype,
                background=BackgroundTask(fh.close),
            )
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        if head:
            fh.close()
            return Response(status_code=200, headers=headers, media_type=ctype)
        return StreamingResponse(
            _gzip_chunks(fh), headers=headers, media_type=ctype, background=BackgroundTask(fh.close)
        )
    headers["Content-Length"] = str(size)
    if head:
        fh.close()
        return Response(status_code=200, headers=headers, media_type=ctype)
    return StreamingResponse(
        _read_chunks(fh, 0, size),
        headers=headers,
        media_type=ctype,
        background=BackgroundTask(fh.close),
    )


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    206: {"description": "Partial content (Range)"},
    304: {"description": "Not modified"},
    **ERROR_RESPONSES,
}


def _file_route(path: str, summary: str, name: str) -> Callable[[Callable[..., Response]], Any]:
    """Register a handler for GET and HEAD of ``path`` (one OpenAPI operation id each)."""

    def register(handler: Callable[..., Response]) -> Any:
        for method in ("GET", "HEAD"):
            router.add_api_route(
                path, handler, methods=[method], dependencies=[Depends(require_read)],
                summary=summary, responses=_FILE_RESPONSES,
                operation_id=f"{method.lower()}_{name}",
            )
        return handler

    return register


@_file_route("/datasets/{path:path}", "A file of the datasets tree", "dataset_file")
def dataset_file(request: Request, path: str) -> Response:
    """Serve ``<data_dir>/datasets/<path>`` (Range, ETag/304, gzip for text)."""
    return _serve(request, path)


@_file_route("/spring/datasets/{path:path}",
             "A file of the datasets tree (the SPRING viewer's old path)", "spring_dataset_file")
def spring_dataset_file(request: Request, path: str) -> Response:
    """Serve ``<data_dir>/datasets/<path>``: the old ``/spring/datasets/...`` alias."""
    return _serve(request, path)
