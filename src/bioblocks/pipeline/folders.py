"""Where an analysis's files are: analysis id → analysis document → dataset → analysis
folder → subplot folder (spring-algorithm.md §10), one lookup for the API, the CLI and the
job kinds.

:func:`dataset_of` finds an analysis's dataset, :func:`folders_of` its folder and subplot
folder, :func:`analysis_folders` those of the SPRING analysis that serves an id (its own,
or for t-SNE/UMAP that of ``parameters.springAnalysis``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import NotFoundError
from ..storage import PathOutsideDataDir, analysis_dir
from ..store import Doc, Store


def dataset_of(store: Store, analysis: Doc) -> Doc | None:
    """Return the dataset of ``analysis``: the one its ``dataset`` field names, else (older
    documents) the dataset whose ``analyses`` list holds it; None when there is none."""
    dataset_id = analysis.get("dataset")
    if dataset_id:
        return store.get("dataset", str(dataset_id))
    owners = list(store.find("dataset", {"analyses": analysis["_id"]}, limit=1))
    return owners[0] if owners else None


def folders_of(data_dir: Path, analysis: Doc, dataset: Doc) -> tuple[Path, Path]:
    """Return ``(folder, subplot)`` of ``analysis`` of ``dataset``: its folder under
    ``data_dir`` and the subplot folder named by ``parameters["subplot"]`` (else by the
    dataset's name); neither need exist.

    Raises
    ------
    PathOutsideDataDir
        When the ids would place the folder outside ``data_dir``.
    """
    from ..analysis.spring_folder import subplot_dir  # the science package loads on first use

    folder = analysis_dir(data_dir, str(dataset["_id"]), str(analysis["_id"]))
    name = str(dataset.get("name") or dataset["_id"])
    return folder, subplot_dir(folder, analysis.get("parameters"), name)


def _analysis(store: Store, analysis_id: str) -> Doc:
    doc = store.get("analysis", analysis_id)
    if doc is None:
        raise NotFoundError(f"Analysis {analysis_id!r} does not exist.")
    return doc


def analysis_folders(store: Store, data_dir: Path, analysis_id: str) -> tuple[Path, Path]:
    """Return ``(folder, subplot)`` of the SPRING analysis serving ``analysis_id`` (its own,
    or for t-SNE/UMAP that of ``parameters.springAnalysis``); the folder exists.

    Raises
    ------
    NotFoundError
        When the analysis, its SPRING analysis, its dataset or its folder is missing.
    """
    doc = _analysis(store, analysis_id)
    if doc.get("processType") in ("TSNE", "UMAP"):
        spring_id = (doc.get("parameters") or {}).get("springAnalysis")
        if not spring_id:
            raise NotFoundError(
                f"Analysis {analysis_id!r} names no SPRING analysis to read expression from."
            )
        doc = _analysis(store, str(spring_id))
    dataset = dataset_of(store, doc)
    if dataset is None:
        raise NotFoundError(f"Analysis {doc['_id']!r} is not linked to a dataset.")
    try:
        folder, subplot = folders_of(data_dir, doc, dataset)
    except PathOutsideDataDir as exc:
        raise NotFoundError(f"Analysis {doc['_id']!r} has no folder.") from exc
    if not folder.is_dir():
        raise NotFoundError(
            f"Analysis {doc['_id']!r} has no expression data yet (is it still running?)."
        )
    return folder, subplot


__all__ = ["analysis_folders", "dataset_of", "folders_of"]
