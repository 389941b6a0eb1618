"""What an ``.h5ad`` holds beyond its matrix: embeddings, colours, the parts not imported,
and the CELLxGENE Discover shape.

Read through the sealed reader of :mod:`._hdf5` (every dataset checked against the file
and the import's memory budget before it is read):

* ``obsm["X_*"]`` numeric arrays of one row per cell and at least two columns are the
  file's embeddings (cellxgene's convention: ``X_umap``, ``X_tsne``, ``X_pca``,
  ``X_draw_graph_fa`` …); anything else in ``obsm`` is listed as not imported;
* ``uns["<column>_colors"]`` of a categorical ``obs`` column with one colour per category
  (scanpy's convention) are its track colours, normalised to ``#rrggbb``;
* every other part of the file (``uns`` keys, other layers, ``varm``, ``obsp``, ``varp``,
  ``var`` columns, an unused ``raw``) is listed with the reason it is not imported.

CELLxGENE Discover files (schema 3 to 5) carry ontology-coded ``obs`` columns
(``cell_type`` with ``cell_type_ontology_term_id``, ``tissue``, ``disease``, ``assay``…),
counts in ``raw.X`` when ``X`` is normalised, and gene symbols in ``var["feature_name"]``
(the index holds Ensembl ids): :func:`facets` turns those columns into dataset-level
lists that ``where`` filters can match.
"""

from __future__ import annotations

import re
from collections.abc import Set
from typing import TYPE_CHECKING

import h5py
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ._hdf5 import _Reader

#: Gene symbols of a CELLxGENE Discover ``var`` (its index holds Ensembl ids).
FEATURE_NAME = "feature_name"

#: ``obs`` column → dataset field of its distinct values (the CELLxGENE Discover facets).
FACETS = {"cell_type": "cell_types", "tissue": "tissues", "disease": "diseases",
          "assay": "assays"}
#: Dataset field listing the ontology term ids of every facet column.
ONTOLOGY_FIELD = "ontology_term_ids"
ONTOLOGY_SUFFIX = "_ontology_term_id"

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def _note(name: str, element: str, reason: str) -> dict[str, str]:
    return {"element": element, "file": name, "reason": reason}


