"""The synthetic example dataset: deterministic, importable, structured like haematopoiesis."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from bioblocks.ingest import ImportLimits, import_matrix, make_example_dataset, read_canonical

#: The blood markers a biologist types first, by lineage (written out here, not imported).
BLOOD_MARKERS = {
    "HSPC": ["Cd34", "Kit", "Procr", "Hlf"],
    "erythroid": ["Gata1", "Klf1", "Car1", "Hba-a1", "Hbb-bs"],
    "megakaryocyte": ["Pf4", "Itga2b", "Gp9"],
    "neutrophil": ["Mpo", "Elane", "Prtn3", "Ctsg", "Ly6g"],
    "monocyte": ["Csf1r", "Irf8", "Ly86"],
    "basophil/mast": ["Prss34", "Mcpt8"],
    "lymphoid": ["Dntt", "Il7r"],
}


def test_example_dataset(tmp_path: Path) -> None:
    make_example_dataset(tmp_path / "ex", n_cells=600, seed=1)
    again = make_example_dataset(tmp_path / "ex2", n_cells=600, seed=1)
    assert (again / "lib1" / "matrix.mtx.gz").read_bytes() == (
        tmp_path / "ex" / "lib1" / "matrix.mtx.gz"
    ).read_bytes()
    summary = import_matrix(
        [tmp_path / "ex" / "lib1", tmp_path / "ex" / "lib2"],
        tmp_path / "out",
        limits=ImportLimits(),
    )
    assert (summary.cells, summary.genes) == (600, 2000)
    X, genes, _, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert sum(g.startswith("mt-") for g in genes) == 13
    assert set(obs["true_cell_type"].astype(str)) == set(BLOOD_MARKERS)
    totals = np.asarray(X.sum(axis=1)).ravel()
    lib2 = (obs["library"] == "lib2").to_numpy()
    assert 1.1 < totals[lib2].mean() / totals[~lib2].mean() < 1.5


def _read_library(folder: Path) -> tuple[sp.csr_matrix, list[str], pd.DataFrame]:
    """Read one library folder with scipy and pandas (not the project's readers)."""
    with gzip.open(folder / "matrix.mtx.gz", "rb") as handle:
        genes_by_cells = scipy.io.mmread(handle)
    features = pd.read_csv(folder / "features.tsv.gz", sep="\t", header=None)
    cells = pd.read_csv(folder / "cells.tsv.gz", sep="\t")
    return sp.csr_matrix(genes_by_cells.T), features[1].tolist(), cells


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """The default-size example (3,000 cells), total-count normalised, with its ground truth."""
    dest = make_example_dataset(tmp_path_factory.mktemp("example") / "ex", n_cells=3000, seed=0)
    parts = [_read_library(dest / lib) for lib in ("lib1", "lib2")]
    assert parts[0][1] == parts[1][1]
    counts = sp.vstack([p[0] for p in parts]).toarray().astype(np.float64)
    norm = counts / counts.sum(axis=1, keepdims=True) * 1e4
    return norm, parts[0][1], pd.concat([p[2] for p in parts], ignore_index=True)


def test_the_example_has_the_blood_markers_and_no_neural_ones(
    example: tuple[np.ndarray, list[str], pd.DataFrame],
) -> None:
    _, genes, _ = example
    for markers in BLOOD_MARKERS.values():
        assert set(markers) <= set(genes)
    assert not {"Sox2", "Nes", "Pax6", "Dcx", "Gfap", "Olig2"} & set(genes)


@pytest.mark.parametrize("lineage", list(BLOOD_MARKERS))
def test_each_lineage_markers_are_highest_in_its_branch(
    example: tuple[np.ndarray, list[str], pd.DataFrame], lineage: str
) -> None:
    norm, genes, cells = example
    kinds = cells["true_cell_type"].to_numpy()
    assert (kinds == lineage).sum() > 100
    for marker in BLOOD_MARKERS[lineage]:
        values = norm[:, genes.index(marker)]
        means = {kind: values[kinds == kind].mean() for kind in BLOOD_MARKERS}
        others = max(v for kind, v in means.items() if kind != lineage)
        assert means[lineage] > 2 * others, (marker, means)
        # detected (not just a trace): in at least a third of the branch's cells
        assert (values[kinds == lineage] > 0).mean() > 1 / 3, marker


def test_neutrophil_granule_genes_follow_the_branch_in_order(
    example: tuple[np.ndarray, list[str], pd.DataFrame],
) -> None:
    norm, genes, cells = example
    neutrophil = (cells["true_cell_type"] == "neutrophil").to_numpy()
    along = cells["pseudotime"].to_numpy()[neutrophil] - 1.0  # 0 → 1 along the branch
    early, late = along < 0.5, along >= 0.5
    mpo = norm[neutrophil, genes.index("Mpo")]
    ly6g = norm[neutrophil, genes.index("Ly6g")]
    assert mpo[early].mean() > 1.5 * mpo[late].mean()  # primary granules first
    assert ly6g[late].mean() > 3 * ly6g[early].mean()  # Ly6g late
    hspc = (cells["true_cell_type"] == "HSPC").to_numpy()
    assert cells["pseudotime"][hspc].between(0, 1).all()
    assert cells["pseudotime"][~hspc].between(1, 2).all()
