"""Saved annotations over HTTP: their writes, versions and labels, and their tracks.

The ``annotation`` collection is an Eve resource (``GET /annotation`` is the generic
router's); this module serves its writes and items, which keep every version
(:mod:`bioblocks.documents` ``_annotations``: the labels file beside the document):

* ``POST /annotation`` ``{"analysis", "name", "categories": [{"name", "color"}],
  "cells": {category: [cell index, ...]}}``: 201 with ``_id``/``_etag`` (Eve's answer);
  ``author`` is the token's name. Cells in no list are unlabelled;
* ``PATCH /annotation/{id}`` with ``If-Match``: a new version (any of ``name``,
  ``categories``, ``cells``); 428 without ``If-Match``, 412 for a stale one (nothing
  written); ``DELETE /annotation/{id}`` with ``If-Match``: every version goes;
* ``GET /annotation/{id}[?version=N]``: the document (an earlier version with its own
  ``_etag``, ``_updated`` and ``author``); ``GET /annotation/{id}/history``: every
  version's ``version``, ``_etag``, ``_updated``, ``author`` and ``name``;
* ``GET /annotation/{id}/labels[?version=N]``: ``{"cells": {category: [index, ...]},
  "cellCount", "version"}``, or with ``Accept: application/octet-stream`` (or
  ``?format=i16``) one little-endian int16 per cell: the index of its category in that
  version's ``categories``, -1 for unlabelled.

An annotation is a categorical track of its analysis and of every analysis with the
same cells (a SPRING analysis and its t-SNE/UMAP): :func:`annotation_tracks` gives
them to differential expression, :func:`merged_categorical` to the SPRING viewer's
``categorical_coloring_data.json`` (the file on disk is never changed).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from .. import documents
from ..errors import NotFoundError
from ..resources import RESOURCES, format_date, parse_date
from ..store import Doc, Store
from ._body import parse_body
from .auth import require_read, require_write, writer_name
from .errors import ERROR_RESPONSES, JSON, EveHTTPError, dumps
from .eve import _as_eve, _check_id, _created, _invalid, _item_path, _Renderer, _write_body
from .guard import checked, item_guard

router = APIRouter(tags=["annotation"], dependencies=[Depends(item_guard("annotation"))])

_RESOURCE = RESOURCES["annotation"]
BINARY = "application/octet-stream"
LABEL_FORMATS = ("json", "i16")


def _store(request: Request) -> Store:
    return request.app.state.store


def _data_dir(request: Request) -> Path:
    return Path(request.app.state.settings.resolved_data_dir)


def _locate(store: Store, data_dir: Path) -> documents.Locate:
    """``locate`` for the document service: an analysis's label folder, cells and tracks."""
    from ..analysis.explore import subplot_cells
    from ..analysis.spring_folder import read_categorical
    from .diffexp import analysis_folders

    def locate(analysis_id: str) -> documents.AnalysisCells:
        folder, subplot = analysis_folders(store, data_dir, analysis_id)
        return documents.AnalysisCells(
            folder=folder / documents.LABELS_FOLDER,
            n_cells=subplot_cells(subplot),
            tracks=frozenset(read_categorical(subplot)),
        )

    return locate


@contextmanager
def _answer_invalid() -> Iterator[list[Response]]:
    """Turn the document service's InvalidDocuments into Eve's 422 (held in the list)."""
    out: list[Response] = []
    try:
        with _as_eve():
            yield out
    except documents.InvalidDocuments as exc:
        out.append(_invalid(exc))


# -- versions ------------------------------------------------------------------------------


def _get(store: Store, item_id: str) -> Doc:
    _check_id(item_id)
    doc = store.get("annotation", item_id)
    if doc is None:
        raise EveHTTPError(404)
    return doc


def _version(doc: Doc, version: int | None) -> Doc:
    """The stored ``doc`` at ``version`` (the current one for None); 404 when it has none."""
    if version is None:
        return doc
    found = documents.annotation_version(doc, version)
    if found is None:
        raise EveHTTPError(
            404, f"Annotation {doc['_id']} has versions 1 to {doc.get('version', 1)}, not "
            f"{version}; see /annotation/{doc['_id']}/history.",
        )
    if isinstance(found.get("_updated"), str):
        found["_updated"] = parse_date(found["_updated"])
    return found


