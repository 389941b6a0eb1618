from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from bioblocks.analysis._genes import filter_genes
from bioblocks.analysis._pca import zscore_pca
from bioblocks.analysis._preprocess import normalize_total
from bioblocks.errors import AnalysisInputError


def _data(make_counts):
    counts, _ = make_counts(n_per_cluster=80, n_genes=200)
    norm, _ = normalize_total(counts)
    return norm, filter_genes(norm)


def test_exact_pca_equals_full_svd_pca_up_to_sign(make_counts) -> None:
    norm, genes = _data(make_counts)
    got = zscore_pca(norm, genes, n_pcs=10, seed=0)
    z = norm[:, genes].toarray()
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    want = PCA(n_components=10, svd_solver="full").fit_transform(z)
    assert got.shape == (240, 10)
    signs = np.sign(np.sum(got * want, axis=0))
    np.testing.assert_allclose(got, want * signs, atol=1e-8)
    # components ordered by decreasing variance
    assert np.all(np.diff(got.var(axis=0)) <= 1e-9)


def test_num_pc_is_capped_by_the_number_of_genes(make_counts) -> None:
    norm, genes = _data(make_counts)
    assert zscore_pca(norm, genes[:4], n_pcs=30).shape == (240, 4)


def test_sparse_pca_is_seeded(make_counts) -> None:
    norm, genes = _data(make_counts)
    a = zscore_pca(norm, genes, n_pcs=5, seed=3, sparse=True)
    b = zscore_pca(norm, genes, n_pcs=5, seed=3, sparse=True)
    assert a.shape == (240, 5)
    np.testing.assert_array_equal(a, b)
    # the sparse path is a truncated SVD of the std-scaled, uncentred matrix
    x = norm[:, genes].toarray()
    x = x / x.std(axis=0)
    s = np.linalg.svd(x, compute_uv=False)[:5]
    np.testing.assert_allclose(np.linalg.norm(a, axis=0), s, rtol=1e-3)


def test_no_gene_is_an_error(make_counts) -> None:
    norm, _ = _data(make_counts)
    with pytest.raises(AnalysisInputError, match="no gene"):
        zscore_pca(norm, np.array([], dtype=int), n_pcs=3)


def test_lanczos_and_dense_eigenvectors_agree() -> None:
    from bioblocks.analysis._pca import _top_eigenvectors

    x = np.random.default_rng(1).normal(size=(600, 300))
    cov = x.T @ x
    lanczos = _top_eigenvectors(cov, 10)  # 300 > max(40, 200): ARPACK
    dense = np.linalg.eigh(cov)[1][:, -10:]
    np.testing.assert_allclose(np.abs(np.sum(lanczos * dense, axis=0)), 1.0, atol=1e-10)
