"""One HTTP layer for files: ``/datasets/<path>`` (and ``/spring/datasets/<path>``), media.

Dataset files (``<data_dir>/datasets/...``: canonical matrices, analysis
folders) and uploaded media (:mod:`bioblocks.api.media`) are both answered by
:func:`file_response`: Starlette's :class:`~starlette.responses.FileResponse`
serves byte ranges (206, several ranges as ``multipart/byteranges``),
``If-Range`` and HEAD; an unsatisfiable range is a 416 envelope with
``Content-Range: bytes */<size>``, and a malformed one (``bytes=5-2``,
``items=0-1``, ``bytes=-``) is ignored (the whole file, RFC 9110 §14.2).
``ETag``/``Last-Modified`` with 304 answers to ``If-None-Match``/
``If-Modified-Since``; gzip for text when the client accepts it (never for
ranges); content types from one table (:func:`content_type`: nothing is ever
served as HTML or a script) with ``X-Content-Type-Options: nosniff``; Eve 404
envelopes for anything missing, a folder, or outside the tree. Paths go
through :func:`bioblocks.storage.safe_resolve` (``..``, encoded and
double-encoded traversal, backslashes, NUL, absolute paths and symlinks
leaving the tree are refused). A ``categorical_coloring_data.json`` of an analysis with
annotations is served with them added as tracks
(:func:`bioblocks.api.annotations.merged_categorical`; the file stays as it is).
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable

from ..storage import PathOutsideDataDir, safe_resolve
from .auth import require_read
from .errors import ERROR_RESPONSES, eve_error
from .guard import dataset_hidden

router = APIRouter()

CHUNK = 256 * 1024
GZIP_MIN_BYTES = 1024
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
#: The one content-type table: dataset files by suffix; anything else is binary.
CONTENT_TYPES = {".txt": TEXT, ".csv": TEXT, ".tsv": TEXT, ".json": "application/json"}
#: Declared (media) types a browser would run as a page or a script: served as binary.
_ACTIVE = ("html", "xml", "script", "svg")
_NOT_FOUND = "The requested file was not found."
#: The SPRING viewer's categorical tracks: served with the analysis's annotations added.
CATEGORICAL_TRACKS = "categorical_coloring_data.json"


def content_type(name: str, declared: str | None = None) -> str:
    """Return the content type a file is served with.

    A dataset file gets its type from :data:`CONTENT_TYPES` by the suffix of
    ``name``; a media file (``declared``: the type stored at upload) keeps its
    type unless a browser would run it (HTML, XML, SVG, scripts). Anything
    else is ``application/octet-stream``.
    """
    if declared is not None:
        lowered = declared.lower()
        return BINARY if not declared or any(a in lowered for a in _ACTIVE) else declared
    return CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), BINARY)


class _FileResponse(FileResponse):
    """Starlette's FileResponse, ignoring a malformed ``Range`` as RFC 9110 §14.2 says."""

    chunk_size = CHUNK
    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no ranges: the whole file, 200


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


def _gzip_chunks(fh: BinaryIO) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    while chunk := fh.read(CHUNK):
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def file_response(
    request: Request, target: Path, *, media_type: str, modified: float | None = None
) -> Response:
    """Answer a GET or HEAD of ``target``, a path already confined to its tree.

    ``media_type`` comes from :func:`content_type`; ``modified`` (POSIX time) is
    the ``Last-Modified`` date when it is not the file's mtime (media: the upload
    time). Returns a 404 envelope unless ``target`` is a regular file, a 304, a
    416 envelope for an unsatisfiable range, a gzip stream (text, no ``Range``,
    accepted by the client) or a :class:`FileResponse` (200, or 206 for ranges).
    """
    try:
        st = os.stat(target)
    except OSError:
        return eve_error(404, _NOT_FOUND)
    if not stat.S_ISREG(st.st_mode):
        return eve_error(404, _NOT_FOUND)
    mtime = st.st_mtime if modified is None else modified
    compressible = media_type in CONTENT_TYPES.values()
    headers = {
        "Last-Modified": formatdate(mtime, usegmt=True),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes",
    }
    if compressible:
        headers["Vary"] = "Accept-Encoding"
    range_header = request.headers.get("range")
    use_gzip = (compressible and range_header is None and st.st_size >= GZIP_MIN_BYTES
                and _accepts_gzip(request))
    base_tag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
    headers["ETag"] = f'"{base_tag}-gz"' if use_gzip else f'"{base_tag}"'
    if _not_modified(request, headers["ETag"], mtime):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            return Response(headers=headers, media_type=media_type)
        fh = open(target, "rb")  # noqa: SIM115 - closed after streaming
        return StreamingResponse(_gzip_chunks(fh), headers=headers, media_type=media_type,
                                 background=BackgroundTask(fh.close))
    response = _FileResponse(target, headers=headers, media_type=media_type, stat_result=st)
    if_range = request.headers.get("if-range")
    if range_header is not None and (if_range is None or response._should_use_range(if_range)):
        try:  # the same check FileResponse makes, to answer 416 in the envelope
            response._parse_range_header(range_header, st.st_size)
        except RangeNotSatisfiable:
            return eve_error(416, headers={"Content-Range": f"bytes */{st.st_size}", **headers})
    return response


def _serve(request: Request, path: str) -> Response:
    root = request.app.state.settings.resolved_data_dir / "datasets"
    try:
        target = safe_resolve(root, path, decode=True)
    except PathOutsideDataDir:
        return eve_error(404, _NOT_FOUND)
    parts = target.relative_to(root).parts if target.is_relative_to(root) else ()
    if parts and dataset_hidden(request, parts[0]):
        return eve_error(404, _NOT_FOUND)  # a private dataset's files, as missing ones
    if target.name == CATEGORICAL_TRACKS:
        from .annotations import merged_categorical  # the annotations join the folder's tracks

        merged = merged_categorical(request, target)
        if merged is not None:
            return merged
    return file_response(request, target, media_type=content_type(target.name))


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
