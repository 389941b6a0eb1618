"""The export of an analysis as AnnData: the HPC SPRING analysis with a t-SNE and a UMAP of
it (``hpc_family``), written as ``.h5ad`` and as a zipped AnnData-Zarr store, read back by
anndata and scanpy and compared with the analysis files, read here independently."""

from __future__ import annotations

import json
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioblocks.errors import InputError, NotFoundError
from bioblocks.pipeline.export import ExportSummary, export_analysis
from bioblocks.storage import analysis_dir
from tests._cellxgene import cellxgene_problems

#: Cells per block in these tests: the HPC's 4,790 cells are written in five blocks.
BLOCK = 1_000


def _folder(family: Any, analysis_id: str) -> Path:
    return analysis_dir(family.settings.resolved_data_dir, family.dataset_id, analysis_id)


def _csv(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split(",")] for line in path.read_text().splitlines()])


def _assert_same_sparse(actual: sp.spmatrix, expected: sp.spmatrix) -> None:
    """Same nonzero positions, values equal to float32 precision (compared sparse: the
    dense HPC matrix would take a gigabyte)."""
    a, b = sp.csr_matrix(actual), sp.csr_matrix(expected)
    a.sort_indices()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6)


@pytest.fixture(scope="module")
def exported(hpc_family: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[ExportSummary, anndata.AnnData]:
    """The t-SNE analysis exported as ``.h5ad`` (its SPRING analysis, with both embeddings)."""
    path = tmp_path_factory.mktemp("export") / "hpc.h5ad"
    summary = export_analysis(hpc_family.store, hpc_family.settings, hpc_family.tsne_id, path,
                              format="h5ad", block_rows=BLOCK)
    return summary, anndata.read_h5ad(path)


def test_embeddings_are_the_analysis_files_rows_for_the_same_cells(
    hpc_family: Any, exported: tuple[ExportSummary, anndata.AnnData]
) -> None:
    summary, adata = exported
    spring = _folder(hpc_family, hpc_family.spring_id)
    subplot = spring / "HPC"
    cells = np.loadtxt(subplot / "cell_filter.txt", dtype=np.int64)
    assert summary.cells == adata.n_obs == cells.size == 4_790
    assert list(adata.obs_names) == list(hpc_family.barcodes[cells])
    assert list(adata.obsm) == ["X_pca", "X_spring", "X_tsne", "X_umap"] == summary.embeddings
    coordinates = _csv(subplot / "coordinates.txt")
    np.testing.assert_array_equal(coordinates[:, 0], np.arange(cells.size))
    np.testing.assert_array_equal(adata.obsm["X_spring"], coordinates[:, 1:])
    with np.load(subplot / "intermediates.npz") as z:
        np.testing.assert_array_equal(adata.obsm["X_pca"], z["Epca"])
    np.testing.assert_allclose(adata.obsm["X_pca"], _csv(subplot / "pca.csv"), atol=5e-4 + 1e-12)
    for key, analysis_id, name in (("X_tsne", hpc_family.tsne_id, "tsne_output.csv"),
                                   ("X_umap", hpc_family.umap_id, "umap_output.csv")):
        folder = _folder(hpc_family, analysis_id)
        np.testing.assert_array_equal(adata.obsm[key], _csv(folder / name))
        assert (folder / "cells.txt").read_text().splitlines() == list(adata.obs_names)
        info = json.loads((folder / "run_info.json").read_text())
        assert info["springAnalysis"] == hpc_family.spring_id


def test_clusters_and_tracks_are_categoricals_with_their_colours(
    hpc_family: Any, exported: tuple[ExportSummary, anndata.AnnData]
) -> None:
    _, adata = exported
    subplot = _folder(hpc_family, hpc_family.spring_id) / "HPC"
    tracks = json.loads((subplot / "categorical_coloring_data.json").read_text())
    assert {"Default", "Leiden cluster", "Louvain cluster", "library"} <= set(tracks)
    for name, track in tracks.items():
        column = adata.obs[name]
        assert isinstance(column.dtype, pd.CategoricalDtype), name
        assert list(column.astype(str)) == track["label_list"], name
        colors = dict(zip(column.cat.categories, adata.uns[f"{name}_colors"], strict=True))
        assert colors == {k: v for k, v in track["label_colors"].items() if k in colors}, name
        assert set(colors) == set(track["label_list"]), name
    assert list(adata.obs["library"].cat.categories) == ["P11A", "P11B", "P12A", "P9A"]
    continuous = {line.split(",")[0]: np.array(line.split(",")[1:], dtype=float)
                  for line in (subplot / "color_data_gene_sets.csv").read_text().splitlines()}
    assert "Uniform" in continuous and "Uniform" not in adata.obs
    for name in ("Total Counts", "Mito. frac."):
        assert adata.obs[name].dtype == np.float64
        np.testing.assert_array_equal(adata.obs[name].to_numpy(), continuous[name])


def test_counts_layer_and_normalised_x(
    hpc: Any, hpc_family: Any, exported: tuple[ExportSummary, anndata.AnnData]
) -> None:
    summary, adata = exported
    folder = _folder(hpc_family, hpc_family.spring_id)
    cells = np.load(folder / "HPC" / "cell_filter.npy")
    counts = hpc.counts[cells]
    assert summary.counts and adata.layers["counts"].dtype == np.int32
    assert sp.issparse(adata.layers["counts"]) and sp.issparse(adata.X)
    assert (adata.layers["counts"] != counts).nnz == 0
    totals = np.asarray(counts.sum(axis=1)).ravel()
    independent = sp.csr_matrix(sp.diags(totals.mean() / totals) @ counts.astype(np.float64))
    assert adata.X.dtype == np.float32
    _assert_same_sparse(adata.X, independent)
    _assert_same_sparse(adata.X, sp.load_npz(folder / "counts_norm.npz").tocsr()[cells])
    assert list(adata.var_names) == list(hpc.genes)
    with np.load(folder / "HPC" / "intermediates.npz") as z:
        np.testing.assert_array_equal(np.flatnonzero(adata.var["highly_variable"]), z["gene_filter"])


def test_uns_records_each_analysis_with_its_parameters_and_seed(
    hpc_family: Any, exported: tuple[ExportSummary, anndata.AnnData]
) -> None:
    _, adata = exported
    spring, tsne, umap = adata.uns["spring"], adata.uns["tsne"], adata.uns["umap"]
    assert (spring["analysis"], tsne["analysis"], umap["analysis"]) == (
        hpc_family.spring_id, hpc_family.tsne_id, hpc_family.umap_id)
    assert (spring["seed"], tsne["seed"], umap["seed"]) == (0, 4, 5)
    assert spring["params"]["n_force_iter"] == 200 and spring["params"]["n_neighbors"] == 4
    assert spring["run_info"]["Num_Neighbors"] == 4 and spring["run_info"]["Nodes"] == 4_790
    assert tsne["params"]["n_iter"] == 250 and tsne["params"]["springAnalysis"] == spring["analysis"]
    assert tsne["run_info"]["springAnalysis"] == spring["analysis"]
    assert umap["params"]["seed"] == 5 and umap["processType"] == "UMAP"
    bioblocks = adata.uns["bioblocks"]
    assert bioblocks["dataset"] == hpc_family.dataset_id and bioblocks["dataset_name"] == "HPC"
    assert list(bioblocks["analyses"]) == [hpc_family.spring_id, hpc_family.tsne_id,
                                           hpc_family.umap_id]


def test_the_file_meets_cellxgenes_requirements(exported: tuple[ExportSummary, anndata.AnnData]
                                                ) -> None:
    _, adata = exported
    assert cellxgene_problems(adata) == []
    broken = adata[:, :5].copy()
    broken.obsm = {"pca": broken.obsm["X_pca"]}
    broken.obs_names = ["same"] * broken.n_obs
    broken.uns["library_colors"] = ["#000000"]
    assert cellxgene_problems(broken) == [
        "no obsm embedding named X_*", "the obs index is not unique",
        "uns['library_colors'] has 1 colours for 4 categories",
    ]


def test_scanpy_draws_the_spring_embedding(exported: tuple[ExportSummary, anndata.AnnData]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    _, adata = exported
    ax = sc.pl.embedding(adata, basis="spring", color="Leiden cluster", show=False)
    try:
        offsets = ax.collections[0].get_offsets()
        order = np.lexsort(adata.obsm["X_spring"].T)  # scanpy may draw the cells in any order
        drawn = np.asarray(offsets)[np.lexsort(np.asarray(offsets).T)]
        np.testing.assert_allclose(drawn, adata.obsm["X_spring"][order])
    finally:
        plt.close("all")


def test_zarr_store_reads_back_as_the_h5ad(
    hpc_family: Any, exported: tuple[ExportSummary, anndata.AnnData], tmp_path: Path
) -> None:
    _, h5ad = exported
    path = tmp_path / "hpc.zarr.zip"
    summary = export_analysis(hpc_family.store, hpc_family.settings, hpc_family.spring_id, path,
                              format="zarr", block_rows=BLOCK * 2)
    assert summary.format == "zarr" and summary.embeddings == list(h5ad.obsm)
    with zipfile.ZipFile(path) as zf:
        assert {".zattrs", ".zgroup", ".zmetadata", "X/.zattrs", "obsm/X_umap/.zarray"} <= set(
            zf.namelist())
        zf.extractall(tmp_path / "store")
    adata = anndata.read_zarr(tmp_path / "store")
    assert (adata.X != h5ad.X).nnz == 0 and (adata.layers["counts"] != h5ad.layers["counts"]).nnz == 0
    for key in h5ad.obsm:
        np.testing.assert_array_equal(adata.obsm[key], h5ad.obsm[key])
    pd.testing.assert_frame_equal(adata.obs, h5ad.obs)
    pd.testing.assert_frame_equal(adata.var, h5ad.var)
    assert list(adata.uns["Leiden cluster_colors"]) == list(h5ad.uns["Leiden cluster_colors"])


def test_export_holds_one_block_of_the_matrix_not_a_copy(hpc_family: Any, tmp_path: Path) -> None:
    """Peak Python-side memory of an export in blocks of 500 cells stays below the size of
    the normalised matrix's values and indices (what one whole copy would take)."""
    folder = _folder(hpc_family, hpc_family.spring_id)
    nnz = sp.load_npz(folder / "counts_norm.npz").nnz
    tracemalloc.start()
    try:
        export_analysis(hpc_family.store, hpc_family.settings, hpc_family.spring_id,
                        tmp_path / "small-blocks.h5ad", block_rows=500)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < nnz * 8, (peak, nnz * 8)


def test_unknown_analysis_and_format_are_refused(hpc_family: Any, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        export_analysis(hpc_family.store, hpc_family.settings, "0" * 32, tmp_path / "x.h5ad")
    with pytest.raises(InputError) as info:
        export_analysis(hpc_family.store, hpc_family.settings, hpc_family.spring_id,
                        tmp_path / "x.loom", format="loom")
    assert info.value.field == "format" and "h5ad, zarr" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_an_imported_h5ad_is_exported_as_it_came_in(store: Any, settings: Any, tmp_path: Path
                                                    ) -> None:
    """scanpy's ``10x_pbmc68k_reduced.h5ad`` (view-only: scaled ``X``, ``X_pca``, ``X_umap``,
    Louvain labels and colours), imported and exported again, is the file's own data."""
    scanpy_datasets = pytest.importorskip("scanpy.datasets")
    from bioblocks.pipeline.operations import import_dataset

    source = Path(scanpy_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"
    original = anndata.read_h5ad(source)
    doc = import_dataset(store, settings, [source], name="pbmc68k")
    analyses = {store.get("analysis", a)["processType"]: a for a in doc["analyses"]}
    summary = export_analysis(store, settings, analyses["UMAP"], tmp_path / "again.h5ad")
    again = anndata.read_h5ad(tmp_path / "again.h5ad")
    assert not summary.counts and "counts" not in again.layers
    assert summary.embeddings == ["X_pca", "X_umap"]
    assert list(again.obs_names) == list(original.obs_names)
    assert list(again.var_names) == list(original.var_names)
    np.testing.assert_array_equal(again.X.toarray(), original.X)
    for key in ("X_pca", "X_umap"):
        np.testing.assert_array_equal(again.obsm[key], original.obsm[key])
    for column in ("louvain", "bulk_labels", "phase"):
        assert list(again.obs[column]) == list(original.obs[column]), column
        assert list(again.obs[column].cat.categories) == list(original.obs[column].cat.categories)
    for column in ("louvain", "bulk_labels"):
        assert list(again.uns[f"{column}_colors"]) == list(original.uns[f"{column}_colors"])
    for column in ("n_genes", "percent_mito", "n_counts", "S_score", "G2M_score"):
        np.testing.assert_array_equal(again.obs[column].to_numpy(), original.obs[column].to_numpy())
    assert again.uns["bioblocks"]["view_only"]
    assert cellxgene_problems(again) == []
    umap = analysis_dir(settings.resolved_data_dir, doc["_id"], analyses["UMAP"])
    assert (umap / "cells.txt").read_text().splitlines() == list(original.obs_names)
    assert json.loads((umap / "run_info.json").read_text())["springAnalysis"] == analyses["SPRING"]


def test_a_disk_without_room_is_refused_before_writing(
    hpc_family: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from bioblocks.errors import StorageFullError
    from bioblocks.storage import _space

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(_space.shutil, "disk_usage",
                        lambda _: usage._replace(free=50 * 1024**2))
    with pytest.raises(StorageFullError):
        export_analysis(hpc_family.store, hpc_family.settings, hpc_family.spring_id,
                        tmp_path / "full.h5ad")
    assert not list(tmp_path.iterdir())
