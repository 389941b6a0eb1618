"""Highly variable genes by v-score (Klein et al. 2015) and the gene filter (spec §3)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse as sp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VScores:
    """The v-score fit of spec §3 steps 1–7.

    Attributes
    ----------
    v_scores
        v-score of each gene of ``gene_ix``.
    gene_ix
        Indices of the genes with a positive mean (step 1).
    mu
        Mean of each gene of ``gene_ix``.
    fano
        Fano factor of each gene of ``gene_ix``.
    a, b
        The fitted noise parameters.
    """

    v_scores: np.ndarray
    gene_ix: np.ndarray
    mu: np.ndarray
    fano: np.ndarray
    a: float
    b: float


#: Nonzeros handled per block by the column reductions (bounds their temporary memory).
_BLOCK_NNZ = 10_000_000


def column_blocks(csc: sp.csc_matrix) -> list[tuple[int, int]]:
    """Ranges of columns holding at most ~``_BLOCK_NNZ`` nonzeros each."""
    bounds = np.searchsorted(csc.indptr, np.arange(0, csc.nnz, _BLOCK_NNZ), side="right") - 1
    starts = sorted({int(b) for b in bounds} | {0})
    ends = starts[1:] + [csc.shape[1]]
    return [(a, b) for a, b in zip(starts, ends, strict=True) if b > a]


def column_slice(csc: sp.csc_matrix, a: int, b: int) -> sp.csc_matrix:
    """Columns ``a:b`` of a CSC matrix, sharing its arrays (no copy)."""
    lo, hi = csc.indptr[a], csc.indptr[b]
    return sp.csc_matrix(
        (csc.data[lo:hi], csc.indices[lo:hi], csc.indptr[a : b + 1] - lo),
        shape=(csc.shape[0], b - a),
    )


def column_mean_var(matrix: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-column mean and population variance ``mean(E**2) - mean(E)**2``.

    Computed in float64 over blocks of columns, so a large matrix is never copied whole.
    """
    csc = sp.csc_matrix(matrix)
    n = csc.shape[0]
    total = np.zeros(csc.shape[1])
    total_sq = np.zeros(csc.shape[1])
    for a, b in column_blocks(csc):
        block = column_slice(csc, a, b)
        total[a:b] = np.asarray(block.sum(axis=0, dtype=np.float64)).ravel()
        block = sp.csc_matrix(
            (block.data.astype(np.float64) ** 2, block.indices, block.indptr), shape=block.shape
        )
        total_sq[a:b] = np.asarray(block.sum(axis=0)).ravel()
    mean = total / n
    return mean, total_sq / n - mean**2


