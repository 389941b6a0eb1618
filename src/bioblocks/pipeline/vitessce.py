"""An analysis in Vitessce: its AnnData-Zarr store as static files, and a view configuration.

:func:`vitessce_store` returns the folder of the AnnData-Zarr store of an analysis's cells
(what :mod:`bioblocks.pipeline.export` writes: ``X`` normalised, ``layers/counts``,
``obsm`` ``X_pca``/``X_spring``/``X_tsne``/``X_umap``, ``obs`` categoricals with
``uns["<name>_colors"]``, ``var/highly_variable``; zarr format 2 with consolidated
metadata, which Vitessce's ``anndata.zarr`` loader reads file by file). It is written
lazily, on the first request for it, into ``vitessce/<fingerprint>.zarr`` of the SPRING
analysis's folder, and kept while no analysis of its family changes (a new t-SNE or UMAP
of the same cells makes a new store; the old one is removed).

:func:`store_contents` reads what a configuration needs from that store's metadata, and
:func:`vitessce_config` builds the configuration (schema :data:`CONFIG_VERSION` of
Vitessce's ``@vitessce/json-schema``): one scatterplot per embedding (the requested
analysis's first), the cell sets of every categorical ``obs`` column with the analysis's
own colours (``obsSetColor``), the gene list and a heatmap of the highly variable genes.
The JSON is written directly: the ``vitessce`` Python package pins ``zarr<3`` and
``numcodecs<0.16``, which this project's AnnData stack has left behind.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..progress import Progress, null_progress
from ..storage import analysis_dir, atomic_dir
from ..store import Store
from .export import BLOCK_ROWS, Family, analysis_family, write_zarr_store
from .export import _parts as export_parts  # the AnnData's parts, as the export reads them

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

#: Folder of the Vitessce stores, inside the SPRING analysis's folder.
VITESSCE_FOLDER = "vitessce"
#: The version of Vitessce's view-config schema the configurations follow.
CONFIG_VERSION = "1.0.16"
#: Categorical ``obs`` columns with more categories than this are not offered as cell sets
#: (a column of barcodes or free text would make one set per cell), nor are those with one
#: (SPRING's ``Default`` track).
MAX_SET_CATEGORIES = 500
#: The ``obsm`` key of each analysis kind's embedding, and its name in Vitessce.
EMBEDDING_NAMES = {"X_spring": "SPRING", "X_tsne": "t-SNE", "X_umap": "UMAP"}
#: Grid width of a Vitessce layout.
_GRID = 12


def _store_dir(settings: Settings, family: Family) -> Path:
    folder = analysis_dir(settings.resolved_data_dir, family.dataset["_id"], family.spring["_id"])
    if not folder.is_dir():
        raise NotFoundError(
            f"Analysis {family.spring['_id']!r} has no files yet (is it still running?)."
        )
    return folder / VITESSCE_FOLDER / f"{family.fingerprint('vitessce')}.zarr"


def vitessce_store(
    store: Store, settings: Settings, analysis_id: str, *, progress: Progress = null_progress
) -> Path:
    """Return the folder of the AnnData-Zarr store of ``analysis_id``'s cells.

    Written on first use (staged, then renamed into place: a reader never sees half a
    store; two first requests at once both write, one keeps its store); older stores of
    the family are removed. Raises NotFoundError for an unknown analysis or one without
    files, ConflictError when its files disagree with the dataset's matrix (as
    :func:`bioblocks.pipeline.export.export_analysis`).
    """
    family = analysis_family(store, analysis_id)
    target = _store_dir(settings, family)
    if not target.is_dir():
        parts = export_parts(settings, family)
        log.info("writing the Vitessce store of analysis %s (%d cells)", family.spring["_id"],
                 parts.cell_rows.size)
        try:
            with atomic_dir(target, data_dir=settings.resolved_data_dir) as staged:
                write_zarr_store(staged, parts, block_rows=BLOCK_ROWS, progress=progress)
        except FileExistsError:
            log.info("the Vitessce store %s was written meanwhile by another request", target)
        for old in target.parent.glob("*.zarr"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    return target


# ---- the configuration -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CellSets:
    """A categorical ``obs`` column: its categories and their colours (``#rrggbb``)."""

    name: str
    categories: list[str]
    colors: list[str]


@dataclass(frozen=True, kw_only=True)
class StoreContents:
    """What a Vitessce configuration refers to in an AnnData-Zarr store."""

    #: ``obsm`` keys of the 2-D embeddings (not ``X_pca``), in the store's order.
    embeddings: list[str]
    #: The analysis id of each embedding (``uns["<key without X_>"]["analysis"]``).
    analyses: dict[str, str]
    cell_sets: list[CellSets]
    #: ``var/highly_variable`` exists (the heatmap loads those genes first).
    highly_variable: bool
    n_cells: int
    n_genes: int


def _metadata(store_dir: Path) -> dict[str, Any]:
    path = store_dir / ".zmetadata"
    if not path.is_file():
        raise NotFoundError(f"{store_dir} is not an AnnData-Zarr store with consolidated metadata.")
    return dict(json.loads(path.read_text(encoding="utf-8"))["metadata"])


def _strings(group: Any, path: str) -> list[str]:
    """The values of the (small) zarr array ``path`` of ``group``, as text."""
    import numpy as np

    return [str(v) for v in np.asarray(group[path][...]).ravel()]


def store_contents(store_dir: Path) -> StoreContents:
    """Return the :class:`StoreContents` of the AnnData-Zarr store ``store_dir`` (read from
    its consolidated metadata and the small arrays of its categories and colours)."""
    import zarr

    meta = _metadata(store_dir)
    group: Any = zarr.open_group(str(store_dir), mode="r", zarr_format=2)
    obs_attrs = meta.get("obs/.zattrs", {})
    n_cells = int(group[f"obs/{obs_attrs.get('_index', '_index')}"].shape[0])
    var_attrs = meta.get("var/.zattrs", {})
    n_genes = int(group[f"var/{var_attrs.get('_index', '_index')}"].shape[0])
    embeddings, analyses = [], {}
    for key in meta:
        if key.startswith("obsm/") and key.endswith("/.zarray"):
            name = key.split("/")[1]
            shape = meta[key]["shape"]
            if name != "X_pca" and len(shape) == 2 and shape[1] >= 2:
                embeddings.append(name)
                uns_key = f"uns/{name.removeprefix('X_')}/analysis"
                if f"{uns_key}/.zarray" in meta:
                    analyses[name] = _strings(group, uns_key)[0]
    sets = []
    for column in obs_attrs.get("column-order", []):
        if meta.get(f"obs/{column}/.zattrs", {}).get("encoding-type") != "categorical":
            continue
        categories = _strings(group, f"obs/{column}/categories")
        if not 2 <= len(categories) <= MAX_SET_CATEGORIES:  # one category separates nothing
            continue
        colors: list[str] = []
        if f"uns/{column}_colors/.zarray" in meta:
            colors = _strings(group, f"uns/{column}_colors")
        sets.append(CellSets(name=str(column), categories=categories, colors=colors))
    var_columns = var_attrs.get("column-order", [])
    return StoreContents(
        embeddings=embeddings, analyses=analyses, cell_sets=sets, highly_variable="highly_variable" in var_columns,
        n_cells=n_cells, n_genes=n_genes,
    )


def embedding_name(key: str) -> str:
    """Return the name Vitessce shows for the ``obsm`` key ``key`` (``X_tsne_2`` → ``t-SNE 2``)."""
    base, _, number = key.rpartition("_")
    if number.isdigit() and base in EMBEDDING_NAMES:
        return f"{EMBEDDING_NAMES[base]} {number}"
    return EMBEDDING_NAMES.get(key, key.removeprefix("X_"))


def _rgb(color: str) -> list[int] | None:
    text = color.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        return [int(text[i : i + 2], 16) for i in (0, 2, 4)] if len(text) == 6 else None
    except ValueError:
        return None


def _set_colors(sets: list[CellSets]) -> list[dict[str, Any]]:
    """``obsSetColor``: one ``{"path": [set, category], "color": [r, g, b]}`` per category."""
    out = []
    for cell_sets in sets:
        for category, color in zip(cell_sets.categories, cell_sets.colors, strict=False):
            rgb = _rgb(color)
            if rgb is not None:
                out.append({"path": [cell_sets.name, category], "color": rgb})
    return out


def vitessce_config(
    contents: StoreContents,
    *,
    zarr_url: str,
    name: str,
    description: str = "",
    first_embedding: str | None = None,
) -> dict[str, Any]:
    """Return the Vitessce view configuration of the store ``zarr_url`` (its absolute URL).

    One ``scatterplot`` per embedding (``first_embedding``, an ``obsm`` key, leads), the
    ``obsSets`` manager of the categorical columns with their colours (the first one
    selected, cells coloured by it), the ``featureList`` of the genes and a ``heatmap``
    (its genes first loaded from ``var/highly_variable`` when the store has it). Raises
    NotFoundError when the store has no embedding to plot.
    """
    embeddings = list(contents.embeddings)
    if not embeddings:
        raise NotFoundError("The analysis's AnnData-Zarr store has no 2-D embedding to plot.")
    if first_embedding in embeddings:
        embeddings.remove(first_embedding)
        embeddings.insert(0, first_embedding)
    matrix: dict[str, Any] = {"path": "X"}
    if contents.highly_variable:
        matrix["initialFeatureFilterPath"] = "var/highly_variable"
    options: dict[str, Any] = {
        "obsFeatureMatrix": matrix,
        "obsEmbedding": [
            {"path": f"obsm/{key}", "dims": [0, 1], "embeddingType": embedding_name(key)}
            for key in embeddings
        ],
    }
    if contents.cell_sets:
        options["obsSets"] = [{"name": s.name, "path": f"obs/{s.name}"} for s in contents.cell_sets]
    scopes = [chr(ord("A") + i) if i < 26 else f"E{i}" for i in range(len(embeddings))]
    space: dict[str, dict[str, Any]] = {
        "dataset": {"A": "A"},
        "obsType": {"A": "cell"},
        "featureType": {"A": "gene"},
        "featureValueType": {"A": "expression"},
        "embeddingType": {s: embedding_name(k) for s, k in zip(scopes, embeddings, strict=True)},
        "obsColorEncoding": {"A": "cellSetSelection" if contents.cell_sets else "geneSelection"},
        "obsSetSelection": {"A": None},
        "obsSetColor": {"A": _set_colors(contents.cell_sets) or None},
        "featureSelection": {"A": None},
    }
    if contents.cell_sets:
        first = contents.cell_sets[0]
        space["obsSetSelection"]["A"] = [[first.name, c] for c in first.categories]
    shared = {t: "A" for t in ("dataset", "obsType", "featureType", "featureValueType",
                               "obsColorEncoding", "obsSetSelection", "obsSetColor",
                               "featureSelection")}
    per_row = min(len(embeddings), 3)
    plot_columns = 9 if per_row == 3 else 8  # the scatterplots' share of the grid's width
    width, height = plot_columns // per_row, 6
    layout: list[dict[str, Any]] = []
    for i, (scope, key) in enumerate(zip(scopes, embeddings, strict=True)):
        layout.append({
            "uid": f"scatterplot-{key}", "component": "scatterplot",
            "x": (i % per_row) * width, "y": (i // per_row) * height, "w": width, "h": height,
            "coordinationScopes": {**shared, "embeddingType": scope},
        })
    rows = (len(embeddings) + per_row - 1) // per_row
    side = _GRID - plot_columns
    top = height * rows
    layout.append({"uid": "cell-sets", "component": "obsSets", "x": plot_columns, "y": 0,
                   "w": side, "h": top // 2, "coordinationScopes": dict(shared)})
    layout.append({"uid": "genes", "component": "featureList", "x": plot_columns,
                   "y": top // 2, "w": side, "h": top - top // 2,
                   "coordinationScopes": dict(shared)})
    layout.append({"uid": "heatmap", "component": "heatmap", "x": 0, "y": top, "w": _GRID,
                   "h": 4, "props": {"transpose": True}, "coordinationScopes": dict(shared)})
    return {
        "version": CONFIG_VERSION,
        "name": name,
        "description": description,
        "datasets": [{
            "uid": "A", "name": name,
            "files": [{
                "fileType": "anndata.zarr", "url": zarr_url, "options": options,
                "coordinationValues": {"obsType": "cell", "featureType": "gene",
                                       "featureValueType": "expression"},
            }],
        }],
        "coordinationSpace": space,
        "layout": layout,
        "initStrategy": "auto",
    }


def analysis_config(
    store: Store, settings: Settings, analysis_id: str, *, zarr_url: str
) -> dict[str, Any]:
    """Return the Vitessce configuration of ``analysis_id`` over its store at ``zarr_url``
    (written first if need be: :func:`vitessce_store`); a t-SNE or UMAP analysis leads
    with its own scatterplot. Raises as :func:`vitessce_store`."""
    from ..store import get_doc

    folder = vitessce_store(store, settings, analysis_id)
    family = analysis_family(store, analysis_id)
    doc = get_doc(store, "analysis", analysis_id) or family.spring
    contents = store_contents(folder)
    first = next((k for k, a in contents.analyses.items() if a == str(doc["_id"])), None)
    name = str(doc.get("name") or doc["_id"])
    dataset = str(family.dataset.get("name") or family.dataset["_id"])
    return vitessce_config(
        contents, zarr_url=zarr_url, name=name, first_embedding=first,
        description=f"{dataset}: {contents.n_cells:,} cells, {contents.n_genes:,} genes",
    )


__all__ = [
    "CONFIG_VERSION", "CellSets", "StoreContents", "VITESSCE_FOLDER", "analysis_config",
    "embedding_name", "store_contents", "vitessce_config", "vitessce_store",
]
