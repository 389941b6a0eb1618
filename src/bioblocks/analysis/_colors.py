"""Colour statistics (spec §8) and the colour tracks of a SPRING subplot (spec §10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

GENE_PERCENTILE = 99.6
TRACK_PERCENTILE = 99.0
DEFAULT_TRACK = "Default"
DEFAULT_LABEL = "All cells"
#: A metadata column with more distinct labels than this is no categorical track.
MAX_TRACK_LEVELS = 1000
#: Up to this many labels a column is a track whatever the number of cells.
MIN_TRACK_LEVELS = 50

# matplotlib's "jet" colormap (segment data), sampled on a 256-entry lookup table like
# ``plt.cm.jet``, so labels get the colours the original pipeline gave them.
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
_LUT_SIZE = 256


def _jet_lut() -> np.ndarray:
    grid = np.linspace(0.0, 1.0, _LUT_SIZE)
    channels = []
    for name in ("red", "green", "blue"):
        xs, ys = zip(*_JET[name], strict=True)
        channels.append(np.interp(grid, xs, ys))
    return np.stack(channels, axis=1)


_JET_LUT = _jet_lut()


def jet_hex(fraction: float) -> str:
    """Return the ``#rrggbb`` colour of the jet colormap at ``fraction`` in [0, 1]."""
    index = min(max(int(fraction * _LUT_SIZE), 0), _LUT_SIZE - 1)
    r, g, b = (int(v * 255) for v in _JET_LUT[index])
    return f"#{r:02x}{g:02x}{b:02x}"


@numba.njit(cache=True)
def _lerp_percentile(values: np.ndarray, q: float) -> float:  # pragma: no cover - numba
    """numpy.percentile (method "linear") of ``values``, q in [0, 1]; same arithmetic.

    Only the two order statistics around the percentile are needed: they are found by
    partitioning (O(n)) instead of sorting the whole array. ``values`` is reordered.
    """
    n = values.shape[0]
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return values.max()
    if virtual < 0:
        return values.min()
    previous = np.floor(virtual)
    i = int(previous)
    gamma = virtual - previous
    values[:] = np.partition(values, i)
    a = values[i]
    b = values[i + 1 :].min()
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


@numba.njit(cache=True, parallel=True)
def _gene_stats_kernel(
    data: np.ndarray, indptr: np.ndarray, n_rows: int, pctl_n: float
) -> np.ndarray:  # pragma: no cover - numba
    n_cols = indptr.shape[0] - 1
    out = np.zeros((n_cols, 5))
    for j in numba.prange(n_cols):
        start = indptr[j]
        stop = indptr[j + 1]
        nnz = stop - start
        total = 0.0
        total_sq = 0.0
        lo = np.inf
        hi = -np.inf
        for k in range(start, stop):
            v = data[k]
            total += v
            total_sq += v * v
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        if nnz < n_rows:
            lo = min(lo, 0.0)
            hi = max(hi, 0.0)
        mean = total / n_rows
        var = total_sq / n_rows - mean * mean
        out[j, 0] = mean
        out[j, 1] = np.sqrt(var) if var > 0 else 0.0
        out[j, 2] = lo
        out[j, 3] = hi
        if nnz > pctl_n:
            q = (100.0 - 100.0 * pctl_n / nnz) / 100.0
            out[j, 4] = _lerp_percentile(data[start:stop].copy(), q)
    return out


def gene_color_stats(norm: sp.spmatrix) -> np.ndarray:
    """Compute ``[mean, std, min, max, p]`` for every column of a normalised matrix (spec §8).

    Parameters
    ----------
    norm
        Normalised expression, cells × genes (CSC preferred; converted otherwise). Explicit
        zeros must have been eliminated.

    Returns
    -------
    numpy.ndarray
        ``(n_genes, 5)`` float64: the mean, the population standard deviation
        ``sqrt(mean(x**2) - mean(x)**2)`` (0 when that is not positive), the minimum and
        maximum over all cells (zeros included), and ``p``: 0 when the gene has at most
        ``n_c = (100 - 99.6) / 100 * n_cells`` nonzero cells, else the
        ``100 - 100 * n_c / n_nonzero`` percentile of its nonzero values (numpy's linear
        method, bit for bit). Sums run sequentially over each column's nonzeros; the
        columns are shared among the numba threads (each column's figures come from one
        thread, so they do not depend on the thread count).
    """
    csc = sp.csc_matrix(norm)
    n_rows = csc.shape[0]
    pctl_n = (100 - GENE_PERCENTILE) / 100.0 * n_rows
    return _gene_stats_kernel(
        np.ascontiguousarray(csc.data),  # float64, or float32 (summed in float64)
        csc.indptr.astype(np.int64),
        n_rows,
        pctl_n,
    )


def track_color_stats(values: np.ndarray) -> list[float]:
    """Return ``[mean, std, min, max, 99th percentile]`` of a continuous colour track."""
    v = np.asarray(values, dtype=np.float64)
    return [
        float(np.mean(v)),
        float(np.std(v)),
        float(np.min(v)),
        float(np.max(v)),
        float(np.percentile(v, TRACK_PERCENTILE)),
    ]


