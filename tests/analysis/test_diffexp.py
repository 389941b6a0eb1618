"""Differential expression: every gene's p-value against scipy, on the HPC data and on
small matrices built to hold ties, negative values and genes absent from one group."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from bioblocks.analysis import ExpressionStore
from bioblocks.analysis._diffexp_kernels import sort_columns_by_value
from bioblocks.analysis.diffexp import (
    PSEUDOCOUNT,
    _compare,
    _group_stats,
    _wilcoxon_vs_rest,
    benjamini_hochberg,
    diffexp,
    marker_genes,
    rank_matrix,
)
from bioblocks.errors import AnalysisInputError

RTOL = 1e-8
CHUNK = 2000  # genes densified at a time for scipy (the code under test never densifies)


@pytest.fixture(scope="module")
def hpc_norm(hpc_spring):
    """The HPC analysis's own normalised matrix (its expression store), ranked, and its
    Leiden clusters."""
    store = ExpressionStore.open(hpc_spring.folder)
    matrix = store.matrix()
    return matrix, rank_matrix(matrix), np.asarray(hpc_spring.result.clusters["Leiden cluster"])


def _scipy_wilcoxon(matrix: sp.csc_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, matrix.shape[1], CHUNK):
        block = matrix[:, start : start + CHUNK].toarray().astype(np.float64)
        out.append(stats.mannwhitneyu(block[a], block[b], method="asymptotic",
                                      use_continuity=True, axis=0).pvalue)  # fmt: skip
    return np.concatenate(out)


def _scipy_welch(matrix: sp.csc_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, matrix.shape[1], CHUNK):
        block = np.log1p(matrix[:, start : start + CHUNK].toarray().astype(np.float64))
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(stats.ttest_ind(block[a], block[b], equal_var=False, axis=0).pvalue)
    return np.concatenate(out)


def _assert_p(ours: np.ndarray, ref: np.ndarray) -> None:
    # scipy gives NaN only for genes constant over both groups; we give 1 (documented).
    np.testing.assert_allclose(ours, np.where(np.isnan(ref), 1.0, ref), rtol=RTOL, atol=0)


def test_hpc_cluster_against_rest_matches_scipy(hpc_norm) -> None:
    matrix, ranked, clusters = hpc_norm
    a = clusters == clusters[0]
    result = diffexp(ranked, a)
    _assert_p(result.pvalue, _scipy_wilcoxon(matrix, a, ~a))
    assert (result.n_a, result.n_b) == (a.sum(), (~a).sum())
    # genes the cluster never expresses while the rest does: tested and matched above
    assert np.any((result.frac_a == 0) & (result.frac_b > 0))
    # every gene is tested; padj is BH over all of them
    assert result.pvalue.size == matrix.shape[1]
    np.testing.assert_allclose(result.padj, stats.false_discovery_control(result.pvalue),
                               rtol=1e-12)  # fmt: skip


def test_hpc_two_lassoed_groups_match_scipy(hpc_norm) -> None:
    matrix, ranked, _ = hpc_norm
    rng = np.random.default_rng(7)
    cells = rng.permutation(matrix.shape[0])
    a_idx, b_idx = np.sort(cells[:300]), np.sort(cells[300:1100])
    a = np.zeros(matrix.shape[0], bool)
    b = np.zeros(matrix.shape[0], bool)
    a[a_idx], b[b_idx] = True, True
    wilcoxon = diffexp(ranked, a_idx, b_idx)
    _assert_p(wilcoxon.pvalue, _scipy_wilcoxon(matrix, a, b))
    welch = diffexp(ranked, a_idx, b_idx, method="t-test")
    _assert_p(welch.pvalue, _scipy_welch(matrix, a, b))
    # the score of the t-test is Welch's t
    j = int(np.argmax(welch.frac_a + welch.frac_b))
    x = np.log1p(matrix[:, j].toarray().ravel().astype(np.float64))
    assert welch.score[j] == pytest.approx(stats.ttest_ind(x[a], x[b], equal_var=False).statistic,
                                           rel=1e-9)  # fmt: skip


def test_hpc_statistics_per_group(hpc_norm) -> None:
    matrix, ranked, clusters = hpc_norm
    a = clusters == clusters[0]
    result = diffexp(ranked, a)
    dense = matrix[:, :500].toarray().astype(np.float64)
    np.testing.assert_allclose(result.mean_a[:500], dense[a].mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.mean_b[:500], dense[~a].mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.frac_a[:500], (dense[a] > 0).mean(axis=0))
    np.testing.assert_allclose(result.frac_b[:500], (dense[~a] > 0).mean(axis=0))
    expected_lfc = np.log2((dense[a].mean(axis=0) + PSEUDOCOUNT) /
                           (dense[~a].mean(axis=0) + PSEUDOCOUNT))  # fmt: skip
    np.testing.assert_allclose(result.logfoldchange[:500], expected_lfc, rtol=1e-9, atol=1e-9)
    # the top genes are the highest scores, and the cluster's markers are up in it
    top = result.top(50)
    assert np.all(np.diff(result.score[top]) <= 0)
    assert result.score[top[0]] == result.score.max()
    assert np.all(result.logfoldchange[top[:10]] > 0)


def test_hpc_markers_match_one_vs_rest(hpc_norm) -> None:
    matrix, ranked, clusters = hpc_norm
    markers = marker_genes(ranked, clusters)
    assert set(markers) == {str(c) for c in np.unique(clusters)}
    for label in sorted(markers)[:3]:
        one = diffexp(ranked, clusters.astype(str) == label)
        np.testing.assert_array_equal(markers[label].pvalue, one.pvalue)
        np.testing.assert_array_equal(markers[label].score, one.score)
    label = sorted(markers)[-1]
    a = clusters.astype(str) == label
    _assert_p(markers[label].pvalue[:3000], _scipy_wilcoxon(matrix[:, :3000], a, ~a))
    rows = markers[label].records([f"g{j}" for j in range(matrix.shape[1])], top=50)
    assert len(rows) == 50 and rows[0]["score"] >= rows[-1]["score"]


def test_hpc_against_rest_reads_either_side_with_one_answer(hpc_norm) -> None:
    """One group against the rest reads the smaller side's cells by row (global ranks);
    it equals the column scan over both groups, whichever side it reads."""
    _, ranked, clusters = hpc_norm
    a = clusters == clusters[0]
    scan = diffexp(ranked, a, ~a)  # an explicit group B takes the column scan
    for complement in (False, True):
        rows = _wilcoxon_vs_rest(ranked, a, complement=complement)
        np.testing.assert_allclose(rows.pvalue, scan.pvalue, rtol=1e-12, atol=0)
        np.testing.assert_allclose(rows.score, scan.score, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rows.mean_a, scan.mean_a, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(rows.frac_b, scan.frac_b)


def test_hpc_two_groups_key_sort_equals_the_column_scan(hpc_norm) -> None:
    """Two groups of float32 values are ranked from their own cells' sorted keys; the
    column scan over the whole matrix gives the same statistics."""
    _, ranked, clusters = hpc_norm
    a, b = clusters == clusters[0], clusters == clusters[-1]
    if not (b & ~a).any():
        b = ~a
    b &= ~a
    keyed = diffexp(ranked, a, b)
    labels = np.full(ranked.n_cells, -1, dtype=np.int32)
    labels[a], labels[b] = 0, 1
    scan = _compare(_group_stats(ranked, labels, 2, with_log=False), 0, "wilcoxon")
    for name in ("pvalue", "score", "mean_a", "mean_b", "frac_a", "frac_b"):
        np.testing.assert_allclose(getattr(keyed, name), getattr(scan, name), rtol=1e-12,
                                   atol=1e-15, err_msg=name)  # fmt: skip


def _tricky_matrix() -> np.ndarray:
    """Counts with heavy ties, a gene absent from all cells, one absent from half the
    cells, one constant, one with negative values and zeros among them."""
    rng = np.random.default_rng(3)
    x = rng.poisson(0.7, size=(240, 12)).astype(np.float64) * rng.choice([1.0, 2.5], (240, 12))
    x[:, 0] = 0
    x[:120, 1] = 0
    x[:, 2] = 3.0
    x[:, 3] = np.where(x[:, 3] > 0, x[:, 3] - 2.0, 0.0)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_negatives_and_empty_genes_match_scipy(dtype) -> None:
    x = _tricky_matrix().astype(dtype)
    ranked = rank_matrix(sp.csc_matrix(x))
    a = np.arange(240) < 120  # gene 1 is all zero in A
    b = np.arange(240) % 3 == 0
    b &= ~a
    for group_b, mask_b in ((None, ~a), (b, b)):
        result = diffexp(ranked, a, group_b)
        ref = [stats.mannwhitneyu(x[a, j].astype(float), x[mask_b, j].astype(float),
                                  method="asymptotic").pvalue for j in range(12)]  # fmt: skip
        np.testing.assert_allclose(result.pvalue, ref, rtol=RTOL, atol=0)
    assert result.pvalue[0] == 1.0 and result.score[0] == 0.0  # nothing to rank
    for complement in (False, True):  # the by-row path, reading either side
        rows = _wilcoxon_vs_rest(ranked, a, complement=complement)
        ref = [stats.mannwhitneyu(x[a, j].astype(float), x[~a, j].astype(float),
                                  method="asymptotic").pvalue for j in range(12)]  # fmt: skip
        np.testing.assert_allclose(rows.pvalue, ref, rtol=RTOL, atol=0)
    welch = diffexp(ranked, a, b, method="t-test")
    for j in (1, 4, 5, 6):
        ref = stats.ttest_ind(np.log1p(x[a, j].astype(float)), np.log1p(x[b, j].astype(float)),
                              equal_var=False)  # fmt: skip
        assert welch.pvalue[j] == pytest.approx(ref.pvalue, rel=RTOL)
    assert (welch.score[2], welch.pvalue[2]) == (0.0, 1.0)  # constant gene (scipy: NaN)


def test_constant_but_different_groups_give_zero_p() -> None:
    x = np.r_[np.full(10, 2.0), np.full(15, 5.0)][:, None]
    welch = diffexp(rank_matrix(sp.csc_matrix(x)), np.arange(10), method="t-test")
    assert (welch.score[0], welch.pvalue[0]) == (-np.inf, 0.0)
    # scipy's variances carry rounding error here: t about -7e15, p about 1e-293
    ref = stats.ttest_ind(np.log1p(x[:10, 0]), np.log1p(x[10:, 0]), equal_var=False)
    assert ref.statistic < -1e12 and ref.pvalue < 1e-200


def test_sorting_kernels_agree() -> None:
    x = sp.csc_matrix(_tricky_matrix())
    fast = rank_matrix(x.astype(np.float32))
    data, indices = sort_columns_by_value(x.data, x.indices, x.indptr.astype(np.int64))
    np.testing.assert_array_equal(fast.data, data.astype(np.float32))
    for j in range(x.shape[1]):
        s, e = x.indptr[j], x.indptr[j + 1]
        assert np.all(np.diff(fast.data[s:e]) >= 0)
        assert sorted(zip(fast.indices[s:e], fast.data[s:e], strict=True)) == sorted(
            zip(x.indices[s:e], x.data[s:e].astype(np.float32), strict=True)
        )


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(0).random(1000) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))


@pytest.mark.parametrize(
    ("a", "b", "method", "field"),
    [
        ([], None, "wilcoxon", "group_a"),
        ([0, 1], [1, 2], "wilcoxon", "group_b"),
        ([0, 240], None, "wilcoxon", "group_a"),
        ([0, 1], [-1], "wilcoxon", "group_b"),
        ([0], [1, 2], "t-test", "group_a"),
        ([0, 1], None, "anova", "method"),
        (np.arange(240), None, "wilcoxon", "group_b"),
    ],
)
def test_bad_groups_name_the_field(a, b, method, field) -> None:
    ranked = rank_matrix(sp.csc_matrix(_tricky_matrix()))
    with pytest.raises(AnalysisInputError) as info:
        diffexp(ranked, np.asarray(a, dtype=np.int64), None if b is None else np.asarray(b),
                method=method)  # fmt: skip
    assert info.value.field == field
