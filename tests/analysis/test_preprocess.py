from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bioblocks.analysis._preprocess import (
    as_counts_csr,
    filter_cells,
    mito_fraction,
    mito_gene_mask,
    normalize_total,
    total_counts,
)
from bioblocks.errors import AnalysisInputError

COUNTS = sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 4.0]]))


def test_filter_cells_keeps_positive_or_threshold() -> None:
    totals = total_counts(COUNTS)
    np.testing.assert_array_equal(totals, [4.0, 0.0, 8.0])
    np.testing.assert_array_equal(filter_cells(totals), [0, 2])
    np.testing.assert_array_equal(filter_cells(totals, min_counts=5), [2])
    np.testing.assert_array_equal(filter_cells(totals, min_counts=4), [0, 2])


def test_normalize_total_scales_rows_to_the_mean_total() -> None:
    kept = COUNTS[[0, 2]]
    norm, target = normalize_total(kept)
    assert target == 6.0
    np.testing.assert_array_equal(norm.toarray(), [[1.5, 4.5, 0.0], [1.5, 1.5, 3.0]])
    assert isinstance(norm, sp.csr_matrix)
    np.testing.assert_allclose(np.asarray(norm.sum(axis=1)).ravel(), [6.0, 6.0])


def test_normalize_total_refuses_empty_cells() -> None:
    with pytest.raises(AnalysisInputError, match="zero total"):
        normalize_total(COUNTS)


def test_mito_fraction() -> None:
    mask = mito_gene_mask(["mt-Co1", "Actb", "MT-ND1"])
    np.testing.assert_array_equal(mask, [True, False, True])
    np.testing.assert_allclose(mito_fraction(COUNTS, mask), [0.25, 0.0, 0.75])


def test_as_counts_csr_rejects_negative_and_nan() -> None:
    with pytest.raises(AnalysisInputError, match="negative"):
        as_counts_csr(np.array([[1.0, -1.0]]))
    with pytest.raises(AnalysisInputError, match="NaN"):
        as_counts_csr(np.array([[1.0, np.nan]]))
    out = as_counts_csr(sp.csr_matrix(np.array([[0.0, 2.0]])))
    assert out.nnz == 1 and out.dtype == np.float64


def test_scale_rows_inplace_keeps_dtype_and_matches_scale_rows(monkeypatch) -> None:
    import bioblocks.analysis._preprocess as pre

    monkeypatch.setattr(pre, "_SCALE_BLOCK_ROWS", 3)  # several blocks
    rng = np.random.default_rng(0)
    dense = rng.poisson(1.0, size=(10, 6)).astype(np.float32)
    factors = rng.random(10) + 0.5
    want = pre.scale_rows(sp.csr_matrix(dense, dtype=np.float64), factors).toarray()
    matrix = sp.csr_matrix(dense)
    out = pre.scale_rows_inplace(matrix, factors)
    assert out is matrix and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix.toarray(), want, rtol=1e-6)


def test_as_counts_csr_float32_and_own_data() -> None:
    counts = sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]], dtype=np.int32))
    shared = as_counts_csr(counts, dtype=np.float32)
    assert shared.dtype == np.float32 and np.shares_memory(shared.indices, counts.indices)
    f32 = sp.csr_matrix(counts, dtype=np.float32)
    assert np.shares_memory(as_counts_csr(f32, dtype=np.float32).data, f32.data)
    owned = as_counts_csr(f32, dtype=np.float32, own_data=True)
    assert not np.shares_memory(owned.data, f32.data)
    np.testing.assert_array_equal(owned.toarray(), counts.toarray())
