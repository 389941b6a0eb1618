"""What a delete or a replacement does beyond the document itself.

The invariants, for every way a document is deleted or replaced (:mod:`._write`, which
the API and populate call):

* a deleted **dataset** takes its folder (``datasets/<id>/``: matrix and every analysis
  folder), its analysis documents and their annotations with it
  (:func:`bioblocks.pipeline.operations.delete_dataset_files`);
* a deleted **analysis** takes its folder (``datasets/<dataset>/analyses/<id>/``) with it,
  its annotations (documents and label files) too, and its id leaves the ``analyses``
  list of every dataset that names it;
* a **PUT** replacement keeps the server-managed fields (:data:`SERVER_MANAGED`) that
  the body leaves out, since the files they describe stay;
* a dataset **renamed** by a PATCH or PUT has its SPRING subplot folders renamed with it
  (spec §10 names them after the dataset; :func:`after_write`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import NotFoundError
from ..pipeline.operations import delete_dataset_files
from ..pipeline.upgrade import align_subplot_folders
from ..resources import UUID_RE
from ..storage import analysis_dir, staging_path
from ..store import Doc, Store, find_docs, update_with_retry

log = logging.getLogger(__name__)


#: Fields the server writes and a client's PUT cannot drop: per resource, the fields kept
#: from the stored document when the replacement leaves them out.
SERVER_MANAGED: dict[str, tuple[str, ...]] = {
    "dataset": ("matrixLocation", "matrixInfo", "analyses"),
    "analysis": ("dataset",),
}


def keep_server_managed(resource: str, current: Doc, body: Doc) -> Doc:
    """Return ``body`` with the stored server-managed fields it leaves out put back."""
    kept = {
        name: current[name]
        for name in SERVER_MANAGED.get(resource, ())
        if name not in body and current.get(name) not in (None, [], {})
    }
    return {**body, **kept}


def _remove_from_datasets(store: Store, analysis_id: str, dataset_ids: Iterable[str]) -> None:
    """Drop ``analysis_id`` from the ``analyses`` list of each dataset (compare-and-swap)."""

    def change(doc: Doc) -> Doc | None:
        analyses = list(doc.get("analyses") or [])
        if analysis_id not in analyses:
            return None
        return {"analyses": [a for a in analyses if a != analysis_id]}

    for dataset_id in sorted(set(dataset_ids)):
        try:
            update_with_retry(store, "dataset", dataset_id, change)
        except NotFoundError:
            pass


def delete_analysis_files(store: Store, settings: Settings, analysis: Doc) -> None:
    """After an analysis document is deleted: unlink it from datasets, remove its folder.

    Writes: every dataset whose ``analyses`` names the analysis (the id removed) and
    ``datasets/<dataset>/analyses/<id>/`` (moved aside under ``tmp/`` in one rename,
    then removed). Returns nothing.
    """
    analysis_id = analysis["_id"]
    owners = {d["_id"] for d in find_docs(store, "dataset", {"analyses": analysis_id})}
    dataset_id = analysis.get("dataset")
    if isinstance(dataset_id, str) and UUID_RE.fullmatch(dataset_id):
        owners.add(dataset_id)
    _remove_from_datasets(store, analysis_id, owners)
    for owner in sorted(owners):
        folder = analysis_dir(settings.resolved_data_dir, owner, analysis_id)
        if folder.exists():
            aside = staging_path(settings.resolved_data_dir, f"deleted-{analysis_id}")
            os.replace(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
    log.info("analysis %s: removed its folder and its links from %d dataset(s)",
             analysis_id, len(owners))


def remove_label_files(data_dir: Path, docs: Iterable[Mapping[str, Any]]) -> None:
    """Remove the label folders of the (deleted) annotations ``docs``."""
    for doc in docs:
        name = doc.get("labelsFile")
        if not isinstance(name, str):
            continue
        folder = (Path(data_dir) / name).parent
        if folder.is_dir() and folder.parent.name == "annotations":
            aside = staging_path(data_dir, f"deleted-annotation-{doc['_id']}")
            os.replace(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)


def delete_annotations_of(store: Store, data_dir: Path, analysis_id: str) -> int:
    """Delete every annotation of the (deleted) analysis ``analysis_id`` and its label
    files; return how many went."""
    docs = store.find("annotation", {"analysis": analysis_id})
    gone = [doc for doc in docs if store.delete("annotation", doc["_id"])]
    remove_label_files(data_dir, gone)
    return len(gone)


def after_delete(store: Store, settings: Settings, resource: str, doc: Doc) -> None:
    """Remove what the deleted document ``doc`` of ``resource`` owned (see module doc)."""
    if resource == "dataset":
        gone = delete_dataset_files(store, settings, doc["_id"],
                                    analysis_ids=list(doc.get("analyses") or []))
        for analysis_id in gone:
            delete_annotations_of(store, settings.resolved_data_dir, analysis_id)
    elif resource == "analysis":
        delete_annotations_of(store, settings.resolved_data_dir, doc["_id"])
        delete_analysis_files(store, settings, doc)


def after_write(store: Store, settings: Settings, resource: str, old: Doc, new: Doc) -> None:
    """Keep the files in step with a PATCH/PUT of ``resource`` that turned ``old`` into
    ``new``: a dataset whose ``name`` changed gets its subplot folders renamed."""
    if resource == "dataset" and old.get("name") != new.get("name"):
        for change in align_subplot_folders(store, settings, dataset=new):
            log.info("dataset %s renamed: %s", new["_id"], change)


#: Resources whose deletes go one document at a time, each followed by :func:`after_delete`
#: (or by the removal of its media files).
CASCADING = frozenset({"dataset", "analysis"})
