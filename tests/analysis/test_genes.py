from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.sparse as sp
import scipy.stats

from bioblocks.analysis._genes import (
    exclude_named_genes,
    filter_genes,
    pearson_with_columns,
    remove_correlated_genes,
    running_quantile,
    vscores,
)
from bioblocks.analysis._preprocess import normalize_total


def _naive_running_quantile(x, y, p, n_bins):
    order = np.argsort(x)
    x, y = x[order], y[order]
    dx = (x[-1] - x[0]) / n_bins
    centres = np.linspace(x[0] + dx / 2, x[-1] - dx / 2, n_bins)
    out = np.zeros(n_bins)
    for i, c in enumerate(centres):
        ix = np.nonzero((x >= c - dx / 2) & (x < c + dx / 2))[0]
        out[i] = np.percentile(y[ix], p) if len(ix) else (out[i - 1] if i else np.nan)
    return centres, out


def _naive_vscores(dense):
    """A straightforward dense transcription of spec §3 steps 1-7."""
    mu_all = dense.mean(axis=0)
    ix = np.nonzero(mu_all > 0)[0]
    mu = mu_all[ix]
    var = (dense[:, ix] ** 2).mean(axis=0) - mu**2
    ff = var / mu
    x, y = _naive_running_quantile(np.log(mu), np.log(ff / mu), 0.1, 50)
    x, y = x[~np.isnan(y)], y[~np.isnan(y)]
    h, b = np.histogram(np.log(ff), bins=200)
    b = b[:-1] + np.diff(b) / 2
    c = max(np.exp(b[np.argmax(h)]), 1)
    err = lambda b2: np.sum(abs(np.log(c * np.exp(-x) + b2) - y))  # noqa: E731
    bb = scipy.optimize.fmin(func=err, x0=[0.1], disp=False)[0]
    a = c / (1 + bb) - 1
    return ix, ff / ((1 + a) * (1 + bb) + bb * mu), a, bb


def test_running_quantile_matches_the_loop_definition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    x[:40] = 3.0 + rng.random(40)  # leaves empty bins between the bulk and this group
    y = rng.normal(size=500)
    cx, cy = running_quantile(x, y, 0.1, 50)
    nx, ny = _naive_running_quantile(x, y, 0.1, 50)
    np.testing.assert_array_equal(cx, nx)
    np.testing.assert_array_equal(cy, ny)


def test_vscores_match_a_dense_transcription_of_the_spec(make_counts) -> None:
    counts, _ = make_counts()
    norm, _ = normalize_total(counts)
    fit = vscores(norm)
    ix, v, a, b = _naive_vscores(norm.toarray())
    np.testing.assert_array_equal(fit.gene_ix, ix)
    np.testing.assert_allclose(fit.v_scores, v, rtol=1e-10)
    np.testing.assert_allclose([fit.a, fit.b], [a, b], rtol=1e-10)


def test_vscore_is_one_for_poisson_genes_when_fit_is_zero() -> None:
    # With a = b = 0 the v-score is the Fano factor: a Poisson gene scores about 1.
    rng = np.random.default_rng(2)
    dense = rng.poisson(5.0, size=(4000, 3)).astype(float)
    mu = dense.mean(axis=0)
    ff = dense.var(axis=0) / mu
    np.testing.assert_allclose(ff, 1.0, atol=0.1)


def test_filter_genes_selects_the_cluster_markers(make_counts) -> None:
    counts, _ = make_counts()
    norm, _ = normalize_total(counts)
    selected = filter_genes(norm, min_vscore_pctl=85, min_counts=3, min_cells=3)
    assert selected.size > 0
    markers = set(range(10, 100))
    assert len(set(selected.tolist()) & markers) / selected.size > 0.9
    dense = norm.toarray()
    ix, v, _, _ = _naive_vscores(dense)
    pos = v > 0
    thr = np.percentile(v[pos], 85)
    expected = ix[pos][(v[pos] >= thr) & ((dense[:, ix[pos]] >= 3).sum(axis=0) >= 3)]
    np.testing.assert_array_equal(selected, expected)


def test_pearson_with_columns_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    m = sp.random(200, 6, density=0.4, random_state=4, format="csc")
    v = rng.normal(size=200)
    got = pearson_with_columns(v, m)
    want = [scipy.stats.pearsonr(v, m[:, j].toarray().ravel())[0] for j in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_remove_correlated_genes_drops_genes_following_the_signature() -> None:
    rng = np.random.default_rng(5)
    cycle = rng.poisson(3.0, size=300).astype(float)
    dense = np.column_stack(
        [
            cycle,  # S1 (signature)
            cycle + rng.poisson(1.0, 300),  # S2 (signature)
            cycle * 2 + rng.poisson(1.0, 300),  # correlated with the signature
            rng.poisson(3.0, 300),  # independent
            np.zeros(300),  # never expressed signature gene: ignored
        ]
    )
    names = ["S1", "S2", "follower", "other", "S3"]
    kept, dropped = remove_correlated_genes(
        sp.csr_matrix(dense), names, np.array([2, 3]), ["S1", "S2", "S3"], min_corr=0.2
    )
    np.testing.assert_array_equal(kept, [3])
    np.testing.assert_array_equal(dropped, [2])
    kept, dropped = remove_correlated_genes(
        sp.csr_matrix(dense), names, np.array([2, 3]), ["absent"], min_corr=0.2
    )
    np.testing.assert_array_equal(kept, [2, 3])
    assert dropped.size == 0


def test_exclude_named_genes() -> None:
    np.testing.assert_array_equal(
        exclude_named_genes(["a", "b", "c"], np.array([0, 1, 2]), {"b"}), [0, 2]
    )


def test_column_reductions_over_blocks_equal_whole_matrix_sums(monkeypatch) -> None:
    """Blocked (bounded-memory) column sums are bit-identical to scipy's whole-matrix sums."""
    import bioblocks.analysis._genes as genes_mod

    rng = np.random.default_rng(4)
    matrix = sp.random(300, 40, density=0.3, random_state=4, format="csc") * 7.3
    matrix.data = np.round(matrix.data, 2)
    mean = np.asarray(matrix.sum(axis=0)).ravel() / 300
    sq = matrix.copy()
    sq.data **= 2
    var = np.asarray(sq.sum(axis=0)).ravel() / 300 - mean**2
    want_hits = np.asarray((matrix >= 3).sum(axis=0)).ravel()
    monkeypatch.setattr(genes_mod, "_BLOCK_NNZ", int(rng.integers(50, 200)))
    assert len(genes_mod.column_blocks(matrix)) > 3
    got_mean, got_var = genes_mod.column_mean_var(matrix)
    np.testing.assert_array_equal(got_mean, mean)
    np.testing.assert_array_equal(got_var, var)
    np.testing.assert_array_equal(genes_mod.count_cells_at_least(matrix, 3), want_hits)
