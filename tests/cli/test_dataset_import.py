"""``bioblocks dataset import`` lists the per-cell columns it renamed or dropped."""

from __future__ import annotations

from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from bioblocks import cli
from tests.ingest._formats import reference, write_h5ad


def test_import_prints_renamed_and_dropped_columns(tmp_path: Path) -> None:
    ref = reference()
    anndata.AnnData(X=ref.counts.astype(np.float32),
                    obs=pd.DataFrame({"library": ["L1"] * 9}, index=ref.barcodes),
                    var=pd.DataFrame(index=ref.genes)).write_h5ad(tmp_path / "own.h5ad")
    plain = write_h5ad(ref, tmp_path / "plain.h5ad")
    with h5py.File(plain, "r+") as f:
        f["obs/short"] = np.arange(4)
        f["obs"].attrs["column-order"] = np.array(["batch", "short"], dtype=object)
    env = {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_DATABASE_URL": None,
           "BIOBLOCKS_BROKER_URL": None}
    result = CliRunner().invoke(
        cli.app, ["dataset", "import", str(tmp_path / "own.h5ad"), str(plain), "--name", "two"],
        env=env)
    assert result.exit_code == 0, result.output
    assert "renamed: library → library_file (the file labels; an input has its own library " \
        "column)" in result.output
    assert "dropped: plain.h5ad: column short (4 values for 9 rows)" in result.output


def test_import_prints_view_only_embeddings_and_what_was_not_imported(tmp_path: Path) -> None:
    ref = reference()
    adata = anndata.AnnData(X=ref.counts.astype(np.float32) - 0.5,
                            obs=pd.DataFrame(index=ref.barcodes),
                            var=pd.DataFrame(index=ref.genes))
    adata.obsm["X_umap"] = np.arange(18, dtype=float).reshape(9, 2)
    adata.obsm["spatial"] = np.zeros((9, 2))
    adata.write_h5ad(tmp_path / "scaled.h5ad")
    env = {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_DATABASE_URL": None,
           "BIOBLOCKS_BROKER_URL": None}
    result = CliRunner().invoke(
        cli.app, ["dataset", "import", str(tmp_path / "scaled.h5ad"), "--name", "scaled"], env=env)
    assert result.exit_code == 0, result.output
    assert "view-only: the file holds no counts" in result.output
    assert "imported analyses of X_umap" in result.output
    assert "not imported: scaled.h5ad: obsm/spatial (not an embedding named X_* " \
        "(cellxgene's convention))" in result.output
