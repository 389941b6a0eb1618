"""One-time (and repeatable) upgrades of the files tree, run by ``bioblocks db upgrade`` and
at ``bioblocks serve`` start, after the schema migrations.

:func:`align_subplot_folders` names every SPRING subplot folder after its dataset, as
spec §10 says and the old portal expects (``…/analyses/<aid>/<dataset name>/``): analyses
made before this rule named the folder after the analysis (``"<dataset name> - 3K"``).
It also records the name in the analysis's ``parameters["subplot"]`` and in the subplot's
``run_info.json`` (``Subplot``), and writes the ``mutability.txt`` that makes the viewer
read-only.

Each step is idempotent and safe to interrupt: the folder is renamed in one
``os.replace``, ``run_info.json`` is replaced atomically, and the document is written last;
a rerun finds the folder under its new name and finishes the rest. Nothing is deleted, and
a folder is never renamed onto an existing one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis import MUTABILITY_FILE, SUBPLOT_PARAMETER, subplot_name
from ..analysis.spring_folder import write_mutability
from ..storage import PathOutsideDataDir, analysis_dir
from ..store import Doc, Store, find_docs, get_doc, update_with_retry

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)


#: Files whose presence marks a folder as a SPRING subplot.
_SUBPLOT_MARKERS = ("run_info.json", "coordinates.txt")


@dataclass(frozen=True)
class SubplotChange:
    """What :func:`align_subplot_folders` did to one analysis: ``old`` and ``new`` folder
    names (equal when only the record or ``mutability.txt`` was added)."""

    analysis: str
    dataset: str
    old: str
    new: str

    def __str__(self) -> str:
        if self.old != self.new:
            return f"analysis {self.analysis}: subplot folder {self.old!r} renamed to {self.new!r}"
        return f"analysis {self.analysis}: subplot folder {self.new!r} recorded"


def _naming_subplot(name: str) -> Callable[[Doc], Doc]:
    """Return the change (for ``update_with_retry``) that sets ``parameters.subplot`` to ``name``."""

    def change(doc: Doc) -> Doc:
        return {"parameters": {**(doc.get("parameters") or {}), SUBPLOT_PARAMETER: name}}

    return change


def _is_subplot(folder: Path) -> bool:
    return folder.is_dir() and all((folder / m).is_file() for m in _SUBPLOT_MARKERS)


def _owner(store: Store, doc: Doc, cache: dict[str, Doc | None]) -> Doc | None:
    """The analysis's dataset: ``doc["dataset"]``, else the dataset listing it (older docs)."""
    dataset_id = doc.get("dataset")
    if not dataset_id:
        owners = find_docs(store, "dataset", {"analyses": doc["_id"]}, limit=1)
        return owners[0] if owners else None
    key = str(dataset_id)
    if key not in cache:
        cache[key] = get_doc(store, "dataset", key)
    return cache[key]


def _current_subplot(folder: Path, doc: Doc, target: Path) -> Path | None:
    """The analysis's subplot folder as it is now: the target, the recorded name, the
    legacy name (after the analysis), or the only subplot in the folder; None if unclear."""
    if _is_subplot(target):
        return target
    candidates = [p for p in sorted(folder.iterdir()) if _is_subplot(p)]
    recorded = (doc.get("parameters") or {}).get(SUBPLOT_PARAMETER)
    for name in (recorded, doc.get("name")):
        if isinstance(name, str) and name:
            for candidate in candidates:
                if candidate.name in (name, subplot_name(name)):
                    return candidate
    return candidates[0] if len(candidates) == 1 else None


def _record_in_run_info(subplot: Path) -> None:
    """Set ``Subplot`` in ``run_info.json`` to the folder's name (atomic replace)."""
    path = subplot / "run_info.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s: run_info.json is not readable JSON; left as it is", subplot)
        return
    if not isinstance(info, dict) or info.get("Subplot") == subplot.name:
        return
    info["Subplot"] = subplot.name
    partial = subplot / ".run_info.json.partial"
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(info, indent=4, sort_keys=True))
    os.replace(partial, path)


def align_subplot_folders(store: Store, settings: Settings, *,
                          dataset: Doc | None = None) -> list[SubplotChange]:
    """Name every SPRING analysis's subplot folder after its dataset and record the name.

    With ``dataset`` (a dataset document, e.g. just renamed through the API), only that
    dataset's analyses (those naming it in ``dataset`` or listed in its ``analyses``).

    For each SPRING analysis with a folder: the subplot (found by its recorded name, its
    old name after the analysis, or as the only subplot there) is renamed to
    :func:`bioblocks.analysis.subplot_name` of the dataset's current name; an empty
    ``mutability.txt`` is added; ``run_info.json`` gets ``Subplot``; the document's
    ``parameters["subplot"]`` is set. Analyses without a folder or a recognisable subplot,
    or whose target name is taken by something else, are left alone (logged). Returns one
    :class:`SubplotChange` per analysis changed; an up-to-date tree returns ``[]``.
    """
    changes: list[SubplotChange] = []
    datasets: dict[str, Doc | None] = {}
    where: Doc = {"processType": "SPRING"}
    if dataset is not None:
        datasets[str(dataset["_id"])] = dataset
        owned: list[Doc] = [{"dataset": dataset["_id"]}]
        if dataset.get("analyses"):
            owned.append({"_id": {"$in": [str(a) for a in dataset["analyses"]]}})
        where = {"$and": [where, {"$or": owned}]}
    for doc in find_docs(store, "analysis", where, sort=[("_created", 1)]):
        dataset = _owner(store, doc, datasets)
        if dataset is None:
            continue
        try:
            folder = analysis_dir(settings.resolved_data_dir, dataset["_id"], doc["_id"])
        except PathOutsideDataDir:
            continue
        if not folder.is_dir():
            continue
        new_name = subplot_name(str(dataset.get("name") or dataset["_id"]))
        target = folder / new_name
        parameters = dict(doc.get("parameters") or {})
        if (parameters.get(SUBPLOT_PARAMETER) == new_name and _is_subplot(target)
                and (target / MUTABILITY_FILE).is_file()):
            continue  # the common case: nothing to do
        current = _current_subplot(folder, doc, target)
        if current is None:
            log.warning("analysis %s: no single SPRING subplot folder in %s; left as it is",
                        doc["_id"], folder)
            continue
        if current != target:
            if target.exists() or target.is_symlink():
                log.warning("analysis %s: cannot rename subplot %r to %r, which exists; "
                            "left as it is", doc["_id"], current.name, new_name)
                continue
            os.replace(current, target)
        if not (target / MUTABILITY_FILE).is_file():
            write_mutability(target)
        _record_in_run_info(target)
        if parameters.get(SUBPLOT_PARAMETER) != new_name:
            update_with_retry(store, "analysis", doc["_id"], _naming_subplot(new_name))
        change = SubplotChange(doc["_id"], dataset["_id"], current.name, new_name)
        log.info("%s", change)
        changes.append(change)
    return changes


def upgrade_files(store: Store, settings: Settings) -> list[str]:
    """Run every upgrade of the files tree; return one line per change made (empty: none)."""
    return [str(change) for change in align_subplot_folders(store, settings)]


__all__ = ["SubplotChange", "align_subplot_folders", "upgrade_files"]
