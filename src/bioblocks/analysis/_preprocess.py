"""Cell filtering, total-count normalisation and mitochondrial fraction (spec §2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from bioblocks.errors import AnalysisInputError

log = logging.getLogger(__name__)

MITO_PREFIXES = ("mt-", "MT-")


def as_counts_csr(
    counts: sp.spmatrix | sp.sparray | np.ndarray,
    *,
    dtype: type[np.floating] = np.float64,
    own_data: bool = False,
) -> sp.csr_matrix:
    """Return ``counts`` as a canonical CSR matrix (cells × genes) without explicit zeros.

    Parameters
    ----------
    counts
        Raw counts, any scipy sparse matrix or dense array.
    dtype
        Value type of the result: float64, or float32 for large matrices (half the memory;
        integer counts below 2**24 stay exact).
    own_data
        When True the result's ``data`` array is never shared with ``counts``, so it may be
        modified in place. When False, a matrix already in the wanted form is not copied
        (its arrays are shared and must not be modified).

    Raises
    ------
    AnalysisInputError
        When the matrix has negative or non-finite entries.
    """
    if (
        isinstance(counts, (sp.spmatrix, sp.sparray))
        and counts.format == "csr"
        and counts.dtype in (np.float32, np.float64, np.int32, np.int64)
        and counts.has_canonical_format
    ):
        # shares the index arrays (never modified below); copies the values when asked to
        data = counts.data
        if data.dtype != dtype or own_data:
            data = data.astype(dtype)
        csr = sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
        if csr.nnz and not np.all(csr.data):
            csr = csr.copy()
            csr.eliminate_zeros()
    else:
        csr = sp.csr_matrix(counts, dtype=dtype, copy=True)
        csr.sum_duplicates()
        csr.eliminate_zeros()
    if csr.nnz and not np.isfinite(csr.data).all():
        raise AnalysisInputError(
            "the count matrix holds NaN or infinite values; import raw counts", field="counts"
        )
    if csr.nnz and csr.data.min() < 0:
        raise AnalysisInputError(
            "the count matrix holds negative values; SPRING needs raw (non-negative) counts",
            field="counts",
        )
    return csr


def total_counts(counts: sp.csr_matrix) -> np.ndarray:
    """Return the total count of every row (cell) of a CSR matrix, as float64."""
    return np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()


def filter_cells(totals: np.ndarray, *, min_counts: float = 0) -> np.ndarray:
    """Return the indices of the cells kept by the §2 cell filter.

    Parameters
    ----------
    totals
        Total count per cell.
    min_counts
        Keep cells with ``totals >= min_counts`` when positive, else cells with ``totals > 0``.

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices into ``totals``.
    """
    keep = totals >= min_counts if min_counts > 0 else totals > 0
    return np.flatnonzero(keep).astype(np.int64)


def mito_gene_mask(gene_names: Sequence[str]) -> np.ndarray:
    """Return a boolean mask of the genes whose name starts with ``mt-`` or ``MT-``."""
    return np.fromiter(
        (str(g).startswith(MITO_PREFIXES) for g in gene_names), dtype=bool, count=len(gene_names)
    )


def mito_fraction(
    counts: sp.csr_matrix, mito_mask: np.ndarray, *, totals: np.ndarray | None = None
) -> np.ndarray:
    """Return, per cell, the counts on mitochondrial genes divided by the total counts.

    ``totals`` are the cells' total counts when the caller has them (computed otherwise).
    Cells with no counts get 0.
    """
    if totals is None:
        totals = total_counts(counts)
    mito = np.asarray(counts[:, np.flatnonzero(mito_mask)].sum(axis=1), dtype=np.float64).ravel()
    out = np.zeros_like(totals)
    np.divide(mito, totals, out=out, where=totals > 0)
    return out


def normalize_total(
    counts: sp.csr_matrix, *, totals: np.ndarray | None = None, target: float | None = None
) -> tuple[sp.csr_matrix, float]:
    """Scale every cell to the same total count (a CSR row scaling, spec §2).

    Parameters
    ----------
    counts
        Raw counts, cells × genes, CSR. Every cell must have a positive total.
    totals
        The cells' total counts (computed when omitted).
    target
        The total every cell is scaled to; the mean of ``totals`` when omitted.

    Returns
    -------
    (normalised, target)
        A new float64 CSR matrix ``E[c, :] * target / totals[c]`` and the target used.
    """
    csr = sp.csr_matrix(counts, dtype=np.float64)
    if totals is None:
        totals = total_counts(csr)
    if np.any(totals <= 0):
        raise AnalysisInputError(
            "cannot normalise cells with zero total counts; filter them first", field="counts"
        )
    if target is None:
        target = float(np.mean(totals))
    return scale_rows(csr, float(target) / totals), float(target)


def scale_rows(counts: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    """Return a CSR matrix whose row ``c`` is ``counts[c, :] * factors[c]``.

    The result has new float64 values and shares the index arrays of ``counts`` (neither
    is modified).
    """
    data = counts.data * np.repeat(np.asarray(factors, dtype=np.float64), np.diff(counts.indptr))
    return sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


#: Rows scaled per block by :func:`scale_rows_inplace` (bounds its temporary memory).
_SCALE_BLOCK_ROWS = 50_000


def scale_rows_inplace(counts: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    """Multiply row ``c`` of ``counts`` by ``factors[c]`` in place (values keep their dtype).

    Rows are scaled block by block, so no array of the matrix's size is allocated. Returns
    ``counts``.
    """
    factors = np.asarray(factors, dtype=np.float64)
    indptr = counts.indptr
    for start in range(0, counts.shape[0], _SCALE_BLOCK_ROWS):
        stop = min(start + _SCALE_BLOCK_ROWS, counts.shape[0])
        lo, hi = indptr[start], indptr[stop]
        counts.data[lo:hi] *= np.repeat(factors[start:stop], np.diff(indptr[start : stop + 1]))
    return counts
