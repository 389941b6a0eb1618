"""The synthetic example dataset: deterministic, importable, structured."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioblocks.ingest import ImportLimits, import_matrix, make_example_dataset, read_canonical


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
    assert set(obs["true_cell_type"].astype(str)) == {"progenitor", "fate A", "fate B", "other"}
    totals = np.asarray(X.sum(axis=1)).ravel()
    lib2 = (obs["library"] == "lib2").to_numpy()
    assert 1.1 < totals[lib2].mean() / totals[~lib2].mean() < 1.5
    # the cell types are separated: the Dcx-like fate-A markers are higher in fate A
    norm = X.multiply(1e4 / totals[:, None]).tocsr()
    fate_a = (obs["true_cell_type"] == "fate A").to_numpy()
    progenitor = (obs["true_cell_type"] == "progenitor").to_numpy()
    dcx = list(genes).index("Dcx")
    sox2 = list(genes).index("Sox2")
    assert norm[fate_a, dcx].mean() > 3 * norm[progenitor, dcx].mean()
    assert norm[progenitor, sox2].mean() > 2 * norm[fate_a, sox2].mean()
