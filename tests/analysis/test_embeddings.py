"""t-SNE and UMAP: files as spec §11, reproducibility, quality by neighbourhood preservation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from bioblocks.analysis import embeddings
from bioblocks.analysis.embeddings import TsneParams, UmapParams, run_tsne, run_umap
from bioblocks.errors import AnalysisInputError, Cancelled

# Quality threshold. Fraction of each cell's 15 nearest neighbours in PCA space
# kept among its 15 nearest in the embedding, measured on the clusters below
# (and on 600 cells in four clusters): t-SNE 0.40-0.44, UMAP 0.33-0.35; on
# structureless Gaussian data t-SNE 0.34, UMAP 0.23; a random 2-D layout keeps
# 0.02-0.03 (chance: 15 / n). 0.2 lies well between a working embedding and
# chance, with room for seed-to-seed variation.
MIN_PRESERVATION = 0.2
TSNE_ITER = 300  # enough for these 300 cells; keeps the test fast
TSNE_FAST = TsneParams(seed=3, n_iter=TSNE_ITER, n_jobs=1)


def neighbour_preservation(high: np.ndarray, low: np.ndarray, k: int = 15) -> float:
    """Mean fraction of each point's k nearest neighbours in ``high`` kept in ``low``."""
    ih = NearestNeighbors(n_neighbors=k + 1).fit(high).kneighbors(high)[1][:, 1:]
    il = NearestNeighbors(n_neighbors=k + 1).fit(low).kneighbors(low)[1][:, 1:]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ih, il, strict=True)]))


@pytest.fixture(scope="module")
def pca() -> np.ndarray:
    """300 cells in three well separated Gaussian clusters, 10 components."""
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(5 * c, 1.0, size=(100, 10)) for c in range(3)])


@pytest.fixture(scope="module")
def tsne(pca: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> embeddings.TsneResult:
    return run_tsne(pca, out_dir=tmp_path_factory.mktemp("tsne"), params=TSNE_FAST)


@pytest.fixture(scope="module")
def umap_result(pca: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> embeddings.UmapResult:
    return run_umap(pca, out_dir=tmp_path_factory.mktemp("umap"), params=UmapParams(seed=3))


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text()
    assert text.endswith("\n") and not text.startswith(("x", "X"))
    return np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])


def test_tsne_files_parse_back_to_the_result(tsne: embeddings.TsneResult, pca: np.ndarray) -> None:
    out_dir = tsne.files[0].parent
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "run_info.json", "tsne_matrix.csv", "tsne_output.csv",
    ]
    assert tsne.coordinates.shape == (300, 2)
    np.testing.assert_array_equal(_read_csv(out_dir / "tsne_output.csv"), tsne.coordinates)
    matrix = _read_csv(out_dir / "tsne_matrix.csv")
    np.testing.assert_allclose(matrix, pca, atol=5e-4 + 1e-12)
    assert (out_dir / "tsne_matrix.csv").read_text().splitlines()[0] == ",".join(
        f"{v:.3f}" for v in pca[0]
    )
    info = json.loads((out_dir / "run_info.json").read_text())
    assert {k: info[k] for k in tsne.parameters} == tsne.parameters
    assert info["seed"] == 3 and info["perplexity"] == 30.0 and info["n_iter"] == TSNE_ITER
    assert info["affinity"] == "perplexity"
    assert info["process"] == "TSNE" and info["n_cells"] == 300 and "date" in info
    assert info["negative_gradient_method"] == "bh" and info["neighbors"] == "exact"


def test_umap_files_parse_back_to_the_result(umap_result: embeddings.UmapResult) -> None:
    out_dir = umap_result.files[0].parent
    assert sorted(p.name for p in out_dir.iterdir()) == ["run_info.json", "umap_output.csv"]
    np.testing.assert_array_equal(
        _read_csv(out_dir / "umap_output.csv"), umap_result.coordinates
    )
    info = json.loads((out_dir / "run_info.json").read_text())
    assert {k: info[k] for k in umap_result.parameters} == umap_result.parameters
    assert info["seed"] == 3 and info["n_neighbors"] == 15 and info["min_dist"] == 0.5


def test_embeddings_preserve_pca_neighbourhoods(
    tsne: embeddings.TsneResult, umap_result: embeddings.UmapResult, pca: np.ndarray
) -> None:
    random_layout = np.random.default_rng(0).random((300, 2))
    assert neighbour_preservation(pca, random_layout) < 0.1
    assert neighbour_preservation(pca, tsne.coordinates) > MIN_PRESERVATION
    assert neighbour_preservation(pca, umap_result.coordinates) > MIN_PRESERVATION


