"""PCA of the filtered genes (spec §4): exact on z-scored genes, or sparse and randomised."""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg
from sklearn.utils.extmath import randomized_svd

from bioblocks.analysis._genes import column_blocks, column_mean_var
from bioblocks.errors import AnalysisInputError

log = logging.getLogger(__name__)

#: Rows densified at a time by the exact path (bounds its extra memory).
_BLOCK_ROWS = 16_384


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


def _exact_pca(sub: sp.csr_matrix, n_pcs: int) -> np.ndarray:
    """Exact PCA of z-scored columns via the eigendecomposition of their covariance.

    The covariance ``Z^T Z`` (genes × genes) is accumulated over row blocks, so the dense
    z-scored matrix is never held whole; its leading eigenvectors are computed to machine
    precision (no randomisation), which keeps the k-nearest-neighbour graph stable.
    """
    n_cells, n_genes = sub.shape
    mean, std = _gene_mean_std(sub.tocsc())
    cov = np.zeros((n_genes, n_genes))
    for start in range(0, n_cells, _BLOCK_ROWS):
        z = (sub[start : start + _BLOCK_ROWS].toarray() - mean) / std
        cov += z.T @ z
    eigvecs = _top_eigenvectors(cov, n_pcs)
    components = _fix_signs(eigvecs[:, ::-1].T)  # descending variance, (n_pcs, n_genes)
    out = np.empty((n_cells, n_pcs))
    for start in range(0, n_cells, _BLOCK_ROWS):
        z = (sub[start : start + _BLOCK_ROWS].toarray() - mean) / std
        out[start : start + z.shape[0]] = z @ components.T
    return out


def _sparse_pca(sub: sp.csc_matrix, n_pcs: int, seed: int) -> np.ndarray:
    """Truncated (randomised) SVD of the genes divided by their standard deviation, uncentred.

    ``sub`` (a private copy, in float32 or float64) is scaled in place, column block by
    column block, and stays in its dtype: no copy of it is made.
    """
    _, std = _gene_mean_std(sub)
    inverse = 1.0 / std
    for a, b in column_blocks(sub):  # nonzero-bounded blocks: no matrix-sized temporary
        lo, hi = sub.indptr[a], sub.indptr[b]
        sub.data[lo:hi] *= np.repeat(inverse[a:b], np.diff(sub.indptr[a : b + 1]))
    u, s, vt = randomized_svd(sub, n_pcs, n_iter=7, random_state=seed)
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
    sub = sp.csr_matrix(matrix[:, gene_filter], dtype=np.float64)
    n_pcs = min(n_pcs, sub.shape[0])
    log.info("exact PCA: %d cells × %d genes → %d components", *sub.shape, n_pcs)
    return _exact_pca(sub, n_pcs)
