"""Writer and reader as a pair: a folder written from known arrays reads back as those arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bioblocks.analysis import spring_folder as sf
from bioblocks.errors import AnalysisInputError, Cancelled, ConflictError, NotFoundError

GENES = ["Actb", "Gapdh", "Mki67", "Cd34", "Hba-a1", "Xist", "Ptprc"]
N_CELLS = 20


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """Write a whole analysis folder (main matrix and subplot) from known arrays."""
    rng = np.random.default_rng(3)
    dense = rng.poisson(0.9, size=(N_CELLS, len(GENES))) * rng.uniform(0.5, 2.0, size=(N_CELLS, 1))
    dense[:, 5] = 0.0  # a gene expressed nowhere
    cell_filter = np.array([0, 1, 3, 4, 6, 8, 9, 11, 12, 15, 17, 19])
    n = cell_filter.size
    arrays = {
        "dense": dense, "cell_filter": cell_filter, "coordinates": rng.normal(size=(n, 2)) * 300,
        "epca": rng.normal(size=(n, 4)), "louvain": rng.integers(0, 3, n),
    }
    sub = dense[cell_filter]
    stats = {g: [float(sub[:, j].mean()), float(sub[:, j].std()), 0.0, 1.0, 0.0]
             for j, g in enumerate(GENES)}
    categorical = {"Default": {"label_colors": {"All cells": "#000000"},
                               "label_list": ["All cells"] * n}}
    folder = tmp_path / "analysis"
    folder.mkdir()
    sf.write_main_rows(folder, sp.csr_matrix(dense))
    sf.write_main_columns(folder, csc=sp.csc_matrix(dense), gene_names=GENES,
                          total_counts=dense.sum(1))
    sf.write_subplot(
        folder / "My Data", gene_names=GENES, cell_filter=cell_filter,
        coordinates=arrays["coordinates"], edges=np.array([[0, 1], [1, 2]]), epca=arrays["epca"],
        gene_filter=np.arange(4), total_counts=sub.sum(1), louvain=arrays["louvain"],
        categorical=categorical, tracks={"Uniform": np.zeros(n)}, stats=stats,
        run_info={"Nodes": n},
    )  # fmt: skip
    arrays["stats"], arrays["categorical"] = stats, categorical  # type: ignore[assignment]
    return folder, folder / "My Data", arrays


def test_subplot_files_read_back_as_written(written: tuple[Path, Path, dict]) -> None:
    folder, sub, arrays = written
    pca, labels = sf.read_pca(sub)
    np.testing.assert_array_equal(pca, arrays["epca"])  # intermediates.npz: full precision
    np.testing.assert_array_equal(labels, arrays["louvain"])
    np.testing.assert_allclose(sf.read_coordinates(sub), arrays["coordinates"], atol=5e-6)
    np.testing.assert_array_equal(sf.read_cell_filter(sub), arrays["cell_filter"])
    assert sf.read_genes(folder) == GENES == sf.read_genes(sub)
    assert sf.read_color_stats(sub) == arrays["stats"]
    assert sf.read_categorical(sub) == arrays["categorical"]


@pytest.mark.parametrize("gene", GENES)
def test_gene_values_are_the_matrix_column_at_the_cells(
    written: tuple[Path, Path, dict], gene: str
) -> None:
    folder, _, arrays = written
    cells = arrays["cell_filter"]
    want = arrays["dense"][cells, GENES.index(gene)]
    np.testing.assert_allclose(sf.gene_values(folder, gene, cells), want, rtol=1e-6)


def test_gene_values_refuse_unknown_genes_and_foreign_cells(
    written: tuple[Path, Path, dict],
) -> None:
    folder, _, _ = written
    for gene in ("NoSuchGene", "actb", "../cell_ix/Actb", "."):
        with pytest.raises(NotFoundError, match="is not in this dataset"):
            sf.gene_values(folder, gene, np.arange(3))
    with pytest.raises(ConflictError):
        sf.gene_values(folder, "Actb", np.array([0, N_CELLS]))


@pytest.mark.parametrize("rows", [[0, 5, 5, 19], list(range(N_CELLS)) * 2])
def test_mean_expression_by_cells_and_by_genes(
    written: tuple[Path, Path, dict], rows: list[int]
) -> None:
    """4 rows are read row by row, 40 (more than the 7 genes) gene by gene: same means."""
    folder, _, arrays = written
    selections = [np.array(rows), np.array([2, 7])]
    means = sf.mean_expression(folder, GENES, selections)
    for got, selection in zip(means, selections, strict=True):
        np.testing.assert_allclose(got, arrays["dense"][selection].mean(0), rtol=1e-6)


def test_gene_zscores_match_an_independent_computation(written: tuple[Path, Path, dict]) -> None:
    folder, sub, arrays = written
    dense, cells = arrays["dense"], arrays["cell_filter"]
    selected, compared = np.array([0, 3, 4]), np.array([1, 2, 10, 11])
    names, scores = sf.gene_zscores(folder, sub, selected, compared, top=5)
    mean, std = dense[cells].mean(0), dense[cells].std(0)
    want = ((dense[cells[selected]].mean(0) - mean) - (dense[cells[compared]].mean(0) - mean)) / (
        std + 0.02
    )
    order = np.argsort(-want, kind="stable")[:5]
    assert names == [GENES[i] for i in order]
    np.testing.assert_allclose(scores, want[order], rtol=1e-5, atol=1e-9)


def test_mean_expression_stops_when_check_raises(written: tuple[Path, Path, dict]) -> None:
    folder, _, _ = written
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        sf.mean_expression(folder, GENES, [np.arange(3)], check=check)
    assert calls == [1]


def test_missing_files_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="has no cell_filter.npy"):
        sf.read_cell_filter(tmp_path)
    with pytest.raises(AnalysisInputError, match="intermediates.npz") as error:
        sf.read_pca(tmp_path)
    assert error.value.field == "springAnalysis"
    np.save(tmp_path / "cell_filter.npy", np.array([2, -1]))
    with pytest.raises(ConflictError, match="negative"):
        sf.read_cell_filter(tmp_path)


def test_export_readers_read_back_what_the_writers_wrote(
    written: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    """The readers an export uses: the selected genes, the totals SPRING normalised by, the
    continuous tracks (names may hold commas), a t-SNE/UMAP result and its cells."""
    folder, sub, arrays = written
    np.testing.assert_array_equal(sf.read_gene_filter(sub), np.arange(4))
    np.testing.assert_array_equal(sf.read_total_counts(folder), arrays["dense"].sum(1))
    n = arrays["cell_filter"].size
    assert list(sf.read_color_tracks(sub, n)) == ["Uniform"]
    np.testing.assert_array_equal(sf.read_color_tracks(sub, n)["Uniform"], np.zeros(n))
    values = np.linspace(-1, 2, n)
    sf.write_subplot(
        tmp_path / "s", gene_names=GENES, cell_filter=arrays["cell_filter"],
        coordinates=arrays["coordinates"], edges=np.array([[0, 1]]), epca=arrays["epca"],
        gene_filter=np.arange(2), total_counts=np.ones(n), louvain=arrays["louvain"],
        categorical=arrays["categorical"], tracks={"a,b": values, "Total Counts": values * 3},
        stats=arrays["stats"], run_info={},
    )  # fmt: skip
    tracks = sf.read_color_tracks(tmp_path / "s", n)
    assert list(tracks) == ["Total Counts", "a,b"]
    np.testing.assert_allclose(tracks["a,b"], values, atol=5e-4)
    with pytest.raises(ConflictError, match="of 12 values for 30 cells"):
        sf.read_color_tracks(tmp_path / "s", 30)

    result = tmp_path / "umap"
    result.mkdir()
    xy = np.array([[0.25, -1.5], [3.0, 4.125], [1e-6, 2.0]])
    sf.write_rows(result / sf.UMAP_OUTPUT, xy, "%.6f")
    np.testing.assert_array_equal(sf.read_embedding(result, sf.UMAP_OUTPUT), xy)
    assert sf.read_cells(result) is None
    sf.write_cells(result, ["AAAC-1", "lib 2_ü", "x,y"])
    assert sf.read_cells(result) == ["AAAC-1", "lib 2_ü", "x,y"]
    with pytest.raises(AnalysisInputError, match="line break") as error:
        sf.write_cells(result, ["a\nb"])
    assert error.value.field == "cells"
    with pytest.raises(NotFoundError, match="has no tsne_output.csv"):
        sf.read_embedding(result, sf.TSNE_OUTPUT)


@pytest.mark.parametrize("process", ["TSNE", "UMAP"])
def test_embedding_results_read_back_as_written(process: str, tmp_path: Path) -> None:
    """write_embedding and its readers as a pair: coordinates exactly with ``%r``, the t-SNE
    input matrix to 3 decimals, run_info.json and the cells, the paths in writing order."""
    xy = np.array([[0.1, -1.5], [3.0, 1 / 3], [1e-7, 2.0]])
    pca = np.array([[1.0, 2.0004, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    folder = tmp_path / "result"
    files = sf.write_embedding(folder, process, xy, run_info={"seed": 3}, cells=["a", "b", "c"],
                               matrix=pca, fmt="%r")  # fmt: skip
    output = sf.TSNE_OUTPUT if process == "TSNE" else sf.UMAP_OUTPUT
    matrix = [sf.TSNE_MATRIX] if process == "TSNE" else []
    assert [p.name for p in files] == [output, *matrix, sf.RUN_INFO, sf.CELLS]
    np.testing.assert_array_equal(sf.read_embedding(folder, output), xy)
    if process == "TSNE":
        np.testing.assert_array_equal(np.loadtxt(folder / sf.TSNE_MATRIX, delimiter=","),
                                      np.round(pca, 3))  # fmt: skip
    assert json.loads((folder / sf.RUN_INFO).read_text()) == {"seed": 3}
    assert sf.read_cells(folder) == ["a", "b", "c"]
    assert [p.name for p in sf.write_embedding(tmp_path / "bare", process, xy, run_info={})] == [
        output, *matrix, sf.RUN_INFO]
    np.testing.assert_allclose(sf.read_embedding(tmp_path / "bare", output), xy, atol=5e-7)
