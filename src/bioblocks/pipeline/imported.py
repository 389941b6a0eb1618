"""Analyses that come with an imported ``.h5ad``: its embeddings, shown at once.

Every embedding the import kept in the canonical matrix (``obsm["X_*"]``, see
:func:`bioblocks.ingest.read_viewer_parts`) becomes an analysis of the dataset, marked
``imported: true``, whose folder holds the files a computed analysis of its kind has, so
the page, the portal's SPRING and t-SNE views and the viewer endpoints read it as they
read any other:

* ``X_umap`` → ``UMAP`` (``umap_output.csv``), ``X_tsne`` → ``TSNE``
  (``tsne_output.csv``, and ``tsne_matrix.csv``: the file's ``X_pca``, else the
  coordinates); their coordinates are written exactly (shortest round-trip decimals);
* ``X_spring`` and ``X_draw_graph_*`` (SPRING-style layouts), ``X_pca`` (drawn as its
  first two components) and any other ``X_<name>`` (a named embedding, its first two
  dimensions) → a ``SPRING`` analysis: the main folder (the expression for gene
  colouring: normalised counts as SPRING normalises them, or, for a view-only dataset,
  the file's ``X`` as it is) and the subplot ``<dataset name>/`` with every file of
  spec §10. Its ``intermediates.npz`` and ``pca.csv`` hold the file's ``X_pca`` when there
  is one, so t-SNE and UMAP can run on the imported cells (``parameters.pcs`` says how
  many components; 0: none). The SPRING viewer reads no kNN graph from the file:
  ``edges.csv`` is empty.

The colour tracks are built once from the dataset's per-cell metadata: label columns
become categorical tracks (with the file's ``uns["<column>_colors"]`` where it has them),
numeric ones continuous tracks; a built-in track (``Default``, ``Total Counts``,
``Uniform``) never replaces a column of the same name. A t-SNE or UMAP analysis names
the first SPRING-style analysis as its ``springAnalysis`` (the page reads its tracks and
expression there); a file with only ``X_umap``/``X_tsne`` gets one SPRING-style analysis
of its first such embedding for that.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..progress import Progress, null_progress
from ..storage import analysis_dir, atomic_dir, matrix_path
from ..store import Doc

if TYPE_CHECKING:
    from ..config import Settings
    from ..ingest import ViewerParts

log = logging.getLogger(__name__)


#: Columns whose labels, in this order of preference, colour the previews and fill
#: ``louvain_clusters.npy``.
_CLUSTER_COLUMNS = ("louvain", "leiden", "cell_type", "clusters")


@dataclass(frozen=True)
class Embedding:
    """One ``obsm`` embedding and the analysis it becomes."""

    key: str
    process: str
    label: str


def embedding_kind(key: str) -> Embedding:
    """Return the analysis an ``obsm`` key becomes: its ``processType`` and its label.

    ``X_umap`` → UMAP, ``X_tsne`` → TSNE, everything else (``X_spring``,
    ``X_draw_graph_fa``, ``X_pca``, ``X_phate`` …) a SPRING-style layout.
    """
    name = key.removeprefix("X_")
    if name == "umap":
        return Embedding(key, "UMAP", "UMAP")
    if name == "tsne":
        return Embedding(key, "TSNE", "t-SNE")
    if name == "spring":
        return Embedding(key, "SPRING", "SPRING")
    if name == "pca":
        return Embedding(key, "SPRING", "PCA")
    return Embedding(key, "SPRING", name)


def plan(keys: list[str]) -> list[Embedding]:
    """Return the analyses of the embeddings ``keys``, SPRING-style ones first
    (``X_spring``, ``X_draw_graph_*``, other names, ``X_pca``), then t-SNE and UMAP."""

    def rank(key: str) -> tuple[int, str]:
        if key == "X_spring":
            return 0, key
        if key.startswith("X_draw_graph"):
            return 1, key
        if key == "X_pca":
            return 3, key
        if key in ("X_umap", "X_tsne"):
            return 4, key
        return 2, key

    return [embedding_kind(k) for k in sorted(keys, key=rank)]


# ---- what every imported analysis of a dataset shares -------------------------------------


@dataclass
class _Shared:
    """The matrix, tracks and PCA that every imported analysis of one import shares."""

    expression: sp.csr_matrix
    gene_names: list[str]
    totals: np.ndarray | None
    categorical: dict[str, dict[str, object]]
    tracks: dict[str, np.ndarray]
    stats: dict[str, list[float]]
    clusters: np.ndarray
    preview_labels: np.ndarray | None
    pca: np.ndarray | None
    source: str
    view_only: bool
    #: The cells' ids (the canonical matrix's barcodes), in matrix order.
    barcodes: list[str]


def _expression(X: sp.csr_matrix, *, view_only: bool) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """Return the expression for gene colouring (float32 CSR) and the cells' total counts.

    Counts are scaled to the mean total of the cells with any (spec §2, as SPRING does);
    a view-only matrix is kept as it is (no totals).
    """
    matrix = sp.csr_matrix(X, dtype=np.float32)
    if view_only:
        return matrix, None
    totals = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    scale = np.zeros_like(totals)
    positive = totals > 0
    if positive.any():
        np.divide(float(totals[positive].mean()), totals, out=scale, where=positive)
    norm = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix, dtype=np.float32)
    norm.eliminate_zeros()
    return norm, totals


def _tracks(
    obs: pd.DataFrame, colors: Mapping[str, list[str]], *, n_cells: int,
    totals: np.ndarray | None,
) -> tuple[dict[str, dict[str, object]], dict[str, np.ndarray]]:
    """Return the categorical and continuous tracks of the per-cell metadata ``obs``.

    Label columns (as :func:`bioblocks.analysis.categorical_track` colours them, or with
    the file's colours per category) and numeric columns; ``Default`` (all cells),
    ``Total Counts`` (counts only) and ``Uniform`` are added under names no column has.
    """
    from ..analysis._colors import categorical_tracks, continuous_tracks

    metadata = obs.reset_index(drop=True)
    categorical = categorical_tracks(n_cells, metadata=metadata)
    for column, palette in colors.items():
        series = metadata.get(column)
        if column not in categorical or series is None:
            continue
        if not isinstance(series.dtype, pd.CategoricalDtype):
            continue
        label_colors = dict(categorical[column]["label_colors"])  # type: ignore[call-overload]
        for category, color in zip(series.cat.categories, palette, strict=True):
            if str(category) in label_colors:
                label_colors[str(category)] = color
        categorical[column] = {**categorical[column], "label_colors": label_colors}
    tracks = continuous_tracks(n_cells, totals=np.zeros(n_cells) if totals is None else totals,
                               metadata=metadata)
    numeric = {str(c).replace(",", " ") for c in metadata.columns}
    if totals is None and "Total Counts" not in numeric:
        del tracks["Total Counts"]
    return categorical, tracks


def _clusters(obs: pd.DataFrame, n_cells: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Return integer cluster labels per cell (``louvain_clusters.npy``) and the preview's
    labels, from the first cluster-like label column (zeros and None without one)."""
    for column in _CLUSTER_COLUMNS:
        if column in obs.columns:
            labels = obs[column].astype(str).to_numpy()
            codes = pd.factorize(labels, sort=True)[0].astype(np.int64)
            return codes, labels
    return np.zeros(n_cells, dtype=np.int64), None


def _shared(settings: Settings, dataset: Doc, parts: ViewerParts, *, source: str) -> _Shared:
    from ..analysis import gene_color_stats, track_color_stats
    from ..ingest import read_canonical

    X, genes, barcodes, obs = read_canonical(
        matrix_path(settings.resolved_data_dir, dataset["_id"]), dtype=np.float32)
    n_cells = X.shape[0]
    expression, totals = _expression(X, view_only=parts.view_only)
    del X
    categorical, tracks = _tracks(obs, parts.colors, n_cells=n_cells, totals=totals)
    gene_names = [str(g) for g in genes]
    stats = {g: [float(x) for x in row]
             for g, row in zip(gene_names, gene_color_stats(expression.tocsc()), strict=True)}
    stats.update({name: track_color_stats(values) for name, values in tracks.items()})
    clusters, labels = _clusters(obs, n_cells)
    return _Shared(
        expression=expression, gene_names=gene_names, totals=totals, categorical=categorical,
        tracks=tracks, stats=stats, clusters=clusters, preview_labels=labels,
        pca=parts.embeddings.get("X_pca"), source=source, view_only=parts.view_only,
        barcodes=[str(b) for b in barcodes])


# ---- the folders --------------------------------------------------------------------------


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_main(folder: Path, shared: _Shared, *, like: Path | None) -> None:
    """Write the main (expression) files into ``folder``, or hard-link those of ``like``."""
    from ..analysis.spring_folder import write_main_columns, write_main_rows

    if like is not None:
        for path in sorted(like.iterdir()):
            if path.is_file() and path.name != "preview.png":
                _link_or_copy(path, folder / path.name)
        return
    write_main_rows(folder, shared.expression)
    n_cells = shared.expression.shape[0]
    write_main_columns(folder, csc=shared.expression.tocsc(), gene_names=shared.gene_names,
                       total_counts=np.zeros(n_cells) if shared.totals is None else shared.totals)


def _write_layout(
    folder: Path, embedding: Embedding, coordinates: np.ndarray, shared: _Shared, *,
    subplot: str, like: Path | None,
) -> None:
    """Write a SPRING-style analysis folder (main files and the subplot ``subplot``)."""
    from ..analysis.spring_folder import write_subplot

    _write_main(folder, shared, like=like)
    n_cells = coordinates.shape[0]
    pca = shared.pca if shared.pca is not None else np.zeros((n_cells, 0))
    run_info = {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "Nodes": n_cells,
        "Filtered_Genes": len(shared.gene_names),
        "Num_PCs": int(pca.shape[1]),
        "Num_Neighbors": 0,
        "Num_Force_Iter": 0,
        "Gene_Var_Pctl": None,
        "Min_Cells": None,
        "Min_Counts": None,
        "Subplot": subplot,
        "Imported": {"file": shared.source, "embedding": embedding.key,
                     "viewOnly": shared.view_only},
    }
    write_subplot(
        folder / subplot, gene_names=shared.gene_names, cell_filter=np.arange(n_cells),
        coordinates=coordinates[:, :2], edges=np.zeros((0, 2), dtype=np.int64), epca=pca,
        gene_filter=np.zeros(0, dtype=np.int64),
        total_counts=np.zeros(n_cells) if shared.totals is None else shared.totals,
        louvain=shared.clusters, categorical=shared.categorical, tracks=shared.tracks,
        stats=shared.stats, run_info=run_info,
    )
    if shared.pca is None:  # no PCA to start t-SNE or UMAP from
        (folder / subplot / "intermediates.npz").unlink()
        (folder / subplot / "pca.csv").unlink()


def _write_embedding(folder: Path, embedding: Embedding, coordinates: np.ndarray,
                     shared: _Shared, *, spring_id: str | None) -> None:
    """Write a t-SNE or UMAP analysis folder (spec §11), coordinates written exactly, with
    ``cells.txt`` (the cell of each row) and ``run_info.json`` naming ``spring_id``."""
    from ..analysis.spring_folder import write_embedding

    xy = coordinates[:, :2]
    info = {"imported": {"file": shared.source, "embedding": embedding.key},
            "n_cells": int(xy.shape[0]), "date": datetime.now(UTC).isoformat(timespec="seconds")}
    if spring_id is not None:
        info["springAnalysis"] = spring_id
    write_embedding(folder, embedding.process, xy, run_info=info, cells=shared.barcodes,
                    matrix=shared.pca, fmt="%r")


@dataclass
class ImportedAnalysis:
    """An imported analysis whose folder is written: its id, folder and document."""

    analysis_id: str
    folder: Path
    document: Doc


def write_imported_analyses(
    settings: Settings,
    dataset: Doc,
    *,
    source: str,
    progress: Progress = null_progress,
    scratch: Path | None = None,
) -> list[ImportedAnalysis]:
    """Write an analysis folder per embedding of the dataset's canonical matrix.

    ``source`` names the imported file (recorded in the documents and ``run_info.json``).
    Each folder is staged and renamed into place (:func:`bioblocks.storage.atomic_dir`);
    the documents are returned, not stored: the caller inserts them (and removes the
    folders if that fails). Returns an empty list when the matrix has no embedding.
    """
    from ..analysis import subplot_name, write_preview
    from ..ingest import read_viewer_parts

    data_dir = settings.resolved_data_dir
    parts = read_viewer_parts(matrix_path(data_dir, dataset["_id"]))
    if not parts.embeddings:
        return []
    embeddings = plan(list(parts.embeddings))
    if not any(e.process == "SPRING" for e in embeddings):  # the page needs one for tracks
        first = embeddings[0]
        embeddings.insert(0, Embedding(first.key, "SPRING", f"{first.label} (SPRING view)"))
    progress(0.0, "preparing the imported analyses")
    shared = _shared(settings, dataset, parts, source=source)
    dataset_name = str(dataset.get("name") or dataset["_id"])
    subplot = subplot_name(dataset_name)
    n_cells = shared.expression.shape[0]
    written: list[ImportedAnalysis] = []
    main: Path | None = None
    spring_id: str | None = None
    root = scratch if scratch is not None else data_dir
    root.mkdir(parents=True, exist_ok=True)
    try:
        for k, embedding in enumerate(embeddings):
            progress(0.1 + 0.9 * k / len(embeddings), f"writing the imported {embedding.label}")
            analysis_id = str(uuid.uuid4())
            final = analysis_dir(data_dir, dataset["_id"], analysis_id)
            coordinates = parts.embeddings[embedding.key]
            with atomic_dir(final, data_dir=root) as staging:
                if embedding.process == "SPRING":
                    _write_layout(staging, embedding, coordinates, shared, subplot=subplot,
                                  like=main)
                else:
                    _write_embedding(staging, embedding, coordinates, shared, spring_id=spring_id)
                write_preview(coordinates[:, :2], shared.preview_labels, staging / "preview.png")
            parameters: Doc = {"embedding": embedding.key, "source": source}
            if embedding.process == "SPRING":
                parameters.update({"subplot": subplot, "pcs": int(
                    0 if shared.pca is None else shared.pca.shape[1])})
                if main is None:
                    main, spring_id = final, analysis_id
            else:
                parameters["springAnalysis"] = spring_id
            written.append(ImportedAnalysis(analysis_id, final, {
                "name": f"{dataset_name} - {embedding.label} (imported)"[:128],
                "processType": embedding.process,
                "parameters": parameters,
                "dataset": dataset["_id"],
                "subsample": n_cells,
                "status": "COMPLETE",
                "imported": True,
                "preview": (final / "preview.png").relative_to(data_dir).as_posix(),
            }))
    except BaseException:
        for item in written:
            shutil.rmtree(item.folder, ignore_errors=True)
        raise
    log.info("dataset %s: %d imported analyses (%s)", dataset["_id"], len(written),
             ", ".join(e.key for e in embeddings))
    return written
