"""Every input format gives the same canonical matrix; libraries combine; HPC data imports."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata
import numpy as np
import pytest

from bioblocks.errors import IngestError
from bioblocks.ingest import (
    ImportLimits,
    MatrixSummary,
    detect_format,
    import_matrix,
    read_canonical,
)
from bioblocks.ingest._streams import Budget

from ._formats import (
    Reference,
    dense_text,
    gz,
    mtx_bytes,
    write_10x_dir,
    write_10x_h5,
    write_h5ad,
    write_hca_zip,
    write_loom,
)


def _write(kind: str, ref: Reference, tmp: Path) -> Path:
    if kind == "10x_dir":
        return write_10x_dir(ref, tmp / "filtered_feature_bc_matrix")
    if kind == "mtx":
        folder = write_10x_dir(ref, tmp / "plain", compressed=False)
        return folder / "matrix.mtx"
    if kind == "mtx.gz":
        return write_10x_dir(ref, tmp / "gz") / "matrix.mtx.gz"
    if kind == "zip":
        return write_hca_zip(ref, tmp / "project.mtx.zip")
    if kind == "10x_h5":
        return write_10x_h5(ref, tmp / "filtered_feature_bc_matrix.h5")
    if kind == "h5ad":
        return write_h5ad(ref, tmp / "data.h5ad")
    if kind == "loom":
        return write_loom(ref, tmp / "data.loom")
    if kind == "tsv":
        path = tmp / "counts.tsv"
        path.write_bytes(dense_text(ref))
        return path
    if kind == "tsv.gz":
        return gz(tmp / "P1.counts.tsv.gz", dense_text(ref))
    if kind == "csv":
        path = tmp / "counts.csv"
        path.write_bytes(dense_text(ref, delim=",", corner=None))
        return path
    raise AssertionError(kind)


FORMATS = ["10x_dir", "mtx", "mtx.gz", "zip", "10x_h5", "h5ad", "loom", "tsv", "tsv.gz", "csv"]


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_gives_the_reference_matrix(
    kind: str, ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    source = _write(kind, ref, tmp_path)
    assert detect_format(source, budget=Budget(limits=limits)) == kind
    summary = import_matrix([source], tmp_path / "out", limits=limits)
    X, genes, barcodes, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(X.toarray(), ref.counts)
    assert X.dtype == np.int32
    assert genes.tolist() == ref.genes
    assert barcodes.tolist() == ref.barcodes
    assert obs["library"].astype(str).unique().tolist() == [source.name.split(".")[0]]
    assert summary.cells == 9 and summary.genes == 6
    assert summary.nonzeros == int(np.count_nonzero(ref.counts))
    assert summary.source_format == kind
    info = summary.to_matrix_info()
    assert info == {
        "rowCount": 6,
        "colCount": 9,
        "cells": 9,
        "genes": 6,
        "nonzeros": summary.nonzeros,
        "sourceFormat": kind,
    }
    adata = anndata.read_h5ad(tmp_path / "out" / "matrix.h5ad")
    if kind in ("10x_dir", "mtx", "mtx.gz", "zip", "10x_h5", "h5ad", "loom"):
        assert adata.var["gene_ids"].tolist() == ref.gene_ids
    assert not (tmp_path / "out" / ".work").exists()


def test_hca_zip_keeps_cell_metadata(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    source = write_hca_zip(ref, tmp_path / "p.mtx.zip")
    summary = import_matrix([source], tmp_path / "out", limits=limits)
    _, _, _, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert summary.obs_columns == ["genes_detected", "specimen", "library"]
    assert obs["genes_detected"].tolist() == (ref.counts > 0).sum(axis=1).tolist()
    assert obs["specimen"].astype(str).tolist() == ["s1"] * 5 + ["s2"] * 4


def test_h5ad_and_loom_keep_obs(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    import_matrix([write_h5ad(ref, tmp_path / "a.h5ad")], tmp_path / "o1", limits=limits)
    _, _, _, obs = read_canonical(tmp_path / "o1" / "matrix.h5ad")
    assert obs["batch"].astype(str).tolist() == ["a"] * 4 + ["b"] * 5
    import_matrix([write_loom(ref, tmp_path / "a.loom")], tmp_path / "o2", limits=limits)
    _, _, _, obs = read_canonical(tmp_path / "o2" / "matrix.h5ad")
    assert obs["n_genes"].tolist() == (ref.counts > 0).sum(axis=1).tolist()


def test_several_libraries_are_concatenated(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    first = write_10x_dir(ref, tmp_path / "A")
    shuffled = Reference(
        counts=ref.counts[:, ::-1].copy(),
        genes=ref.genes[::-1],
        gene_ids=ref.gene_ids[::-1],
        barcodes=ref.barcodes,
    )
    second = gz(tmp_path / "B.tsv.gz", dense_text(shuffled))
    summary = import_matrix([first, second], tmp_path / "out", limits=limits, labels=["a", "b"])
    X, genes, barcodes, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(X.toarray(), np.vstack([ref.counts, ref.counts]))
    assert genes.tolist() == ref.genes
    assert barcodes[:2].tolist() == ["a_AAAC00-1", "a_AAAC01-1"]
    assert barcodes[9].startswith("b_")
    assert obs["library"].astype(str).tolist() == ["a"] * 9 + ["b"] * 9
    assert obs["barcode"].tolist() == ref.barcodes * 2
    assert summary.libraries == ["a", "b"]
    assert summary.source_format == "10x_dir+tsv.gz"


def test_libraries_with_different_genes_are_refused(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    first = write_10x_dir(ref, tmp_path / "A")
    other = Reference(ref.counts, [*ref.genes[:-1], "Other"], ref.gene_ids, ref.barcodes)
    second = gz(tmp_path / "B.tsv.gz", dense_text(other))
    with pytest.raises(IngestError, match="genes differ") as info:
        import_matrix([first, second], tmp_path / "out", limits=limits)
    assert info.value.field == "B.tsv.gz"


def test_duplicate_and_empty_gene_names_follow_spring(tmp_path: Path, limits: ImportLimits) -> None:
    counts = np.array([[1, 2, 3, 4], [0, 1, 0, 5]], dtype=np.int32)
    path = tmp_path / "m.mtx"
    path.write_bytes(mtx_bytes(counts.T))
    (tmp_path / "genes.txt").write_text("A\nB\nA\n\n")
    import_matrix([path], tmp_path / "out", limits=limits)
    X, genes, barcodes, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert genes.tolist() == ["A__1", "B", "A__2"]
    np.testing.assert_array_equal(X.toarray(), counts[:, :3])
    assert barcodes.tolist() == ["cell0", "cell1"]


def test_single_cell_dataset_imports(tmp_path: Path, limits: ImportLimits) -> None:
    """The old example dataset: 63,925 genes × 1 cell."""
    rng = np.random.default_rng(0)
    counts = np.zeros((63925, 1), dtype=np.int32)
    counts[rng.choice(63925, 500, replace=False), 0] = rng.integers(1, 50, 500)
    folder = tmp_path / "one"
    folder.mkdir()
    gz(folder / "matrix.mtx.gz", mtx_bytes(counts))
    gz(
        folder / "genes.tsv.gz",
        (
            "featurekey\tfeaturename\n" + "".join(f"ENSG{k:011d}\tG{k}\n" for k in range(63925))
        ).encode(),
    )
    gz(folder / "cells.tsv.gz", b"cellkey\tgenes_detected\ncell-1\t500\n")
    summary = import_matrix([folder / "matrix.mtx.gz"], tmp_path / "out", limits=limits)
    assert (summary.cells, summary.genes, summary.nonzeros) == (1, 63925, 500)
    assert summary.to_matrix_info()["rowCount"] == 63925
    X, genes, barcodes, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(X.toarray()[0], counts[:, 0])
    assert barcodes.tolist() == ["cell-1"] and genes[7] == "G7"


def test_real_valued_matrix_is_stored_as_float32(tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("cell\tA\tB\nc1\t0.5\t0\nc2\t1e2\t2.25\n")
    import_matrix([path], tmp_path / "out", limits=limits)
    X, _, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert X.dtype == np.float32
    np.testing.assert_allclose(X.toarray(), [[0.5, 0], [100, 2.25]])


def test_keep_original_copies_the_inputs(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    source = gz(tmp_path / "x.tsv.gz", dense_text(ref))
    import_matrix([source], tmp_path / "out", limits=limits, keep_original=True)
    assert (tmp_path / "out" / "original" / "x.tsv.gz").read_bytes() == source.read_bytes()


def test_progress_is_reported_and_can_cancel(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    from bioblocks.errors import Cancelled

    seen: list[float] = []
    source = gz(tmp_path / "x.tsv.gz", dense_text(ref))
    import_matrix([source], tmp_path / "out", limits=limits, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)

    def cancel(fraction: float, message: str) -> None:
        if fraction > 0.5:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        import_matrix([source], tmp_path / "out2", limits=limits, progress=cancel)
    assert not (tmp_path / "out2" / "matrix.h5ad").exists()


def _row_totals(path: Path, n_rows: int) -> tuple[list[str], list[str], list[int]]:
    """Independent reading of a few rows with gzip + numpy."""
    with gzip.open(path, "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        barcodes, totals = [], []
        for _ in range(n_rows):
            parts = fh.readline().rstrip("\n").split("\t")
            barcodes.append(parts[0])
            totals.append(int(np.asarray(parts[1:], dtype=np.int64).sum()))
    return header[1:], barcodes, totals


def test_real_hpc_libraries(hpc_dir: Path, tmp_path: Path) -> None:
    sources = [hpc_dir / "P12A.counts.tsv.gz", hpc_dir / "P11B.counts.tsv.gz"]
    summary = import_matrix(sources, tmp_path / "out", limits=ImportLimits())
    assert summary.genes == 28205
    assert summary.source_format == "tsv.gz"
    X, genes, barcodes, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    genes_txt = (hpc_dir / "genes.txt").read_text().split("\n")[:28205]
    assert genes.tolist() == genes_txt
    offset = 0
    for path, label in zip(sources, ["P12A", "P11B"], strict=True):
        header, bcs, totals = _row_totals(path, 5)
        assert header == genes_txt
        n = int((obs["library"] == label).sum())
        assert [f"{label}_{b}" for b in bcs] == barcodes[offset : offset + 5].tolist()
        assert np.asarray(X[offset : offset + 5].sum(axis=1)).ravel().tolist() == totals
        offset += n
    assert offset == summary.cells == X.shape[0]
    assert X.dtype == np.int32
    lines = []
    for path in sources:
        with gzip.open(path, "rb") as fh:
            lines.append(
                sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
            )
    assert lines[0] == 1393
    assert obs["library"].value_counts().to_dict() == {"P12A": lines[0], "P11B": lines[1]}


def test_matrix_summary_is_plain_data() -> None:
    s = MatrixSummary(cells=2, genes=3, nonzeros=4, source_format="h5ad")
    assert s.to_matrix_info()["colCount"] == 2
