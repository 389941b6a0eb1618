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