def hex_color(value: object) -> str | None:
    """Return a colour as ``#rrggbb`` (lower case), or None when it is not one.

    ``#rgb``, ``#rrggbb`` and ``#rrggbbaa`` (the alpha is dropped) are read directly;
    named colours (``"red"``, ``"tab:blue"``) through matplotlib when it is installed.
    """
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip()
    if _HEX.fullmatch(text):
        digits = text[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return "#" + digits[:6].lower()
    try:
        from matplotlib.colors import to_hex
    except ImportError:  # pragma: no cover - matplotlib comes with the dev and bench extras
        return None
    try:
        return str(to_hex(text, keep_alpha=False))
    except ValueError:
        return None


def legacy_categories(r: _Reader, f: h5py.File, obs: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """Turn the integer codes of an anndata < 0.7 ``obs`` into categoricals.

    Such files keep a categorical column as codes in ``obs`` and its categories in
    ``uns["<column>_categories"]``. Returns the frame and the ``uns`` keys used.
    """
    uns = f.get("uns")
    used: set[str] = set()
    if not isinstance(uns, h5py.Group):
        return obs, used
    obs = obs.copy()
    for column in list(obs.columns):
        key = f"{column}_categories"
        node = uns.get(key)
        codes = obs[column].to_numpy()
        if not isinstance(node, h5py.Dataset) or codes.dtype.kind not in "iu":
            continue
        categories = r.strings(uns, key, obj=f"uns/{key}", length=None)
        if codes.size and (int(codes.max()) >= len(categories) or int(codes.min()) < -1):
            continue
        obs[column] = pd.Categorical.from_codes(codes.astype(np.int64),
                                                categories=list(categories))
        used.add(key)
    return obs, used


def _legacy_embeddings(
    r: _Reader, ds: h5py.Dataset, *, n_obs: int
) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Read the embeddings of an anndata < 0.7 ``obsm`` (one compound dataset, a field per key)."""
    embeddings: dict[str, np.ndarray] = {}
    notes: list[dict[str, str]] = []
    fields = ds.dtype.fields or {}
    if ds.shape != (n_obs,) or not fields:
        notes.append(_note(r.name, "obsm", f"an unreadable compound array (shape {ds.shape})"))
        return embeddings, notes
    values = r.read(ds, obj="obsm", length=n_obs)
    for key, (dtype, _offset) in sorted(fields.items()):
        element = f"obsm/{key}"
        base = dtype.base if dtype.subdtype else dtype
        width = dtype.shape[0] if dtype.shape else 1
        if not key.startswith("X_"):
            notes.append(_note(r.name, element, "not an embedding named X_* (cellxgene's convention)"))
        elif base.kind not in "iuf" or len(dtype.shape) != 1 or width < 2:
            notes.append(_note(r.name, element, "not two or more numbers per cell"))
        else:
            array = np.asarray(values[key], dtype=np.float64).reshape(n_obs, width)
            if np.isfinite(array).all():
                embeddings[key] = array
            else:
                notes.append(_note(r.name, element, "holds NaN or infinite values"))
    return embeddings, notes


def read_embeddings(
    r: _Reader, f: h5py.File, *, n_obs: int
) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Read the embeddings of ``obsm``: every ``X_*`` numeric array of ``n_obs`` rows and
    at least 2 columns, as float64 (also from an anndata < 0.7 compound ``obsm``).

    Returns ``(embeddings, not_imported)``; the latter names every other ``obsm`` entry
    and why (not ``X_*``, a group, one column, other rows, non-finite values).
    """
    obsm = f.get("obsm")
    embeddings: dict[str, np.ndarray] = {}
    notes: list[dict[str, str]] = []
    if isinstance(obsm, h5py.Dataset):
        return _legacy_embeddings(r, obsm, n_obs=n_obs)
    if not isinstance(obsm, h5py.Group):
        return embeddings, notes
    for key in sorted(obsm):
        node = obsm[key]
        element = f"obsm/{key}"
        reason = None
        if not key.startswith("X_"):
            reason = "not an embedding named X_* (cellxgene's convention)"
        elif not isinstance(node, h5py.Dataset):
            reason = "not a dense array (a sparse matrix or a data frame)"
        elif node.shape is None or len(node.shape) != 2:
            reason = f"not two-dimensional (shape {node.shape})"
        elif node.shape[0] != n_obs:
            reason = f"{node.shape[0]:,} rows for {n_obs:,} cells"
        elif node.shape[1] < 2:
            reason = "fewer than two dimensions"
        elif node.dtype.kind not in "iuf":
            reason = f"not numbers ({node.dtype})"
        if reason is None:
            values = np.asarray(r.read(node, obj=element, ndim=2, length=n_obs), dtype=np.float64)
            if not np.isfinite(values).all():
                reason = "holds NaN or infinite values"
            else:
                embeddings[key] = values
                continue
        notes.append(_note(r.name, element, reason))
    return embeddings, notes


def read_colors(
    r: _Reader, f: h5py.File, *, obs: pd.DataFrame, used: Set[str] = frozenset()
) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    """Read ``uns["<column>_colors"]`` for the categorical ``obs`` columns; list the rest of
    ``uns`` (but the keys in ``used``) as not imported.

    A colour list is kept when it has one readable colour per category of its column.
    Returns ``(colors, not_imported)``.
    """
    uns = f.get("uns")
    colors: dict[str, list[str]] = {}
    notes: list[dict[str, str]] = []
    if not isinstance(uns, h5py.Group):
        return colors, notes
    for key in sorted(uns):
        if key in used:
            continue
        element = f"uns/{key}"
        column = key.removesuffix("_colors")
        if not key.endswith("_colors") or column not in obs.columns:
            notes.append(_note(r.name, element, "not used by the viewers"))
            continue
        series = obs[column]
        node = uns[key]
        if not isinstance(series.dtype, pd.CategoricalDtype):
            notes.append(_note(r.name, element, f"obs column {column!r} is not categorical"))
            continue
        n_categories = len(series.cat.categories)
        if not isinstance(node, h5py.Dataset) or node.shape != (n_categories,):
            notes.append(_note(r.name, element,
                               f"not one colour per category of {column!r} ({n_categories})"))
            continue
        values = [hex_color(v) for v in r.strings(uns, key, obj=element, length=n_categories)]
        if any(v is None for v in values):
            notes.append(_note(r.name, element, "holds a value that is not a colour"))
            continue
        colors[column] = [str(v) for v in values]
    return colors, notes


def other_elements(
    f: h5py.File, *, name: str, counts_source: str | None, var_columns: set[str]
) -> list[dict[str, str]]:
    """List the parts of the file the import does not read: other layers, ``varm``,
    ``obsp``, ``varp``, ``var`` columns other than ``var_columns``, the matrix that did not
    give the counts (``X`` or ``raw``). Returns ``{"element", "file", "reason"}`` entries."""
    notes: list[dict[str, str]] = []
    source = counts_source or "X"
    if source != "X":
        notes.append(_note(name, "X", f"its values are not imported; the counts come from {source}"))
    raw = f.get("raw", f.get("raw.X"))
    if raw is not None and source != "raw/X":
        notes.append(_note(name, "raw", "not used: the counts come from " + source))
    layers = f.get("layers")
    if isinstance(layers, h5py.Group):
        for key in sorted(layers):
            if f"layers/{key}" != source:
                notes.append(_note(name, f"layers/{key}", "only layers['counts'] is imported"))
    for group, reason in (("varm", "per-gene arrays are not imported"),
                          ("obsp", "cell graphs are not imported"),
                          ("varp", "gene graphs are not imported")):
        node = f.get(group)
        if isinstance(node, h5py.Group):
            notes.extend(_note(name, f"{group}/{key}", reason) for key in sorted(node))
        elif isinstance(node, h5py.Dataset):  # anndata < 0.7: one compound dataset
            notes.extend(_note(name, f"{group}/{key}", reason)
                         for key in sorted(node.dtype.names or [group]))
    var = f.get("raw/var" if source == "raw/X" else "var")
    if source == "raw/X" and var is None:
        var = f.get("raw.var")
    if isinstance(var, h5py.Dataset):  # anndata < 0.7
        notes.extend(_note(name, f"var/{key}", "gene annotations other than ids and names are "
                           "not imported") for key in (var.dtype.names or ())
                     if key != "index" and key not in var_columns)
    elif isinstance(var, h5py.Group):
        index = var.attrs.get("_index", "_index")
        index = index.decode() if isinstance(index, bytes) else str(index)
        for key in sorted(var):
            if key not in var_columns and key != index and key != "__categories":
                notes.append(_note(name, f"var/{key}", "gene annotations other than ids and "
                                   "names are not imported"))
    return notes


def facets(obs: pd.DataFrame) -> dict[str, list[str]]:
    """Return the dataset-level facets of the CELLxGENE Discover columns of ``obs``.

    ``cell_type`` → ``cell_types``, ``tissue`` → ``tissues``, ``disease`` → ``diseases``,
    ``assay`` → ``assays``: each the sorted distinct labels of its column;
    ``ontology_term_ids``: the sorted distinct ``<column>_ontology_term_id`` values of those
    columns. Only columns present are listed; an empty dict when there is none.
    """
    out: dict[str, list[str]] = {}
    terms: set[str] = set()
    for column, field in FACETS.items():
        if column in obs.columns:
            out[field] = sorted({str(v) for v in obs[column].dropna().tolist()})
        ontology = column + ONTOLOGY_SUFFIX
        if ontology in obs.columns:
            terms |= {str(v) for v in obs[ontology].dropna().tolist()}
    if terms:
        out[ONTOLOGY_FIELD] = sorted(terms)
    return out
