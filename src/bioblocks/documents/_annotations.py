"""Annotations: the document and its per-cell labels, written together, every version kept.

The invariants, for every write (:func:`create_annotation`, :func:`update_annotation`,
:func:`delete_annotation`):

* the labels of a version are one file, ``<analysis folder>/annotations/<annotation
  id>/<32 hex>.npy``: int16, one entry per cell of the analysis (in the order of its
  coordinates), the index of the cell's category in that version's ``categories`` or
  ``-1`` for an unlabelled cell. A file is written once and never changed; the
  document's ``labelsFile`` names the current version's (relative to the data
  directory), each ``history`` entry its own version's;
* a write stages the file under ``tmp/``, renames it into place under a fresh name, then
  writes the document by compare-and-swap on the client's etag. When the swap loses
  (:class:`~bioblocks.store.EtagMismatch`, a 412) or fails, the file is removed again;
  a file that no document names is never served, so nothing is half-visible;
* ``history`` lists every earlier version, oldest first, as ``{"version", "_etag",
  "_updated", "author", "name", "categories", "cellCount", "labelsFile"}`` (``_updated``
  in Eve's date format); versions count from 1.

The labels come in a request as ``cells``: ``{category name: [cell index, ...]}``; a
cell in no list is unlabelled. The analysis's folder, its number of cells and the
names of its own tracks come from the caller (``locate``), which knows the analysis
folder format.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NotFoundError
from ..resources import Resource, format_date
from ..resources.annotation import RESOURCE
from ..storage import staging_path
from ..store import Doc, Store
from ._cascade import remove_label_files
from ._write import DocumentMissing, ImmutableId, InvalidDocuments, check_etag

log = logging.getLogger(__name__)

#: The folder of an analysis that holds its annotations' label files.
LABELS_FOLDER = "annotations"
#: The label of unlabelled cells where an annotation is shown as a track.
UNLABELLED = "Unlabelled"
UNLABELLED_COLOR = "#d3d3d3"
#: The field of a request body holding the labels (not a document field).
CELLS_FIELD = "cells"


@dataclass(frozen=True)
class AnalysisCells:
    """What an annotation needs to know of its analysis (from ``locate``)."""

    #: ``<analysis folder>/annotations``: where the label files go.
    folder: Path
    #: Cells of the analysis, in the order of its coordinates.
    n_cells: int
    #: Names of the analysis's own categorical tracks (an annotation may not take one).
    tracks: frozenset[str]


Locate = Callable[[str], AnalysisCells]


def _invalid(issues: dict[str, Any], *, on_insert: bool) -> InvalidDocuments:
    return InvalidDocuments([issues], on_insert=on_insert)


def encode_labels(cells: object, categories: Sequence[str], n_cells: int
                  ) -> tuple[np.ndarray | None, dict[str, str]]:
    """Turn ``{category: [cell index, ...]}`` into one int16 code per cell (-1 unlabelled).

    Returns ``(codes, issues)``: ``codes`` is None when ``issues`` (keyed ``cells`` or
    ``cells.<category>``, saying how to fix the input) is not empty.
    """
    issues: dict[str, str] = {}
    if not isinstance(cells, dict):
        return None, {CELLS_FIELD: "give the labels as {category name: [cell index, ...]}"}
    index = {name: i for i, name in enumerate(categories)}
    codes = np.full(n_cells, -1, dtype=np.int16)
    for name, members in cells.items():
        field = f"{CELLS_FIELD}.{name}"
        if name not in index:
            issues[field] = (f"unknown category {name!r}; add it to categories or use one of: "
                             + ", ".join(categories or ["(none)"]))
            continue
        if not isinstance(members, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in members
        ):
            issues[field] = "give a list of cell indices (integers)"
            continue
        idx = np.asarray(members, dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n_cells)]
        if bad.size:
            issues[field] = (f"index {int(bad[0])} is out of range: the analysis has "
                             f"{n_cells} cells (0..{n_cells - 1})")
            continue
        taken = idx[codes[idx] >= 0]
        if taken.size:
            other = categories[int(codes[taken[0]])]
            issues[field] = (f"cell {int(taken[0])} is also in {other!r}; give each cell "
                             "one category")
            continue
        codes[idx] = index[name]
    return (None, issues) if issues else (codes, {})


def decode_labels(codes: np.ndarray, categories: Sequence[str]) -> dict[str, list[int]]:
    """Return ``{category: [cell index, ...]}`` of ``codes`` (every category, maybe empty)."""
    return {name: np.flatnonzero(codes == i).tolist() for i, name in enumerate(categories)}


def category_names(doc: Mapping[str, Any]) -> list[str]:
    """Return the names of ``doc``'s categories, in order."""
    return [str(c["name"]) for c in doc.get("categories") or []]


