"""HDF5 inputs beyond the round trip: 10x v2, feature types, counts layers, bad files."""

from __future__ import annotations

from pathlib import Path

import anndata
import h5py
import numpy as np
import scipy.sparse as sp

from bioblocks.ingest import ImportLimits, import_matrix, read_canonical

from ._formats import Reference, assert_import_fails, write_10x_h5


def test_10x_v2_h5(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    X = sp.csc_matrix(ref.counts.T)
    path = tmp_path / "v2.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("mm10")
        g["data"], g["indices"], g["indptr"] = X.data, X.indices, X.indptr
        g["shape"] = np.array(X.shape)
        g["barcodes"] = np.array(ref.barcodes, dtype="S")
        g["genes"] = np.array(ref.gene_ids, dtype="S")
        g["gene_names"] = np.array(ref.genes, dtype="S")
    summary = import_matrix([path], tmp_path / "out", limits=limits)
    assert summary.source_format == "10x_h5"
    Y, genes, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(Y.toarray(), ref.counts)
    assert genes.tolist() == ref.genes


def test_10x_h5_keeps_gene_expression_only(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_10x_h5(ref, tmp_path / "x.h5")
    with h5py.File(path, "r+") as f:
        types = ["Gene Expression"] * 4 + ["Antibody Capture"] * 2
        del f["matrix/features/feature_type"]
        f["matrix/features/feature_type"] = np.array(types, dtype="S")
    import_matrix([path], tmp_path / "out", limits=limits)
    Y, genes, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(Y.toarray(), ref.counts[:, :4])
    assert genes.tolist() == ref.genes[:4]


def test_h5ad_counts_layer_wins(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    adata = anndata.AnnData(
        X=np.log1p(ref.counts.astype(np.float32)),
        layers={"counts": sp.csr_matrix(ref.counts)},
    )
    adata.obs_names, adata.var_names = ref.barcodes, ref.genes
    adata.write_h5ad(tmp_path / "x.h5ad")
    import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits)
    Y, _, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(Y.toarray(), ref.counts)


def test_scaled_h5ad_is_refused(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    adata = anndata.AnnData(X=ref.counts.astype(np.float32) - 1)
    adata.write_h5ad(tmp_path / "scaled.h5ad")
    assert_import_fails(
        [tmp_path / "scaled.h5ad"], tmp_path, limits, match="negative", field="scaled.h5ad"
    )


def test_other_hdf5_is_refused(tmp_path: Path, limits: ImportLimits) -> None:
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["something"] = np.arange(3)
    assert_import_fails([tmp_path / "x.h5"], tmp_path, limits, match="neither a 10x", field="x.h5")


def test_inconsistent_10x_h5(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    path = write_10x_h5(ref, tmp_path / "x.h5")
    with h5py.File(path, "r+") as f:
        indices = f["matrix/indices"][()]
        indices[0] = 99
        f["matrix/indices"][...] = indices
    assert_import_fails(
        [path], tmp_path, limits, match="out of range", field="x.h5:matrix/indices"
    )


def test_h5ad_obs_columns_of_every_kind_survive(tmp_path: Path, limits: ImportLimits) -> None:
    """Only X, obs and var are read, column by column: every anndata column kind is kept,
    obsm/uns/raw are not needed, dense and gzip-compressed files read the same."""
    import pandas as pd

    n = 9
    obs = pd.DataFrame({
        "cat": pd.Categorical(list("aabbbcccc")), "flag": [True, False] * 4 + [True],
        "i": np.arange(n), "f": np.linspace(0, 1, n), "s": [f"x{i}" for i in range(n)],
        "ni": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9], dtype="Int64"),
        "nb": pd.array([True, None] * 4 + [False], dtype="boolean"),
    }, index=[f"c{i}" for i in range(n)])
    X = sp.random(n, 5, density=0.5, format="csr", random_state=0)
    X.data = np.ceil(X.data * 5)
    var = pd.DataFrame({"gene_ids": [f"E{i}" for i in range(5)]}, index=[f"g{i}" for i in range(5)])
    adata = anndata.AnnData(X=X, obs=obs, var=var)
    adata.obsm["X_pca"] = np.zeros((n, 3))
    adata.uns["x"] = {"a": 1}
    adata.raw = adata
    for k, (matrix, compression) in enumerate(((X, None), (X, "gzip"), (X.toarray(), None))):
        path = tmp_path / f"a{k}.h5ad"
        anndata.AnnData(X=matrix, obs=obs, var=var, obsm=adata.obsm, uns=adata.uns).write_h5ad(
            path, compression=compression)
        summary = import_matrix([path], tmp_path / f"out{k}", limits=limits)
        Y, genes, barcodes, got = read_canonical(tmp_path / f"out{k}" / "matrix.h5ad")
        np.testing.assert_array_equal(Y.toarray(), X.toarray())
        assert genes.tolist() == var.index.tolist() and barcodes.tolist() == obs.index.tolist()
        assert summary.obs_columns == [*obs.columns, "library"] and summary.dropped == []
        pd.testing.assert_frame_equal(got[list(obs.columns)], obs, check_index_type=False)
