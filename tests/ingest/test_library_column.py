"""An input's own per-cell columns survive an import: ``obs['library']`` of an ``.h5ad`` is
kept (the four HPC libraries stay four), the file-name label is added only where an input
has none, and anything renamed is listed in the summary and the dataset document."""

from __future__ import annotations

from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest

from bioblocks.ingest import ImportLimits, import_matrix, read_canonical

from ._formats import Reference, write_h5ad

LIBRARIES = ["P9A", "P11A", "P11B", "P12A"]


@pytest.fixture(scope="module")
def hpc_h5ad(hpc_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .h5ad of the four HPC libraries whose obs['library'] names each cell's library."""
    tmp = tmp_path_factory.mktemp("hpc")
    import_matrix([hpc_dir / f"{name}.counts.tsv.gz" for name in LIBRARIES], tmp / "combined",
                  limits=ImportLimits())
    X, genes, barcodes, obs = read_canonical(tmp / "combined" / "matrix.h5ad")
    adata = anndata.AnnData(
        X=X,
        obs=pd.DataFrame({"library": obs["library"].astype(str).to_numpy(),
                          "barcode": obs["barcode"].astype(str).to_numpy()}, index=barcodes),
        var=pd.DataFrame(index=genes),
    )
    adata.write_h5ad(tmp / "hpc.h5ad")
    return tmp / "hpc.h5ad"


def test_an_h5ads_own_library_column_is_kept(hpc_h5ad: Path, tmp_path: Path) -> None:
    summary = import_matrix([hpc_h5ad], tmp_path / "out", limits=ImportLimits())
    _, _, _, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert sorted(summary.libraries) == sorted(LIBRARIES)
    assert sorted(obs["library"].unique().tolist()) == sorted(LIBRARIES)
    assert obs["library"].value_counts().min() > 100
    assert "library_file" not in obs.columns and summary.renamed == []
    source = anndata.read_h5ad(hpc_h5ad)
    assert obs["library"].astype(str).tolist() == source.obs["library"].astype(str).tolist()
    assert obs["barcode"].tolist() == source.obs["barcode"].tolist()


def test_a_file_without_a_library_column_gets_its_file_label(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_h5ad(ref, tmp_path / "mylib.h5ad")
    summary = import_matrix([path], tmp_path / "out", limits=limits)
    _, _, _, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert obs["library"].tolist() == ["mylib"] * 9
    assert obs["batch"].tolist() == ["a"] * 4 + ["b"] * 5
    assert summary.libraries == ["mylib"] and summary.renamed == []


def test_several_inputs_with_own_columns_keep_them_and_list_the_renames(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    """The file labels of two inputs go to a free name when one has its own ``library``;
    an input's ``barcode`` column is not overwritten by the barcodes either."""
    own = anndata.AnnData(
        X=ref.counts.astype(np.float32),
        obs=pd.DataFrame({"library": ["L1"] * 5 + ["L2"] * 4, "barcode": ["bc"] * 9},
                         index=ref.barcodes),
        var=pd.DataFrame(index=ref.genes),
    )
    own.write_h5ad(tmp_path / "first.h5ad")
    plain = write_h5ad(ref, tmp_path / "second.h5ad")
    summary = import_matrix([tmp_path / "first.h5ad", plain], tmp_path / "out", limits=limits)
    _, _, names, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert obs["library"].tolist() == ["L1"] * 5 + ["L2"] * 4 + ["second"] * 9
    assert obs["library_file"].tolist() == ["first"] * 9 + ["second"] * 9
    assert obs["barcode"].tolist()[:9] == ["bc"] * 9
    assert obs["barcode_file"].tolist() == ref.barcodes * 2
    assert names[0] == f"first_{ref.barcodes[0]}"
    assert summary.renamed == [
        {"column": "library", "as": "library_file",
         "reason": "the file labels; an input has its own library column"},
        {"column": "barcode", "as": "barcode_file",
         "reason": "the cell barcodes; an input has its own barcode column"},
    ]
    info = summary.to_matrix_info()
    assert info["renamed"] == summary.renamed and "dropped" not in info