def test_same_seed_same_coordinates(
    tsne: embeddings.TsneResult, umap_result: embeddings.UmapResult, pca: np.ndarray, tmp_path: Path
) -> None:
    again = run_tsne(pca, out_dir=tmp_path / "t", params=TSNE_FAST)
    np.testing.assert_array_equal(again.coordinates, tsne.coordinates)
    other = run_tsne(pca, out_dir=tmp_path / "t2", params=TsneParams(seed=4, n_iter=TSNE_ITER,
                                                                  n_jobs=1))
    assert not np.allclose(other.coordinates, tsne.coordinates)
    np.testing.assert_array_equal(
        run_umap(pca, out_dir=tmp_path / "u", params=UmapParams(seed=3)).coordinates,
        umap_result.coordinates,
    )


def test_tsne_approximate_neighbours_path(
    pca: np.ndarray, tsne: embeddings.TsneResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The NN-descent neighbours used from EXACT_NEIGHBORS_MAX_CELLS cells on (lowered here):
    # as good an embedding as the exact path's, reproducible for the same seed.
    monkeypatch.setattr(embeddings, "EXACT_NEIGHBORS_MAX_CELLS", 100)
    first = run_tsne(pca, out_dir=tmp_path / "a", params=TSNE_FAST)
    again = run_tsne(pca, out_dir=tmp_path / "b", params=TSNE_FAST)
    assert first.parameters["neighbors"] == "pynndescent"
    np.testing.assert_array_equal(again.coordinates, first.coordinates)
    quality = neighbour_preservation(pca, first.coordinates)
    assert quality > MIN_PRESERVATION
    assert abs(quality - neighbour_preservation(pca, tsne.coordinates)) < 0.05


def test_tsne_uniform_affinities(
    pca: np.ndarray, tsne: embeddings.TsneResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Uniform affinities over the 15-NN graph: the default from UNIFORM_MIN_CELLS cells
    # (lowered here), as good as perplexity 30 on these data.
    monkeypatch.setattr(embeddings, "UNIFORM_MIN_CELLS", 100)
    uniform = run_tsne(pca, out_dir=tmp_path / "u", params=TSNE_FAST)
    assert uniform.parameters["affinity"] == "uniform"
    assert uniform.parameters["k_neighbors"] == 15 and "perplexity" not in uniform.parameters
    info = json.loads((tmp_path / "u" / "run_info.json").read_text())
    assert info["affinity"] == "uniform" and info["k_neighbors"] == 15
    quality = neighbour_preservation(pca, uniform.coordinates)
    assert quality > MIN_PRESERVATION
    assert abs(quality - neighbour_preservation(pca, tsne.coordinates)) < 0.1
    # a perplexity given explicitly keeps the perplexity affinities at any size
    explicit = run_tsne(pca, out_dir=tmp_path / "p", params=TsneParams(seed=3, perplexity=30,
                                                                 n_iter=TSNE_ITER, n_jobs=1))
    assert explicit.parameters["affinity"] == "perplexity"
    np.testing.assert_array_equal(explicit.coordinates, tsne.coordinates)


def test_umap_pca_initialisation_for_large_inputs(
    pca: np.ndarray, umap_result: embeddings.UmapResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From UMAP_PCA_INIT_MIN_CELLS cells (lowered here) UMAP starts from the PCA layout:
    # recorded, reproducible, as good as the spectral start on these data.
    assert umap_result.parameters["init"] == "spectral"
    monkeypatch.setattr(embeddings, "UMAP_PCA_INIT_MIN_CELLS", 100)
    first = run_umap(pca, out_dir=tmp_path / "a", params=UmapParams(seed=3))
    assert first.parameters["init"] == "pca"
    assert json.loads((tmp_path / "a" / "run_info.json").read_text())["init"] == "pca"
    again = run_umap(pca, out_dir=tmp_path / "b", params=UmapParams(seed=3))
    np.testing.assert_array_equal(again.coordinates,
                                  first.coordinates)
    quality = neighbour_preservation(pca, first.coordinates)
    assert quality > MIN_PRESERVATION
    assert abs(quality - neighbour_preservation(pca, umap_result.coordinates)) < 0.1


def test_tsne_reports_progress_and_can_be_cancelled(pca: np.ndarray, tmp_path: Path) -> None:
    seen: list[float] = []
    small = TsneParams(perplexity=5, n_iter=150, n_jobs=1)
    run_tsne(pca[:60], out_dir=tmp_path / "a", params=small,
             progress=lambda f, m: seen.append(f))
    # Start, affinities done, every 50 of the 150 iterations (early phase included),
    # writing, done.
    assert seen == pytest.approx([0.0, 0.05, 0.35, 0.65, 0.95, 0.95, 1.0], abs=1e-9)

    def cancel(fraction: float, message: str) -> None:
        if "iteration" in message:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        run_tsne(pca[:60], out_dir=tmp_path / "b", params=small, progress=cancel)
    assert not (tmp_path / "b" / "tsne_output.csv").exists()


@pytest.mark.parametrize(
    ("method", "options", "field"),
    [
        ("tsne", {"perplexity": 100.0}, "perplexity"),
        ("tsne", {"perplexity": 0.0}, "perplexity"),
        ("tsne", {"n_iter": 1}, "n_iter"),
        ("tsne", {"seed": -1}, "seed"),
        ("tsne", {"affinity": "gaussian"}, "affinity"),
        ("tsne", {"affinity": "uniform", "perplexity": 30.0}, "perplexity"),
        ("tsne", {"k_neighbors": 0}, "k_neighbors"),
        ("tsne", {"k_neighbors": 100}, "k_neighbors"),
        ("tsne", {"perplexity": "thirty"}, "perplexity"),
        ("umap", {"n_neighbors": 100}, "n_neighbors"),
        ("umap", {"n_neighbors": 1}, "n_neighbors"),
        ("umap", {"min_dist": -0.1}, "min_dist"),
        ("umap", {"min_dist": 2.0}, "min_dist"),
        ("umap", {"init": "tsne"}, "init"),
    ],
)
def test_bad_parameters_name_the_field(
    pca: np.ndarray, tmp_path: Path, method: str, options: dict, field: str
) -> None:
    run, params = (run_tsne, TsneParams) if method == "tsne" else (run_umap, UmapParams)
    with pytest.raises(AnalysisInputError) as info:
        run(pca[:100], out_dir=tmp_path, params=params(**options))
    assert info.value.field == field
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "matrix",
    [np.zeros((2, 5)), np.zeros(10), np.array([[1.0, np.inf]] * 10), np.array([["a", "b"]] * 10)],
)
def test_bad_matrix_is_refused(matrix: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError) as info:
        run_tsne(matrix, out_dir=tmp_path, params=TsneParams(perplexity=1))
    assert info.value.field == "pca"
    with pytest.raises(AnalysisInputError):
        run_umap(matrix, out_dir=tmp_path, params=UmapParams(n_neighbors=2))


def test_cells_and_spring_analysis_are_written_beside_the_result(
    pca: np.ndarray, tsne: embeddings.TsneResult, tmp_path: Path
) -> None:
    """Given the cells' ids and the SPRING analysis, t-SNE writes ``cells.txt`` (one id per
    row of ``tsne_output.csv``) and names the analysis in ``run_info.json``; the rest is
    the same as without them."""
    cells = [f"cell-{i}" for i in range(pca.shape[0])]
    result = run_tsne(pca, out_dir=tmp_path, params=TSNE_FAST, cells=cells, spring_analysis="s1")
    assert [p.name for p in result.files] == [
        "tsne_output.csv", "tsne_matrix.csv", "run_info.json", "cells.txt"]
    assert (tmp_path / "cells.txt").read_text() == "".join(f"{c}\n" for c in cells)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["springAnalysis"] == "s1"
    plain = tsne.files[0].parent
    for name in ("tsne_output.csv", "tsne_matrix.csv"):
        assert (tmp_path / name).read_bytes() == (plain / name).read_bytes()
    before = json.loads((plain / "run_info.json").read_text())
    assert {k: v for k, v in info.items() if k not in ("springAnalysis", "date")} == {
        k: v for k, v in before.items() if k != "date"}


@pytest.mark.parametrize("run", [run_tsne, run_umap])
def test_cell_ids_of_another_length_are_refused_before_any_work(
    run: object, pca: np.ndarray, tmp_path: Path
) -> None:
    with pytest.raises(AnalysisInputError, match="299 cell ids for a matrix of 300 rows") as error:
        run(pca, out_dir=tmp_path / "out", cells=["c"] * 299)  # type: ignore[operator]
    assert error.value.field == "cells" and not (tmp_path / "out").exists()