def _links(item_id: str) -> dict[str, Any]:
    base = f"annotation/{item_id}"
    return {
        "self": {"title": "Annotation", "href": base},
        "parent": {"title": "home", "href": "/"},
        "collection": {"title": "annotation", "href": "annotation"},
        "history": {"title": "versions", "href": f"{base}/history"},
        "labels": {"title": "labels", "href": f"{base}/labels"},
    }


def get_annotation(request: Request, item_id: str, version: int | None) -> Response:
    """The annotation (at ``version``) with its ETag; 304 for a matching If-None-Match."""
    doc = _version(_get(_store(request), item_id), version)
    etag = f'"{doc["_etag"]}"'
    if request.headers.get("if-none-match", "").strip() == etag:
        return Response(status_code=304, headers={"ETag": etag})
    body = _Renderer(set(), None).doc(_RESOURCE, doc)
    body["version"] = int(doc.get("version") or 1)
    body["_links"] = _links(item_id)
    headers = {"ETag": etag, "Last-Modified": format_date(doc["_updated"])}
    return Response(dumps(body), media_type=JSON, headers=headers)


def history(request: Request, item_id: str) -> Response:
    """Every version of the annotation, oldest first: version, _etag, _updated, author, name."""
    doc = _get(_store(request), item_id)
    current = {"version": int(doc.get("version") or 1), "_etag": doc["_etag"],
               "_updated": format_date(doc["_updated"]), "author": doc.get("author"),
               "name": doc.get("name")}
    keys = ("version", "_etag", "_updated", "author", "name")
    items = [{k: entry.get(k) for k in keys} for entry in doc.get("history") or []]
    body = {"_id": item_id, "_items": [*items, current], "_links": _links(item_id)}
    return Response(dumps(body), media_type=JSON)