def read_labels(data_dir: Path, doc: Mapping[str, Any]) -> np.ndarray:
    """Return the label codes of the annotation version ``doc`` (int16, -1 unlabelled)."""
    path = Path(data_dir) / str(doc["labelsFile"])
    if not path.is_file():
        raise NotFoundError(f"The labels of annotation {doc.get('_id')!r} version "
                            f"{doc.get('version')} are missing from the server.")
    return np.asarray(np.load(path, allow_pickle=False), dtype=np.int16)


def as_track(codes: np.ndarray, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return the annotation as a categorical track of the SPRING format: ``label_colors``
    (its categories' colours, plus :data:`UNLABELLED` when a cell has no label) and
    ``label_list`` (one label per cell)."""
    names = category_names(doc)
    lookup = np.asarray([*names, UNLABELLED], dtype=object)
    colors = {str(c["name"]): str(c["color"]) for c in doc.get("categories") or []}
    if np.any(codes < 0):
        colors[UNLABELLED] = UNLABELLED_COLOR
    return {"label_colors": colors, "label_list": lookup[codes].tolist()}


def _check_name(store: Store, doc: Mapping[str, Any], where: AnalysisCells,
                item_id: str | None) -> dict[str, str]:
    """The issues of the annotation's name and categories on its analysis."""
    issues: dict[str, str] = {}
    name = str(doc["name"])
    if name in where.tracks:
        issues["name"] = (f"the analysis has a track {name!r} already; give the annotation "
                          "another name")
    else:
        for other in store.find("annotation", {"analysis": doc["analysis"], "name": name}):
            if other["_id"] != item_id:
                issues["name"] = (f"annotation {other['_id']} of this analysis is named "
                                  f"{name!r} already; give another name or update that one")
                break
    names = category_names(doc)
    if UNLABELLED in names:
        issues["categories"] = f"{UNLABELLED!r} is the label of cells in no category; rename it"
    elif len(set(names)) != len(names):
        issues["categories"] = "category names must be unique"
    return issues


def _place(codes: np.ndarray, data_dir: Path, folder: Path) -> Path:
    """Write ``codes`` under ``tmp/`` and rename the file into ``folder`` under a new name;
    return its final path."""
    staged = staging_path(data_dir, "annotation-labels", suffix=".npy")
    with open(staged, "wb") as fh:
        np.save(fh, codes, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{uuid.uuid4().hex}.npy"
    os.replace(staged, final)
    return final


def _relative(path: Path, data_dir: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def _locate(locate: Locate, analysis_id: str, *, on_insert: bool) -> AnalysisCells:
    try:
        return locate(analysis_id)
    except NotFoundError as exc:
        raise _invalid({"analysis": f"{exc} Annotate an analysis whose files exist."},
                       on_insert=on_insert) from None


def _body(payload: object, *, on_insert: bool) -> tuple[dict[str, Any], object]:
    if not isinstance(payload, dict):
        raise _invalid({"validation exception": f"'{payload}' is not a document, must be a dict"},
                       on_insert=on_insert)
    body = dict(payload)
    return body, body.pop(CELLS_FIELD, None)


def create_annotation(store: Store, payload: object, *, author: str, data_dir: Path,
                      locate: Locate, resource: Resource = RESOURCE) -> Doc:
    """Validate ``payload`` (the document fields and ``cells``) and store version 1.

    Returns the stored document. Writes the labels file, then the document (the file
    is removed when the insert fails). Raises InvalidDocuments (422) naming the field.
    """
    body, cells = _body(payload, on_insert=True)
    doc, issues = resource.validator.validate(body, lookup=store.existing_ids)
    if cells is None:
        issues = {**issues, CELLS_FIELD: "required field"}
    if issues:
        raise _invalid(issues, on_insert=True)
    where = _locate(locate, str(doc["analysis"]), on_insert=True)
    issues = _check_name(store, doc, where, None)
    codes, cell_issues = encode_labels(cells, category_names(doc), where.n_cells)
    issues.update(cell_issues)
    if issues or codes is None:
        raise _invalid(issues, on_insert=True)
    item_id = doc.get("_id") or str(uuid.uuid4())
    final = _place(codes, data_dir, where.folder / item_id)
    new = {**doc, "_id": item_id, "author": author, "version": 1, "cellCount": where.n_cells,
           "labelsFile": _relative(final, data_dir), "history": []}
    try:
        stored = store.insert_many("annotation", [new], validate=False)[0]
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    log.info("annotation %s (%r) of analysis %s: version 1 by %s", item_id, doc["name"],
             doc["analysis"], author)
    return stored


def _snapshot(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``history`` entry of the stored version ``doc``."""
    return {
        "version": int(doc.get("version") or 1),
        "_etag": doc["_etag"],
        "_updated": format_date(doc["_updated"]),
        "author": doc.get("author"),
        "name": doc.get("name"),
        "categories": doc.get("categories") or [],
        "cellCount": doc.get("cellCount"),
        "labelsFile": doc.get("labelsFile"),
    }


def update_annotation(store: Store, item_id: str, payload: object, *, etag: str | None,
                      author: str, data_dir: Path, locate: Locate,
                      resource: Resource = RESOURCE) -> Doc:
    """Make a new version of the annotation from ``payload`` (fields to change and/or
    ``cells``), only if its etag is still ``etag``.

    Returns the new document; the one it replaces becomes the last ``history`` entry.
    Writes a new labels file when ``cells`` is given (removed again when the swap loses).
    Raises DocumentMissing (404), EtagRequired (428), EtagMismatch (412),
    InvalidDocuments (422; also for a change of ``analysis``), ImmutableId (400).
    """
    current = store.get("annotation", item_id)
    if current is None:
        raise DocumentMissing(f"no annotation with _id {item_id}")
    etag = check_etag(current, etag)
    body, cells = _body(payload, on_insert=False)
    if body.pop("_id", item_id) != item_id:
        raise ImmutableId
    if "analysis" in body and body["analysis"] != current["analysis"]:
        raise _invalid({"analysis": "an annotation stays on its analysis; create a new one "
                                    "for another analysis"}, on_insert=False)
    changes, issues = resource.validator.validate(body, update=True, lookup=store.existing_ids)
    if issues:
        raise _invalid(issues, on_insert=False)
    fields = {k: v for k, v in current.items() if not k.startswith("_")}
    merged = {**fields, **changes}
    where = _locate(locate, str(merged["analysis"]), on_insert=False)
    issues = _check_name(store, merged, where, item_id)
    names = category_names(merged)
    codes: np.ndarray | None = None
    if cells is not None:
        codes, cell_issues = encode_labels(cells, names, where.n_cells)
        issues.update(cell_issues)
    elif int(read_labels(data_dir, current).max(initial=-1)) >= len(names):
        issues[CELLS_FIELD] = ("the labels name categories that are gone; send cells with "
                               "the new categories")
    if issues:
        raise _invalid(issues, on_insert=False)
    final = _place(codes, data_dir, where.folder / item_id) if codes is not None else None
    new = {
        **merged,
        "author": author,
        "version": int(current.get("version") or 1) + 1,
        "cellCount": where.n_cells if final is not None else current.get("cellCount"),
        "labelsFile": _relative(final, data_dir) if final is not None else current["labelsFile"],
        "history": [*(current.get("history") or []), _snapshot(current)],
    }
    try:
        stored, _ = store.replace("annotation", item_id, new, etag=etag, validate=False)
    except BaseException:
        if final is not None:
            final.unlink(missing_ok=True)
        raise
    log.info("annotation %s: version %d by %s", item_id, new["version"], author)
    return stored


def annotation_version(doc: Mapping[str, Any], version: int) -> dict[str, Any] | None:
    """Return version ``version`` of the stored annotation ``doc`` (its document fields,
    ``_etag`` and ``_updated`` as a date string for earlier ones), or None if it has none."""
    if version == int(doc.get("version") or 1):
        return dict(doc)
    for entry in doc.get("history") or []:
        if entry.get("version") == version:
            return {"analysis": doc["analysis"], "_id": doc["_id"],
                    "_created": doc["_created"], **entry}
    return None


def delete_annotation(store: Store, item_id: str, *, etag: str | None, data_dir: Path) -> bool:
    """Delete the annotation if its etag is ``etag``; return False when there was none.

    Removes the folder of its label files (every version) after the document.
    """
    current = store.get("annotation", item_id)
    if current is None:
        return False
    etag = check_etag(current, etag)
    deleted = store.delete("annotation", item_id, etag=etag)
    if deleted:
        remove_label_files(data_dir, [current])
    return deleted
