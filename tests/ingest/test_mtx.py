"""Matrix Market inputs: lying headers, bad indices and values, mismatched side files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioblocks.ingest import ImportLimits
from bioblocks.ingest._mtx import mtx_prefix

from ._formats import assert_import_fails, gz

HEADER = "%%MatrixMarket matrix coordinate integer general\n"


def _mtx(tmp: Path, body: str, *, genes: int | None = 3, name: str = "matrix.mtx") -> Path:
    path = tmp / name
    path.write_text(HEADER + body)
    if genes is not None:
        (tmp / "genes.tsv").write_text("".join(f"g{k}\n" for k in range(genes)))
    return path


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("3 2 3\n1 1 1\n3 2 5\n", "Truncated file"),
        ("3 2 1\n1 1 1\n3 2 5\n", "Too many lines"),
        ("3 2 2\n1 1 1\n4 2 5\n", "Row index out of bounds"),
        ("3 2 2\n1 1 1\n3 3 5\n", "Column index out of bounds"),
        ("3 2 2\n0 1 1\n3 2 5\n", "Row index out of bounds"),
        ("3 2 2\n1 1 x\n3 2 5\n", "Invalid"),
        ("3 2 7\n1 1 1\n3 2 5\n", "more than 3 × 2"),
        ("300000 20000 99999999\n1 1 1\n", "more than a file of this size"),
        ("0 0 0\n", "empty"),
    ],
)
def test_bad_matrix_market_bodies(
    body: str, match: str, tmp_path: Path, limits: ImportLimits
) -> None:
    source = _mtx(tmp_path, body)
    assert_import_fails([source], tmp_path, limits, match=match, field="matrix.mtx")


@pytest.mark.parametrize(
    ("values", "match"),
    [("-1", "negative"), ("nan", "non-finite"), ("inf", "non-finite")],
)
def test_bad_values(values: str, match: str, tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "matrix.mtx"
    path.write_text(f"%%MatrixMarket matrix coordinate real general\n3 2 2\n1 1 1\n3 2 {values}\n")
    (tmp_path / "genes.tsv").write_text("a\nb\nc\n")
    assert_import_fails([path], tmp_path, limits, match=match, field="matrix.mtx")


def test_genes_file_matching_neither_dimension(tmp_path: Path, limits: ImportLimits) -> None:
    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n", genes=5)
    assert_import_fails([source], tmp_path, limits, match="neither dimension", field="genes.tsv")


def test_cells_file_that_does_not_fit(tmp_path: Path, limits: ImportLimits) -> None:
    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n")
    (tmp_path / "barcodes.tsv").write_text("a\nb\nc\nd\n")
    assert_import_fails(
        [source], tmp_path, limits, match="neither orientation", field="barcodes.tsv"
    )


def test_duplicate_barcodes(tmp_path: Path, limits: ImportLimits) -> None:
    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n")
    (tmp_path / "barcodes.tsv").write_text("AAA\nAAA\n")
    assert_import_fails(
        [source], tmp_path, limits, match="duplicate cell barcodes", field="matrix.mtx"
    )


def test_non_utf8_genes_file(tmp_path: Path, limits: ImportLimits) -> None:
    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n", genes=None)
    (tmp_path / "genes.tsv").write_bytes(b"a\n\xff\xfeb\nc\n")
    assert_import_fails([source], tmp_path, limits, match="not valid UTF-8", field="genes.tsv")


def test_all_zero_matrix_is_empty(tmp_path: Path, limits: ImportLimits) -> None:
    source = _mtx(tmp_path, "3 2 1\n1 1 0\n")
    assert_import_fails([source], tmp_path, limits, match="empty", field="matrix.mtx")


def test_truncated_gzip_matrix(tmp_path: Path, limits: ImportLimits) -> None:
    rng = np.random.default_rng(1)
    lines = "".join(f"{rng.integers(1, 4)} {rng.integers(1, 3)} 1\n" for _ in range(20000))
    data = gz(tmp_path / "full.gz", (HEADER + f"300 200 20000\n{lines}").encode()).read_bytes()
    path = tmp_path / "matrix.mtx.gz"
    path.write_bytes(data[: len(data) // 2])
    (tmp_path / "genes.tsv").write_text("".join(f"g{k}\n" for k in range(300)))
    assert_import_fails([path], tmp_path, limits, match="gzip stream ends", field="matrix.mtx.gz")


def test_gzip_bomb_matrix(tmp_path: Path) -> None:
    limits = ImportLimits(ratio_grace_bytes=1024 * 1024, max_compression_ratio=100)
    body = HEADER + "3 2 1\n1 1 1\n" + "%" * (8 * 1024 * 1024)
    path = gz(tmp_path / "matrix.mtx.gz", body.encode())
    (tmp_path / "genes.tsv").write_text("a\nb\nc\n")
    assert_import_fails([path], tmp_path, limits, match="compression ratio", field="matrix.mtx.gz")


def test_side_file_prefix() -> None:
    assert mtx_prefix(Path("matrix.mtx.gz")) == ""
    assert mtx_prefix(Path("P9A.mtx")) == "P9A"
    assert mtx_prefix(Path("P9A_matrix.mtx.gz")) == "P9A"


def test_prefixed_side_files_and_cells_by_genes_orientation(
    tmp_path: Path, limits: ImportLimits
) -> None:
    from bioblocks.ingest import import_matrix, read_canonical

    path = tmp_path / "P9A.mtx"
    # rows are cells here: 2 cells × 3 genes
    path.write_text(HEADER + "2 3 3\n1 1 4\n2 3 5\n1 2 1\n")
    (tmp_path / "P9A_genes.txt").write_text("x\ny\nz\n")
    (tmp_path / "genes.txt").write_text("wrong\n")
    (tmp_path / "P9A.barcodes.tsv").write_text("c1\nc2\n")
    import_matrix([path], tmp_path / "out", limits=limits)
    X, genes, barcodes, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(X.toarray(), [[4, 1, 0], [0, 0, 5]])
    assert genes.tolist() == ["x", "y", "z"] and barcodes.tolist() == ["c1", "c2"]
