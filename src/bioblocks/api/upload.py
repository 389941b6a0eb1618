"""A dataset's files through the API: matrix upload, and deletion with the dataset.

``PUT /dataset/<id>/matrix`` (credential needed) takes the matrix as the raw
request body (name it with ``?filename=``; the format is recognised from the
content) or as ``multipart/form-data`` with one file part per library (the
part's file name labels the library). The body is streamed to a file under
``<data_dir>/tmp/`` — never held in memory — and refused with 413 beyond
``Settings.max_upload_bytes``; then it is imported into the dataset with
:func:`bioblocks.pipeline.operations.import_dataset`. A file that cannot be
imported is a 422 whose ``_issues`` name the file and the problem; the
dataset and its folder are then exactly as before. Success answers 200 with
the dataset's meta fields, ``matrixLocation`` and ``matrixInfo``. Replacing an existing
matrix needs the dataset's ``_etag`` in ``If-Match`` (428 without, 412 on a mismatch).

``DELETE /dataset/<id>`` is Eve's item delete (If-Match rules) followed by
:func:`bioblocks.pipeline.operations.delete_dataset_files`: the dataset's
folder and its analyses (documents and files) go with it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..errors import InputError, InputTooLarge
from ..pipeline.operations import delete_dataset_files, import_dataset
from ..resources import RESOURCES
from ..storage import is_disk_full, matrix_path, staging_path, storage_full
from ..store import Store
from . import eve
from ._params import clean_etag
from .auth import require_write
from .errors import ERROR_RESPONSES, JSON, EveHTTPError
from .guard import dataset_writable, write_dataset

router = APIRouter(tags=["dataset"])

_DATASET = RESOURCES["dataset"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(name: str | None, fallback: str) -> str:
    cleaned = _SAFE.sub("_", Path(name or "").name).strip("._")
    return cleaned[:128] or fallback


class _TooLarge(Exception):
    pass


class _Writer:
    """Writes incoming bytes to files in ``folder``, counting them against ``limit``."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.size = 0
        self.paths: list[Path] = []
        self.handle: Any = None

    def open(self, name: str) -> None:
        self.close()
        path = self.folder / name
        if path.exists() or name in (p.name for p in self.paths):
            path = self.folder / f"{len(self.paths)}-{name}"
        self.paths.append(path)
        self.handle = path.open("wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge
        self.handle.write(data)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


async def _receive_multipart(request: Request, writer: _Writer, boundary: bytes) -> None:
    headers: dict[bytes, bytes] = {}
    field: list[bytes] = []
    value: list[bytes] = []
    state = {"file": False}

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.append(data[start:end])

    def on_header_end() -> None:
        headers[b"".join(field).lower()] = b"".join(value)
        field.clear()
        value.clear()

    def on_headers_finished() -> None:
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        state["file"] = filename is not None
        if state["file"]:
            name = filename.decode("utf-8", "replace") if filename else ""
            writer.open(_safe_name(name, f"part{len(writer.paths)}"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["file"]:
            writer.write(data[start:end])

    def on_part_end() -> None:
        if state["file"]:
            writer.close()

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    async for chunk in request.stream():
        parser.write(chunk)
    parser.finalize()


async def _receive(request: Request, folder: Path, filename: str | None, limit: int) -> list[Path]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    writer = _Writer(folder, limit)
    try:
        if content_type == b"multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                raise EveHTTPError(400, "multipart/form-data without a boundary")
            await _receive_multipart(request, writer, boundary)
        else:
            writer.open(_safe_name(filename, "matrix"))
            async for chunk in request.stream():
                writer.write(chunk)
    finally:
        writer.close()
    if not writer.paths or writer.size == 0:
        raise EveHTTPError(422, "no matrix received", extra={"_issues": {
            "matrix": "send the matrix as the request body or as a multipart file part"}})
    return writer.paths


def _check_matrix_etag(
    store: Store, settings: Settings, item_id: str, if_match: str | None
) -> None:
    """Raise 404 for a missing dataset, 428/412 when ``if_match`` does not allow the upload."""
    current = store.get("dataset", item_id)
    if current is None:
        raise EveHTTPError(404)
    has_matrix = bool(current.get("matrixInfo")) or matrix_path(
        settings.resolved_data_dir, item_id).is_file()
    if if_match is None and not has_matrix:
        return
    if if_match is None:
        raise EveHTTPError(428, "The dataset already has a matrix: to replace it, send its "
                                "_etag in the If-Match header")
    if clean_etag(if_match) != current["_etag"]:
        raise EveHTTPError(412, "Client and server etags don't match: the dataset changed; "
                                "read it again and send its new _etag in If-Match")


@router.put("/dataset/{item_id}/matrix", dependencies=[Depends(require_write),
                                                       Depends(write_dataset)],
            response_class=Response, summary="Upload a dataset's count matrix (streamed)",
            responses=ERROR_RESPONSES)
async def put_matrix(
    request: Request,
    item_id: str,
    filename: str | None = Query(None, description="Name of the uploaded file (raw bodies)."),
) -> Response:
    """Stream the matrix to disk, import it into the dataset; 200 with the dataset.

    Replacing a matrix follows the item rules: when the dataset already has one, the
    dataset's ``_etag`` must come in ``If-Match`` (428 without it, 412 when it differs,
    checked before the upload and again before the import); a first upload needs none,
    but an ``If-Match`` that is sent is always checked.
    """
    eve._check_id(item_id)  # noqa: SLF001
    store = request.app.state.store
    settings = request.app.state.settings
    if_match = request.headers.get("if-match")
    _check_matrix_etag(store, settings, item_id, if_match)
    folder = staging_path(settings.resolved_data_dir, "upload")
    try:
        try:
            folder.mkdir()
            paths = await _receive(request, folder, filename, settings.max_upload_bytes)
        except _TooLarge:
            raise EveHTTPError(413, f"The matrix is larger than the limit of "
                                    f"{settings.max_upload_bytes} bytes "
                                    "(BIOBLOCKS_MAX_UPLOAD_BYTES)") from None
        except OSError as exc:  # a full disk while receiving: 507, the partial upload removed
            if not is_disk_full(exc):
                raise
            raise storage_full(folder.parent) from exc
        await run_in_threadpool(_check_matrix_etag, store, settings, item_id, if_match)
        try:
            doc = await run_in_threadpool(import_dataset, store, settings, paths, dataset_id=item_id)
        except InputError as exc:
            raise EveHTTPError(413 if isinstance(exc, InputTooLarge) else 422, str(exc),
                               extra={"_issues": {
                exc.field or "matrix": exc.message}}) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    body = {**eve._write_body(_DATASET, doc), "matrixLocation": doc["matrixLocation"],  # noqa: SLF001
            "matrixInfo": doc["matrixInfo"]}
    return eve._json(body, headers={"ETag": f'"{doc["_etag"]}"'})  # noqa: SLF001


@router.delete("/dataset/{item_id}", dependencies=[Depends(require_write)],
               response_class=Response, summary="Delete a dataset, its files and its analyses")
async def delete_dataset(request: Request, item_id: str) -> Response:
    """Eve's item DELETE, then the dataset's folder and analyses are removed too."""
    store = request.app.state.store
    eve._check_id(item_id)  # noqa: SLF001
    if not await run_in_threadpool(dataset_writable, request, item_id):
        return Response(status_code=204, media_type=JSON)  # hidden: as a missing one
    current = store.get("dataset", item_id) or {}
    response = await run_in_threadpool(
        eve.delete_item, store, _DATASET, item_id, request.headers.get("if-match")
    )
    await run_in_threadpool(delete_dataset_files, store, request.app.state.settings, item_id,
                            analysis_ids=list(current.get("analyses") or []))
    return response
