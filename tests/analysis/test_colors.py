from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioblocks.analysis._colors import (
    categorical_track,
    categorical_tracks,
    color_stats,
    continuous_tracks,
    gene_color_stats,
    jet_hex,
    label_columns,
    max_track_levels,
    track_color_stats,
)
from bioblocks.analysis._preprocess import normalize_total


def _independent_gene_stats(dense: np.ndarray) -> np.ndarray:
    """Spec §8 per gene, column by column on a dense array (sequential sums via cumsum)."""
    n = dense.shape[0]
    n_c = (100 - 99.6) / 100 * n
    out = np.zeros((dense.shape[1], 5))
    for j in range(dense.shape[1]):
        col = dense[:, j]
        mean = np.cumsum(col)[-1] / n
        var = np.cumsum(col * col)[-1] / n - mean * mean
        nonzero = col[col != 0]
        p = np.percentile(nonzero, 100 - 100 * n_c / len(nonzero)) if len(nonzero) > n_c else 0
        out[j] = [mean, np.sqrt(var) if var > 0 else 0.0, col.min(), col.max(), p]
    return out


def test_gene_color_stats_equal_an_independent_computation_exactly(make_counts) -> None:
    counts, _ = make_counts(n_per_cluster=400, n_genes=120)
    norm, _ = normalize_total(counts)
    dense = norm.toarray()
    dense[:, 5] = 0.0  # a gene never expressed
    dense[:, 6] = 7.25  # a gene expressed everywhere: min is not 0
    matrix = sp.csc_matrix(dense)
    got = gene_color_stats(matrix)
    want = _independent_gene_stats(dense)
    assert np.array_equal(got, want)
    assert got[5].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]
    assert got[6][2] == 7.25 and got[6][4] == 7.25


def test_gene_percentile_is_zero_for_rare_genes() -> None:
    dense = np.zeros((1000, 2))
    n_c = (100 - 99.6) / 100 * 1000  # 3.99999…: cells a gene must exceed
    dense[:3, 0] = [1.0, 2.0, 3.0]  # 3 nonzero cells <= n_c: p is 0
    dense[:5, 1] = [1.0, 2.0, 3.0, 4.0, 5.0]  # 5 > n_c: about the 20th percentile
    got = gene_color_stats(sp.csc_matrix(dense))
    assert got[0][4] == 0.0
    assert got[1][4] == np.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100 - 100 * n_c / 5)
    assert got[1][4] == pytest.approx(1.8)


def test_track_stats_and_color_stats_mapping() -> None:
    values = np.arange(101, dtype=float)
    assert track_color_stats(values) == [50.0, float(np.std(values)), 0.0, 100.0, 99.0]
    stats = color_stats(["A"], np.array([[1.0, 2.0, 0.0, 3.0, 2.5]]), {"Uniform": np.zeros(3)})
    assert stats == {"A": [1.0, 2.0, 0.0, 3.0, 2.5], "Uniform": [0.0, 0.0, 0.0, 0.0, 0.0]}


def test_jet_colours_match_matplotlib_jet() -> None:
    # matplotlib: '#%02x%02x%02x' % tuple(int(255 * c) for c in plt.cm.jet(f)[:3])
    assert jet_hex(0.0) == "#00007f"
    assert jet_hex(0.5) == "#7cff79"
    assert jet_hex(1.0) == "#7f0000"


def test_categorical_tracks() -> None:
    clusters = {"Leiden cluster": np.array([1, 0, 10, 2, 0])}
    meta = pd.DataFrame(
        {"library": ["b", "a", "a", "b", "a"], "score": [0.1] * 5, "n": [1, 2, 3, 4, 5]}
    )
    tracks = categorical_tracks(5, clusters=clusters, metadata=meta)
    assert list(tracks) == ["Default", "Leiden cluster", "library"]
    assert tracks["Default"] == {
        "label_colors": {"All cells": "#00007f"},
        "label_list": ["All cells"] * 5,
    }
    leiden = tracks["Leiden cluster"]
    assert leiden["label_list"] == ["1", "0", "10", "2", "0"]
    assert list(leiden["label_colors"]) == ["0", "1", "2", "10"]
    assert leiden["label_colors"]["0"] == jet_hex(0.0)
    assert leiden["label_colors"]["2"] == jet_hex(0.5)
    assert categorical_track(["x", "y"])["label_colors"] == {"x": jet_hex(0), "y": jet_hex(0.5)}


def test_continuous_tracks() -> None:
    meta = pd.DataFrame({"library": ["a", "b"], "a,score": [0.5, np.nan], "n": [3, 4]})
    tracks = continuous_tracks(
        2, totals=np.array([10.0, 20.0]), mito_fraction=np.array([0.1, 0.2]), metadata=meta
    )
    assert sorted(tracks) == ["Mito. frac.", "Total Counts", "Uniform", "a score", "n"]
    np.testing.assert_array_equal(tracks["Uniform"], [0.0, 0.0])
    np.testing.assert_array_equal(tracks["a score"], [0.5, 0.0])


def test_a_column_with_a_label_per_cell_is_no_categorical_track() -> None:
    n = 3000
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({
        "barcode": [f"AAAC{i:06d}" for i in range(n)],  # 3,000 one-cell labels
        "library": rng.choice(["lib1", "lib2"], size=n),
        "cell type": rng.choice([f"type {k}" for k in range(12)], size=n),
        "clone": [f"clone {i % 1000}" for i in range(n)],  # 1,000 labels: the most allowed
        "many clones": [f"clone {i % 1001}" for i in range(n)],  # one too many
        "depth": rng.random(n),
    })  # fmt: skip
    tracks = categorical_tracks(n, metadata=meta)
    assert list(tracks) == ["Default", "library", "cell type", "clone"]
    assert len(tracks["clone"]["label_colors"]) == 1000
    kept, too_many = label_columns(meta, n)
    assert kept == ["library", "cell type", "clone"]
    assert too_many == {"barcode": 3000, "many clones": 1001}
    # the numeric column stays a continuous track
    assert "depth" in continuous_tracks(n, totals=np.ones(n), metadata=meta)


def test_track_level_limit_scales_with_the_cells() -> None:
    assert max_track_levels(100_000) == 1000
    assert max_track_levels(1000) == 500  # at most half as many labels as cells
    assert max_track_levels(40) == 50  # a small dataset keeps up to 50 labels
    meta = pd.DataFrame({"id": [str(i) for i in range(400)], "half": [str(i // 2) for i in range(400)]})
    assert label_columns(meta, 400) == (["half"], {"id": 400})
    small = pd.DataFrame({"id": [str(i) for i in range(30)]})
    assert list(categorical_tracks(30, metadata=small)) == ["Default", "id"]