def color_stats(
    gene_names: Sequence[str], gene_stats: np.ndarray, tracks: Mapping[str, np.ndarray]
) -> dict[str, list[float]]:
    """Return the ``color_stats.json`` mapping: every gene, then every continuous track."""
    out: dict[str, list[float]] = {
        name: [float(x) for x in row] for name, row in zip(gene_names, gene_stats, strict=True)
    }
    for name, values in tracks.items():
        out[name] = track_color_stats(values)
    return out


def _label_sort_key(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def categorical_track(labels: Sequence[object] | np.ndarray) -> dict[str, object]:
    """Return one ``categorical_coloring_data.json`` track for per-cell labels.

    Labels become strings; the distinct labels, in natural order (numbers numerically),
    get evenly spaced jet colours.
    """
    strings = [str(x) for x in labels]
    distinct = sorted(set(strings), key=_label_sort_key)
    colors = {label: jet_hex(i / len(distinct)) for i, label in enumerate(distinct)}
    return {"label_colors": colors, "label_list": strings}


def _is_continuous(series: pd.Series) -> bool:
    """Numbers (not booleans) are continuous tracks; strings, categories, booleans are labels."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def max_track_levels(n_cells: int) -> int:
    """Return the most distinct labels a metadata column may have to be a categorical track.

    ``min(MAX_TRACK_LEVELS, max(MIN_TRACK_LEVELS, n_cells // 2))``: at most 1,000 labels,
    and at most half as many labels as cells (from 50 labels on). A column with more —
    a barcode, a cell id, a clone id with a few cells each — identifies cells rather than
    groups them: as a colouring it would be a legend of one-cell entries.
    """
    return min(MAX_TRACK_LEVELS, max(MIN_TRACK_LEVELS, n_cells // 2))


def label_columns(metadata: pd.DataFrame, n_cells: int) -> tuple[list[str], dict[str, int]]:
    """Split the label (non-numeric) columns of ``metadata`` by their number of levels.

    Returns ``(tracks, too_many)``: the columns that become categorical tracks, in
    order, and column → number of distinct labels for those with more than
    :func:`max_track_levels` (kept as per-cell metadata of the dataset, no track).
    """
    limit = max_track_levels(n_cells)
    tracks: list[str] = []
    too_many: dict[str, int] = {}
    for column in metadata.columns:
        series = metadata[column]
        if _is_continuous(series):
            continue
        levels = int(series.astype(str).nunique())
        if levels > limit:
            too_many[str(column)] = levels
        else:
            tracks.append(column)
    return tracks, too_many


def categorical_tracks(
    n_cells: int,
    *,
    clusters: Mapping[str, np.ndarray] | None = None,
    metadata: pd.DataFrame | None = None,
) -> dict[str, dict[str, object]]:
    """Build all categorical tracks: ``Default`` (``All cells``), clusters, metadata labels.

    Parameters
    ----------
    n_cells
        Cells in the subplot.
    clusters
        Track name → integer label per cell.
    metadata
        Per-cell metadata of the subplot's cells (already in subplot order); every column
        that is not numeric (strings, categories, booleans) becomes a track named after
        it, unless it has more distinct labels than :func:`max_track_levels` allows
        (see :func:`label_columns`).

    Returns
    -------
    dict
        Track name → ``{"label_colors": ..., "label_list": ...}``.
    """
    tracks: dict[str, dict[str, object]] = {
        DEFAULT_TRACK: {
            "label_colors": {DEFAULT_LABEL: jet_hex(0.0)},
            "label_list": [DEFAULT_LABEL] * n_cells,
        }
    }
    for name, labels in (clusters or {}).items():
        tracks[name] = categorical_track(np.asarray(labels))
    if metadata is not None:
        for column in label_columns(metadata, n_cells)[0]:
            tracks[str(column)] = categorical_track(metadata[column].astype(str).to_numpy())
    return tracks


def continuous_tracks(
    n_cells: int,
    *,
    totals: np.ndarray,
    mito_fraction: np.ndarray | None = None,
    metadata: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Build the continuous colour tracks: ``Total Counts``, ``Uniform``, ``Mito. frac.``
    (when mitochondrial genes exist) and every numeric metadata column (commas in
    names become spaces, since names are the first CSV field)."""
    tracks: dict[str, np.ndarray] = {
        "Total Counts": np.asarray(totals, dtype=np.float64),
        "Uniform": np.zeros(n_cells),
    }
    if mito_fraction is not None:
        tracks["Mito. frac."] = np.asarray(mito_fraction, dtype=np.float64)
    if metadata is not None:
        for column in metadata.columns:
            series = metadata[column]
            if _is_continuous(series):
                values = series.to_numpy(dtype=np.float64)
                tracks[str(column).replace(",", " ")] = np.nan_to_num(values)
    return tracks