def _wants_binary(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        if fmt not in LABEL_FORMATS:
            raise EveHTTPError(422, f"Unknown format {fmt!r}.",
                               extra={"_issues": {"format": "use json or i16"}})
        return fmt == "i16"
    accept = request.headers.get("accept", "")
    return BINARY in accept and JSON not in accept


def labels(request: Request, item_id: str, version: int | None, fmt: str | None) -> Response:
    """The labels of the annotation (at ``version``): JSON lists per category, or int16."""
    binary = _wants_binary(request, fmt)
    doc = _version(_get(_store(request), item_id), version)
    codes = documents.read_labels(_data_dir(request), doc)
    number = int(doc.get("version") or 1)
    headers = {"ETag": f'"{doc["_etag"]}"', "X-Annotation-Version": str(number)}
    if binary:
        return Response(codes.astype("<i2").tobytes(), media_type=BINARY, headers=headers)
    body = {"_id": item_id, "version": number, "cellCount": int(codes.size),
            "categories": doc.get("categories") or [],
            "cells": documents.decode_labels(codes, documents.category_names(doc))}
    return Response(dumps(body), media_type=JSON, headers=headers)


# -- writes --------------------------------------------------------------------------------


def create(request: Request, payload: object, author: str) -> Response:
    """POST: version 1 (:func:`bioblocks.documents.create_annotation`); 201 or 422."""
    store, data_dir = _store(request), _data_dir(request)
    with _answer_invalid() as refused:
        doc = documents.create_annotation(store, payload, author=author, data_dir=data_dir,
                                          locate=_locate(store, data_dir))
        return _created(_RESOURCE, [doc], str(request.base_url), single=True)
    return refused[0]


def update(request: Request, item_id: str, payload: object, author: str) -> Response:
    """PATCH: a new version (:func:`bioblocks.documents.update_annotation`)."""
    _check_id(item_id)
    store, data_dir = _store(request), _data_dir(request)
    with _answer_invalid() as refused:
        new = documents.update_annotation(
            store, item_id, payload, etag=_if_match(request), author=author,
            data_dir=data_dir, locate=_locate(store, data_dir),
        )
        body = {**_write_body(_RESOURCE, new), "version": new["version"]}
        return Response(dumps(body), media_type=JSON, headers={"ETag": f'"{new["_etag"]}"'})
    return refused[0]


def delete(request: Request, item_id: str) -> Response:
    """DELETE: the annotation and every version's labels; 204, also when missing."""
    _check_id(item_id)
    with _as_eve():
        documents.delete_annotation(_store(request), item_id, etag=_if_match(request),
                                    data_dir=_data_dir(request))
    return Response(status_code=204, media_type=JSON)


def _if_match(request: Request) -> str | None:
    from ._params import clean_etag

    value = request.headers.get("if-match")
    return clean_etag(value) if value is not None else None


# -- tracks --------------------------------------------------------------------------------


def cell_siblings(store: Store, analysis_id: str) -> list[str]:
    """The analyses with the cells of ``analysis_id``: its SPRING analysis (itself, or the
    one a t-SNE/UMAP was computed from) and every t-SNE/UMAP computed from that."""
    doc = store.get("analysis", analysis_id)
    if doc is None:
        return []
    owner = analysis_id
    if doc.get("processType") in ("TSNE", "UMAP"):
        owner = str((doc.get("parameters") or {}).get("springAnalysis") or analysis_id)
    derived = store.find("analysis", {"parameters.springAnalysis": owner})
    return list(dict.fromkeys([owner, analysis_id, *(d["_id"] for d in derived)]))


def annotations_of(store: Store, analysis_id: str) -> list[Doc]:
    """The annotations shown with ``analysis_id`` (on any analysis of the same cells)."""
    ids = cell_siblings(store, analysis_id)
    if not ids:
        return []
    return store.find("annotation", {"analysis": {"$in": ids}}, sort=[("_created", 1)])


def annotation_tracks(store: Store, data_dir: Path, analysis_id: str,
                      n_cells: int) -> dict[str, dict[str, Any]]:
    """Return the annotations of ``analysis_id`` as SPRING categorical tracks (name →
    ``label_colors``, ``label_list``); one whose labels do not fit ``n_cells`` is left out."""
    tracks: dict[str, dict[str, Any]] = {}
    for doc in annotations_of(store, analysis_id):
        try:
            codes = documents.read_labels(data_dir, doc)
        except NotFoundError:
            continue
        if codes.size == n_cells:
            tracks[str(doc["name"])] = documents.as_track(codes, doc)
    return tracks


def label_arrays(store: Store, data_dir: Path, analysis_id: str,
                 n_cells: int) -> dict[str, np.ndarray]:
    """Return the annotation tracks of ``analysis_id`` as one label (str) per cell, as
    :func:`bioblocks.analysis.explore.read_tracks` gives the folder's tracks."""
    return {name: np.asarray(track["label_list"], dtype=str)
            for name, track in annotation_tracks(store, data_dir, analysis_id, n_cells).items()}


def _analysis_of(path: Path, data_dir: Path) -> str | None:
    """The analysis id of a file ``datasets/<dataset>/analyses/<id>/...`` (None otherwise)."""
    parts = path.relative_to(data_dir).parts
    if len(parts) >= 5 and parts[0] == "datasets" and parts[2] == "analyses":
        return parts[3]
    return None


def merged_categorical(request: Request, target: Path) -> Response | None:
    """Answer a GET of a ``categorical_coloring_data.json`` with the annotations of its
    analysis added as tracks; None when it has none (the file is then served as it is).

    The merged body has its own ETag (the file's and the annotations' etags), a 304 for a
    matching If-None-Match, gzip when accepted; no ranges (a 200 with the whole body).
    """
    data_dir = _data_dir(request)
    try:
        analysis_id = _analysis_of(target, data_dir)
    except ValueError:
        return None
    if analysis_id is None or not target.is_file():
        return None
    docs = annotations_of(_store(request), analysis_id)
    if not docs:
        return None
    st = target.stat()
    digest = hashlib.sha1(
        "".join(f"{d['_id']}{d['_etag']}" for d in docs).encode(), usedforsecurity=False
    ).hexdigest()[:16]
    tag = f'"{st.st_mtime_ns:x}-{st.st_size:x}-a{digest}"'
    headers = {"ETag": tag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
               "Accept-Ranges": "none", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match", "").strip() in (tag, "*"):
        return Response(status_code=304, headers=headers)
    tracks: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    first: dict[str, Any] = next(iter(tracks.values()), {})
    n_cells = len(first.get("label_list") or [])
    for name, track in annotation_tracks(_store(request), data_dir, analysis_id,
                                         n_cells).items():
        tracks.setdefault(name, track)
    body = dumps(tracks)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body, compresslevel=6)
    if request.method == "HEAD":
        return Response(headers={**headers, "Content-Length": str(len(body))}, media_type=JSON)
    return Response(body, media_type=JSON, headers=headers)


def annotation_items(store: Store, analysis_id: str) -> list[dict[str, Any]]:
    """The annotations of an analysis for its file list: ``_id``, ``name``, ``version``,
    ``author``, ``categories`` and the ``labels`` href."""
    return [
        {"_id": d["_id"], "name": d.get("name"), "version": d.get("version"),
         "author": d.get("author"), "categories": d.get("categories") or [],
         "labels": f"annotation/{d['_id']}/labels"}
        for d in annotations_of(store, analysis_id)
    ]


# -- routes --------------------------------------------------------------------------------

Version = Annotated[int | None, Query(ge=1, description="A version (1, 2, ...); default the "
                                      "current one. `/history` lists them.")]
_ETAG_HEADER = {"parameters": [{
    "name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
    "description": "The `_etag` the client last read (428 without it, 412 when stale).",
}]}
_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["analysis", "name", "categories", "cells"],
        "properties": {
            "analysis": {"type": "string", "description": "the analysis `_id`"},
            "name": {"type": "string", "maxLength": 128},
            "categories": {"type": "array", "items": {
                "type": "object", "required": ["name", "color"],
                "properties": {"name": {"type": "string"},
                               "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}}}},
            "cells": {"type": "object", "description": "category name → the indices of its "
                      "cells (in the order of the analysis's coordinates); other cells are "
                      "unlabelled",
                      "additionalProperties": {"type": "array", "items": {"type": "integer"}}},
        },
        "additionalProperties": False,
    }}}},
}
_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"description": "OK"}, **ERROR_RESPONSES}


