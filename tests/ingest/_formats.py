"""Writers of a small reference matrix in every supported input format."""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import anndata
import fast_matrix_market as fmm
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class Reference:
    """The matrix every format file of the tests encodes (cells × genes)."""

    counts: np.ndarray
    genes: list[str]
    gene_ids: list[str]
    barcodes: list[str]


def reference() -> Reference:
    rng = np.random.default_rng(7)
    counts = rng.poisson(1.2, size=(9, 6)).astype(np.int32)
    counts[counts == 2] = 0
    counts[0, 0] = 17
    return Reference(
        counts=counts,
        genes=["Actb", "Gapdh", "mt-Co1", "Sox2", "Nes", "Dcx"],
        gene_ids=[f"ENSMUSG{k:011d}" for k in range(6)],
        barcodes=[f"AAAC{k:02d}-1" for k in range(9)],
    )


def gz(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


def mtx_bytes(matrix: np.ndarray, *, field: str = "integer") -> bytes:
    buffer = io.BytesIO()
    coo = sp.coo_matrix(matrix)
    fmm.mmwrite(buffer, coo, field=field)
    return buffer.getvalue()


def write_10x_dir(ref: Reference, folder: Path, *, compressed: bool = True) -> Path:
    """A CellRanger v3 folder: matrix.mtx.gz (genes × cells), features.tsv.gz, barcodes.tsv.gz."""
    folder.mkdir(parents=True)
    features = "".join(
        f"{i}\t{g}\tGene Expression\n" for i, g in zip(ref.gene_ids, ref.genes, strict=True)
    )
    barcodes = "".join(f"{b}\n" for b in ref.barcodes)
    body = mtx_bytes(ref.counts.T)
    if compressed:
        gz(folder / "matrix.mtx.gz", body)
        gz(folder / "features.tsv.gz", features.encode())
        gz(folder / "barcodes.tsv.gz", barcodes.encode())
    else:
        (folder / "matrix.mtx").write_bytes(body)
        (folder / "features.tsv").write_text(features)
        (folder / "barcodes.tsv").write_text(barcodes)
    return folder


def write_hca_zip(ref: Reference, path: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    """The HCA matrix service's mtx.zip: one top folder, stored members that are gzipped."""
    top = path.name.removesuffix(".zip")
    genes = "featurekey\tfeaturename\tfeaturetype\n" + "".join(
        f"{i}\t{g}\tGene\n" for i, g in zip(ref.gene_ids, ref.genes, strict=True)
    )
    cells = "cellkey\tgenes_detected\tspecimen\n" + "".join(
        f"{b}\t{int((row > 0).sum())}\t{'s1' if k < 5 else 's2'}\n"
        for k, (b, row) in enumerate(zip(ref.barcodes, ref.counts, strict=True))
    )
    features = "".join(
        f"{i}\t{g}\tGene Expression\n" for i, g in zip(ref.gene_ids, ref.genes, strict=True)
    )
    members = {
        f"{top}/matrix.mtx.gz": gzip.compress(mtx_bytes(ref.counts.T.astype(float), field="real")),
        f"{top}/genes.tsv.gz": gzip.compress(genes.encode()),
        f"{top}/features.tsv.gz": gzip.compress(features.encode()),
        f"{top}/cells.tsv.gz": gzip.compress(cells.encode()),
        f"{top}/barcodes.tsv.gz": gzip.compress("".join(f"{b}\n" for b in ref.barcodes).encode()),
    }
    members.update(extra or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_10x_h5(ref: Reference, path: Path) -> Path:
    X = sp.csc_matrix(ref.counts.T)
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"] = X.data
        g["indices"] = X.indices
        g["indptr"] = X.indptr
        g["shape"] = np.array(X.shape, dtype=np.int32)
        g["barcodes"] = np.array(ref.barcodes, dtype="S")
        feats = g.create_group("features")
        feats["id"] = np.array(ref.gene_ids, dtype="S")
        feats["name"] = np.array(ref.genes, dtype="S")
        feats["feature_type"] = np.array(["Gene Expression"] * len(ref.genes), dtype="S")
    return path


def write_h5ad(ref: Reference, path: Path) -> Path:
    adata = anndata.AnnData(
        X=sp.csr_matrix(ref.counts.astype(np.float32)),
        obs=pd.DataFrame({"batch": ["a"] * 4 + ["b"] * 5}, index=ref.barcodes),
        var=pd.DataFrame({"gene_ids": ref.gene_ids}, index=ref.genes),
    )
    adata.write_h5ad(path)
    return path


def write_loom(ref: Reference, path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f["matrix"] = ref.counts.T.astype(np.float32)
        rows = f.create_group("row_attrs")
        rows["Gene"] = np.array(ref.genes, dtype="S")
        rows["Accession"] = np.array(ref.gene_ids, dtype="S")
        cols = f.create_group("col_attrs")
        cols["CellID"] = np.array(ref.barcodes, dtype="S")
        cols["n_genes"] = (ref.counts > 0).sum(axis=1)
        f.create_group("layers")
    return path


def dense_text(ref: Reference, *, delim: str = "\t", corner: str | None = "barcode") -> bytes:
    header = ([corner] if corner is not None else []) + ref.genes
    lines = [delim.join(header)]
    for b, row in zip(ref.barcodes, ref.counts, strict=True):
        lines.append(delim.join([b, *map(str, row.tolist())]))
    return ("\n".join(lines) + "\n").encode()


def assert_import_fails(
    sources: list[Path], tmp: Path, limits: object, *, match: str, field: str
) -> None:
    """Import inside ``atomic_dir`` as the callers do; check the error and that nothing is left."""
    import pytest

    from bioblocks.errors import IngestError
    from bioblocks.ingest import import_matrix
    from bioblocks.storage import atomic_dir, matrix_dir, tmp_dir

    data_dir = tmp / "data"
    final = matrix_dir(data_dir, "0123abcd")
    final.parent.mkdir(parents=True, exist_ok=True)
    (final.parent / "dataset.json").write_text("{}")
    before = sorted(p.name for p in final.parent.iterdir())
    with pytest.raises(IngestError, match=match) as info:
        with atomic_dir(final, data_dir=data_dir) as staging:
            import_matrix(sources, staging, limits=limits)  # type: ignore[arg-type]
    assert info.value.field == field, info.value
    assert "\n" not in str(info.value)
    assert not final.exists()
    assert sorted(p.name for p in final.parent.iterdir()) == before
    assert list(tmp_dir(data_dir).iterdir()) == []
