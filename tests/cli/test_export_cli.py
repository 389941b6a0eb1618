"""``bioblocks export --analysis ID --format h5ad|zarr -o PATH`` on the HPC analyses."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pytest
from typer.testing import CliRunner

from bioblocks import cli


@pytest.fixture
def runner(hpc_family: Any, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BIOBLOCKS_DATA_DIR", str(hpc_family.settings.data_dir))
    monkeypatch.setenv("BIOBLOCKS_LOG_LEVEL", "WARNING")
    return CliRunner()


def test_export_analysis_as_h5ad(runner: CliRunner, hpc_family: Any, tmp_path: Path) -> None:
    out = tmp_path / "out" / "hpc.h5ad"
    result = runner.invoke(cli.app, ["export", "--analysis", hpc_family.tsne_id, "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"wrote {out}: 4,790 cells x 28,205 genes, obsm X_pca, X_spring, X_tsne, X_umap" in text
    adata = anndata.read_h5ad(out)
    assert list(adata.obs_names) == list(hpc_family.barcodes)
    assert adata.uns["tsne"]["analysis"] == hpc_family.tsne_id


def test_export_zarr_named_after_the_analysis(
    runner: CliRunner, hpc_family: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli.app, ["export", "--analysis", hpc_family.spring_id,
                                     "--format", "zarr"])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "HPC.zarr.zip") as zf:
        zf.extractall(tmp_path / "store")
    adata = anndata.read_zarr(tmp_path / "store")
    assert adata.n_obs == 4_790 and np.isfinite(adata.obsm["X_umap"]).all()


def test_export_refuses_unknown_analysis_and_format(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(cli.app, ["export", "--analysis", "nope", "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "'nope' does not exist" in missing.output
    bad = runner.invoke(cli.app, ["export", "--analysis", "nope", "--format", "loom"])
    assert bad.exit_code == 2 and "format: unknown export format 'loom'" in " ".join(bad.output.split())
    alone = runner.invoke(cli.app, ["export", "--format", "zarr"])
    assert alone.exit_code == 2 and "go with --analysis ID" in " ".join(alone.output.split())
    assert not list(tmp_path.iterdir())