@router.post("/annotation", dependencies=[Depends(require_write)], status_code=201,
             responses={201: {"description": "Created: `_id`, `_etag`"}, **ERROR_RESPONSES},
             openapi_extra=_BODY, response_class=Response, summary="Create an annotation")
async def post_annotation(request: Request) -> Response:
    """Save a named labelling of an analysis's cells (version 1)."""
    payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
    await checked(request, "annotation", None, payload)  # write on the analysis's dataset
    return await run_in_threadpool(create, request, payload, writer_name(request))


@router.get("/annotation/{item_id}", dependencies=[Depends(require_read)],
            responses=_RESPONSES, response_class=Response, summary="Get one annotation")
def get_annotation_item(request: Request, version: Version = None,
                        item_id: str = _item_path()) -> Response:
    """The annotation document, or one of its earlier versions."""
    return get_annotation(request, item_id, version)


@router.patch("/annotation/{item_id}", dependencies=[Depends(require_write)],
              responses=_RESPONSES, response_class=Response,
              openapi_extra={**_ETAG_HEADER, "requestBody": {"content": {"application/json": {
                  "schema": {"type": "object", "description": "any of name, categories, "
                             "cells (as for POST)"}}}}},
              summary="Update an annotation (a new version)")
async def patch_annotation(request: Request, item_id: str = _item_path()) -> Response:
    """Write a new version of the annotation; the earlier ones stay readable."""
    payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
    return await run_in_threadpool(update, request, item_id, payload, writer_name(request))


@router.delete("/annotation/{item_id}", dependencies=[Depends(require_write)],
               status_code=204, responses={204: {"description": "Deleted"}, **ERROR_RESPONSES},
               openapi_extra=_ETAG_HEADER, response_class=Response,
               summary="Delete an annotation")
def delete_annotation_item(request: Request, item_id: str = _item_path()) -> Response:
    """Delete the annotation with all its versions."""
    return delete(request, item_id)


@router.get("/annotation/{item_id}/history", dependencies=[Depends(require_read)],
            responses=_RESPONSES, response_class=Response, summary="An annotation's versions")
def get_history(request: Request, item_id: str = _item_path()) -> Response:
    """Every version of the annotation with its `_etag`, `_updated` and `author`."""
    return history(request, item_id)


@router.get("/annotation/{item_id}/labels", dependencies=[Depends(require_read)],
            responses={200: {"description": "JSON `{cells: {category: [index]}}`, or int16 "
                             "per cell (-1 unlabelled)",
                             "content": {JSON: {}, BINARY: {}}}, **ERROR_RESPONSES},
            response_class=Response, summary="An annotation's per-cell labels")
def get_labels(
    request: Request, version: Version = None,
    fmt: Annotated[str | None, Query(alias="format", description="json or i16 (default: by "
                                     "Accept)")] = None,
    item_id: str = _item_path(),
) -> Response:
    """The labels of the annotation (or of one version), as JSON or int16."""
    return labels(request, item_id, version, fmt)


__all__ = ["annotation_items", "annotation_tracks", "cell_siblings", "label_arrays",
           "merged_categorical", "router"]
