"""PCA of the filtered genes (spec §4): exact on z-scored genes, or sparse and randomised."""

from __future__ import annotations

import logging

import numba
import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from bioblocks.analysis._genes import column_blocks, column_mean_var
from bioblocks.errors import AnalysisInputError

log = logging.getLogger(__name__)

def _gene_mean_std(matrix: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    mean, var = column_mean_var(matrix)
    std = np.sqrt(np.clip(var, 0, None))
    std[std == 0] = 1.0  # a constant gene contributes nothing instead of NaN
    return mean, std


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each component (row) so that its largest-magnitude loading is positive."""
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), largest])
    signs[signs == 0] = 1
    return components * signs[:, None]


def _top_eigenvectors(cov: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` leading eigenvectors of a symmetric matrix, by increasing eigenvalue.

    ARPACK (Lanczos, converged to machine precision from a fixed start vector) for a few
    components of a large matrix, a dense LAPACK solver otherwise: both are deterministic
    and agree to ~1e-11 on the projections, ARPACK being several times faster.
    """
    n = cov.shape[0]
    if n > max(4 * k, 200):
        try:
            vals, vecs = scipy.sparse.linalg.eigsh(
                cov, k=k, which="LA", v0=np.full(n, 1 / np.sqrt(n)), tol=0
            )
            return vecs[:, np.argsort(vals)]
        except scipy.sparse.linalg.ArpackNoConvergence:
            log.warning("ARPACK did not converge; using the dense eigensolver")
    _, vecs = scipy.linalg.eigh(cov, subset_by_index=(n - k, n - 1), driver="evr")
    return vecs


@numba.njit(parallel=True, cache=True, nogil=True)
def _gram_upper(
    r_indptr: np.ndarray,
    r_indices: np.ndarray,
    r_data: np.ndarray,
    c_indptr: np.ndarray,
    c_indices: np.ndarray,
    c_data: np.ndarray,
    n_cols: int,
) -> np.ndarray:  # pragma: no cover - numba
    """The upper triangle (``b >= a``) of ``X^T X`` from ``X`` in both sparse forms.

    Row ``a`` of the result is filled by one thread from the cells of column ``a`` (each
    cell's row, from column ``a`` on), so it stays in cache and the sums run in a fixed
    order: the result does not depend on the thread count. Row indices must be sorted.
    """
    gram = np.zeros((n_cols, n_cols))
    for a in numba.prange(n_cols):
        out = gram[a]
        for p in range(c_indptr[a], c_indptr[a + 1]):
            r = c_indices[p]
            value = c_data[p]
            lo = r_indptr[r]
            hi = r_indptr[r + 1]
            for q in range(lo + np.searchsorted(r_indices[lo:hi], a), hi):
                out[r_indices[q]] += value * r_data[q]
    return gram


def _exact_pca(sub: sp.spmatrix, n_pcs: int) -> np.ndarray:
    """Exact PCA of z-scored columns via the eigendecomposition of their covariance.

    The covariance of the z-scored genes, ``D^-1 (X^T X - n mu mu^T) D^-1``, comes from the
    sparse ``X^T X`` (work proportional to the squared nonzeros per cell: ~3 * 10^8
    products for 50,000 cells x 3,000 genes, where the dense z-scored matrix would take
    ~5 * 10^11), so the dense z-scored matrix is never formed. Its leading eigenvectors are
    computed to machine precision (no randomisation), which keeps the k-nearest-neighbour
    graph stable; the cells are projected through the sparse matrix as well.
    """
    csc = sp.csc_matrix(sub, dtype=np.float64)
    csc.sort_indices()
    csr = csc.tocsr()
    n_cells, n_genes = csc.shape
    mean, std = _gene_mean_std(csc)
    gram = _gram_upper(
        csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data,
        csc.indptr.astype(np.int64), csc.indices.astype(np.int64), csc.data, n_genes,
    )
    gram += np.triu(gram, 1).T  # the lower triangle is still zero
    gram -= n_cells * np.outer(mean, mean)
    gram /= np.outer(std, std)
    eigvecs = _top_eigenvectors(gram, n_pcs)
    del gram
    components = _fix_signs(eigvecs[:, ::-1].T)  # descending variance, (n_pcs, n_genes)
    loadings = components.T / std[:, None]
    return np.asarray(csr @ loadings) - mean @ loadings


@numba.njit(parallel=True, cache=True, nogil=True)
def _sparse_times_dense(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dense: np.ndarray
) -> np.ndarray:  # pragma: no cover - numba
    """``S @ dense`` for ``S`` given as compressed rows (CSR of ``S``, or CSC of ``S^T``).

    Each output row is summed by one thread in a fixed order (in ``dense``'s dtype), so
    the product does not depend on the thread count.
    """
    n_rows = indptr.shape[0] - 1
    width = dense.shape[1]
    out = np.zeros((n_rows, width), dtype=dense.dtype)
    for r in numba.prange(n_rows):
        row = out[r]
        for p in range(indptr[r], indptr[r + 1]):
            value = data[p]
            source = dense[indices[p]]
            for c in range(width):
                row[c] += value * source[c]
    return out


def _randomized_svd(
    csc: sp.csc_matrix, n_components: int, *, n_iter: int, seed: int, n_oversamples: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated SVD by randomised range finding (Halko et al. 2011, as scikit-learn's
    ``randomized_svd``: Gaussian test matrix from ``RandomState(seed)``, ``n_iter`` power
    iterations normalised by LU, a QR, the SVD of the projection), with the sparse products
    on every numba thread (scikit-learn's run on one: 162 s of 1,565 at a million cells).

    Returns ``(u, s, vt)`` for the ``n_components`` largest singular values.
    """
    csr = csc.tocsr()
    row_form = (csr.indptr, csr.indices, csr.data)  # A @ Q
    col_form = (csc.indptr, csc.indices, csc.data)  # A^T @ Q
    size = min(n_components + n_oversamples, min(csc.shape))
    # float32 data: float32 products and factorisations, as scikit-learn (its LU costs a
    # sixth of float64's, and the sparse path is approximate by design)
    q = np.random.RandomState(seed).normal(size=(csc.shape[1], size)).astype(csc.dtype)
    for _ in range(n_iter):
        q, _ = scipy.linalg.lu(_sparse_times_dense(*row_form, q), permute_l=True,
                               check_finite=False)
        q, _ = scipy.linalg.lu(_sparse_times_dense(*col_form, q), permute_l=True,
                               check_finite=False)
    q, _ = scipy.linalg.qr(_sparse_times_dense(*row_form, q), mode="economic",
                           check_finite=False)
    del csr, row_form
    b = _sparse_times_dense(*col_form, q).T  # Q^T A, (size, n_genes)
    u_hat, s, vt = scipy.linalg.svd(b, full_matrices=False, check_finite=False)
    return (q @ u_hat[:, :n_components]), s[:n_components], vt[:n_components]


def _sparse_pca(sub: sp.csc_matrix, n_pcs: int, seed: int) -> np.ndarray:
    """Truncated (randomised) SVD of the genes divided by their standard deviation, uncentred.

    ``sub`` (a private copy, in float32 or float64) is scaled in place, column block by
    column block, and stays in its dtype: no copy of it is made but the row form the
    products need.
    """
    _, std = _gene_mean_std(sub)
    inverse = 1.0 / std
    for a, b in column_blocks(sub):  # nonzero-bounded blocks: no matrix-sized temporary
        lo, hi = sub.indptr[a], sub.indptr[b]
        sub.data[lo:hi] *= np.repeat(inverse[a:b], np.diff(sub.indptr[a : b + 1]))
    u, s, vt = _randomized_svd(sub, n_pcs, n_iter=7, seed=seed)
    signs = np.sign(vt[np.arange(n_pcs), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1
    return ((u * s) * signs).astype(np.float64)


def zscore_pca(
    norm_counts_csr: sp.spmatrix,
    gene_filter: np.ndarray,
    *,
    n_pcs: int,
    seed: int = 0,
    sparse: bool = False,
) -> np.ndarray:
    """Principal components of the filtered genes of a normalised matrix (spec §4).

    Parameters
    ----------
    norm_counts_csr
        Total-count-normalised expression, cells × genes, CSR or CSC (float32 or float64).
    gene_filter
        Column indices of the genes to use.
    n_pcs
        Components wanted; ``min(len(gene_filter), n_pcs)`` are returned.
    seed
        Random seed of the sparse path (the exact path is deterministic).
    sparse
        False: z-score every gene (centre, divide by the population standard deviation) and
        take an exact PCA. True: divide by the standard deviation without centring and take
        a randomised truncated SVD, so the matrix stays sparse (for ≥ 100,000 cells).

    Returns
    -------
    numpy.ndarray
        ``(n_cells, num_pc)`` float64 coordinates, components by decreasing variance, each
        signed so that its largest gene loading is positive.
    """
    gene_filter = np.asarray(gene_filter, dtype=np.int64)
    if gene_filter.size == 0:
        raise AnalysisInputError("no gene to compute a PCA on", field="gene_filter")
    if n_pcs < 1:
        raise AnalysisInputError("needs at least one principal component", field="n_prin_comps")
    matrix = norm_counts_csr if sp.issparse(norm_counts_csr) else sp.csr_matrix(norm_counts_csr)
    n_pcs = min(int(n_pcs), gene_filter.size)
    if sparse:
        # a column selection of a CSC matrix copies only those columns
        sub = sp.csc_matrix(matrix)[:, gene_filter]
        n_pcs = min(n_pcs, min(sub.shape) - 1) if min(sub.shape) > 1 else 1
        log.info("sparse PCA: %d cells × %d genes → %d components", *sub.shape, n_pcs)
        return _sparse_pca(sub, n_pcs, seed)
    sub = sp.csc_matrix(matrix)[:, gene_filter]
    n_pcs = min(n_pcs, sub.shape[0])
    log.info("exact PCA: %d cells × %d genes → %d components", *sub.shape, n_pcs)
    return _exact_pca(sub, n_pcs)