def running_quantile(
    x: np.ndarray, y: np.ndarray, p: float, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the running ``p``-th percentile of ``y`` in ``n_bins`` equal-width bins of ``x``.

    Parameters
    ----------
    x, y
        Points (same length).
    p
        Percentile in 0–100 (``numpy.percentile``'s convention).
    n_bins
        Number of bins between ``min(x)`` and ``max(x)``.

    Returns
    -------
    (centres, values)
        Bin centres and the percentile of the points with
        ``centre - dx/2 <= x < centre + dx/2``; an empty bin repeats the previous value
        (NaN for the first bin).
    """
    order = np.argsort(x)
    xs = x[order]
    ys = y[order]
    dx = (xs[-1] - xs[0]) / n_bins
    centres = np.linspace(xs[0] + dx / 2, xs[-1] - dx / 2, n_bins)
    lo = np.searchsorted(xs, centres - dx / 2, side="left")
    hi = np.searchsorted(xs, centres + dx / 2, side="left")
    values = np.empty(n_bins)
    for i in range(n_bins):  # n_bins (50) iterations, not per gene
        if hi[i] > lo[i]:
            values[i] = np.percentile(ys[lo[i] : hi[i]], p)
        else:
            values[i] = values[i - 1] if i > 0 else np.nan
    return centres, values


def vscores(
    norm: sp.spmatrix, *, min_mean: float = 0, n_bins: int = 50, fit_percentile: float = 0.1
) -> VScores:
    """Fit the v-score model on a normalised matrix (cells × genes), spec §3 steps 1–7.

    Returns
    -------
    VScores
        The v-scores of the genes with mean above ``min_mean`` and the fitted parameters.
    """
    mean, var = column_mean_var(norm)
    gene_ix = np.flatnonzero(mean > min_mean)
    mu = mean[gene_ix]
    fano = var[gene_ix] / mu
    # Genes without variance (fano 0) have no log; they get v-score 0 and are never kept.
    varying = fano > 0
    if np.count_nonzero(varying) < 2:
        zeros = np.zeros(gene_ix.size)
        return VScores(v_scores=zeros, gene_ix=gene_ix, mu=mu, fano=fano, a=0.0, b=0.0)
    data_x = np.log(mu[varying])
    data_y = np.log(fano[varying] / mu[varying])
    x, y = running_quantile(data_x, data_y, fit_percentile, n_bins)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]

    hist, edges = np.histogram(np.log(fano[varying]), bins=200)
    centres = edges[:-1] + np.diff(edges) / 2
    c = max(np.exp(centres[np.argmax(hist)]), 1)

    def error(b2: np.ndarray) -> float:
        return float(np.sum(np.abs(np.log(c * np.exp(-x) + b2) - y)))

    b = float(scipy.optimize.fmin(func=error, x0=[0.1], disp=False)[0])
    a = c / (1 + b) - 1
    v = fano / ((1 + a) * (1 + b) + b * mu)
    return VScores(v_scores=v, gene_ix=gene_ix, mu=mu, fano=fano, a=float(a), b=b)


def filter_genes(
    norm: sp.spmatrix,
    *,
    min_vscore_pctl: float = 85,
    min_counts: float = 3,
    min_cells: int = 3,
) -> np.ndarray:
    """Select highly variable genes (spec §3 step 8).

    Parameters
    ----------
    norm
        Normalised matrix of the subplot's cells, cells × genes.
    min_vscore_pctl
        Keep genes whose v-score is at least this percentile of the positive v-scores.
    min_counts, min_cells
        Keep genes with at least ``min_cells`` cells expressing ``>= min_counts``.

    Returns
    -------
    numpy.ndarray
        Sorted int64 column indices of the selected genes (possibly empty).
    """
    csc = sp.csc_matrix(norm)
    fit = vscores(csc)
    positive = fit.v_scores > 0
    v = fit.v_scores[positive]
    gene_ix = fit.gene_ix[positive]
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    min_vscore = np.percentile(v, min_vscore_pctl)
    n_expressing = count_cells_at_least(csc, min_counts)[gene_ix]
    keep = (n_expressing >= min_cells) & (v >= min_vscore)
    return gene_ix[keep].astype(np.int64)


def count_cells_at_least(matrix: sp.spmatrix, threshold: float) -> np.ndarray:
    """Return, per column of a non-negative matrix, the number of rows with value ``>= threshold``."""
    csc = sp.csc_matrix(matrix)
    if threshold <= 0:  # every (non-negative) value qualifies, implicit zeros included
        return np.full(csc.shape[1], csc.shape[0], dtype=np.int64)
    out = np.zeros(csc.shape[1], dtype=np.int64)
    for a, b in column_blocks(csc):
        block = column_slice(csc, a, b)
        hits = np.concatenate([[0], np.cumsum(block.data >= threshold, dtype=np.int64)])
        out[a:b] = hits[block.indptr[1:]] - hits[block.indptr[:-1]]
    return out


def _zscore_columns(dense: np.ndarray) -> np.ndarray:
    mean = dense.mean(axis=0)
    std = np.sqrt((dense**2).mean(axis=0) - mean**2)
    return (dense - mean) / std


def remove_correlated_genes(
    norm: sp.spmatrix,
    gene_names: Sequence[str],
    gene_filter: np.ndarray,
    gene_set: Collection[str],
    *,
    min_corr: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop filtered genes correlated with the summed z-score of a gene set (spec §3 step 9).

    Parameters
    ----------
    norm
        Normalised matrix, cells × genes.
    gene_names
        Names of the columns of ``norm``.
    gene_filter
        Column indices to test.
    gene_set
        Names of the signature genes (for example the G2M cell-cycle genes); those absent
        or never expressed are ignored.
    min_corr
        Genes with Pearson correlation ``>= min_corr`` with the signature are dropped.

    Returns
    -------
    (kept, excluded)
        The indices of ``gene_filter`` that remain, and those dropped (both sorted as given).
    """
    gene_filter = np.asarray(gene_filter, dtype=np.int64)
    wanted = set(gene_set)
    seed_ix = np.array([i for i, g in enumerate(gene_names) if g in wanted], dtype=np.int64)
    csc = sp.csc_matrix(norm)
    if seed_ix.size:
        seed_ix = seed_ix[np.asarray(csc[:, seed_ix].sum(axis=0)).ravel() > 0]
    if seed_ix.size == 0 or gene_filter.size == 0:
        return gene_filter, np.zeros(0, dtype=np.int64)
    signature = _zscore_columns(csc[:, seed_ix].toarray()).sum(axis=1)
    corr = pearson_with_columns(signature, csc[:, gene_filter])
    drop = corr >= min_corr
    return gene_filter[~drop], gene_filter[drop]


def pearson_with_columns(vector: np.ndarray, matrix: sp.spmatrix) -> np.ndarray:
    """Return the Pearson correlation of ``vector`` with every column of a sparse matrix.

    Columns (or a vector) with zero variance give NaN.
    """
    csc = sp.csc_matrix(matrix)
    n = csc.shape[0]
    v = vector - vector.mean()
    col_mean, col_var = column_mean_var(csc)
    cov = np.asarray(csc.T @ v).ravel() / n  # sum(v) == 0, so centring the columns is implicit
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.sqrt(col_var * np.mean(v**2))


def exclude_named_genes(
    gene_names: Sequence[str], gene_filter: np.ndarray, excluded: Collection[str]
) -> np.ndarray:
    """Return ``gene_filter`` without the genes whose name is in ``excluded``."""
    drop = set(excluded)
    keep = np.fromiter(
        (gene_names[i] not in drop for i in gene_filter), dtype=bool, count=len(gene_filter)
    )
    return np.asarray(gene_filter, dtype=np.int64)[keep]
