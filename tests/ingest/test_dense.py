"""Dense text tables: layouts that parse, and the ones that must fail cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bioblocks.ingest import ImportLimits, _dense, import_matrix, read_canonical

from ._formats import assert_import_fails, gz


def _import(tmp: Path, name: str, text: bytes, limits: ImportLimits):  # noqa: ANN202
    path = tmp / name
    path.write_bytes(text)
    import_matrix([path], tmp / "out", limits=limits)
    return read_canonical(tmp / "out" / "matrix.h5ad")


def test_csv_with_quotes_crlf_and_blank_lines(tmp_path: Path, limits: ImportLimits) -> None:
    text = b'"cell","A","B","C"\r\n"c1",1,0,2\r\n\r\n"c2",0,0,3.0\r\n'
    X, genes, barcodes, _ = _import(tmp_path, "t.csv", text, limits)
    assert genes.tolist() == ["A", "B", "C"] and barcodes.tolist() == ["c1", "c2"]
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 2], [0, 0, 3]])
    assert X.dtype == np.int32


def test_header_without_corner_field(tmp_path: Path, limits: ImportLimits) -> None:
    X, genes, _, _ = _import(tmp_path, "t.tsv", b"A\tB\nc1\t5\t0\nc2\t0\t1e1\n", limits)
    assert genes.tolist() == ["A", "B"]
    np.testing.assert_array_equal(X.toarray(), [[5, 0], [0, 10]])


def test_many_blocks_give_the_same_matrix(
    tmp_path: Path, limits: ImportLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.3, size=(500, 40)) * rng.integers(1, 1000, size=(500, 40))
    lines = ["barcode\t" + "\t".join(f"g{k}" for k in range(40))]
    lines += [f"b{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts.tolist())]
    monkeypatch.setattr(_dense, "BLOCK_BYTES", 1000)
    path = gz(tmp_path / "x.tsv.gz", ("\n".join(lines)).encode())  # no final newline
    import_matrix([path], tmp_path / "out", limits=limits)
    X, _, barcodes, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(X.toarray(), counts)
    assert barcodes[-1] == "b499"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"cell\tA\tB\nc1\t1\t2\nc2\t1\n", "ragged rows: line 3 has 2 fields, expected 3"),
        (b"cell\tA\tB\nc1\t1\t2\nc2\t1\t2\t3\n", "ragged rows: line 3"),
        (b"cell\tA\tB\nc1\t1\tx\n", r"line 2, column 3: not a number \(gene 'B'\)"),
        (b"cell\tA\tB\nc1\t1\t-2\n", "negative"),
        (b"cell\tA\tB\nc1\t1\tNaN\n", "non-finite"),
        (b"cell\tA\tB\nc1\t1\t\n", "not a number"),
        (b"cell\tA\tB\n", "no rows"),
        (b"cell\tA\tB\nc1\t0\t0\n", "empty"),
        (b"cell\tA\tB\nc1\t1\t2\nc1\t1\t2\n", "duplicate cell barcodes"),
        (b"cell\tA\xff\tB\nc1\t1\t2\n", "not valid UTF-8"),
    ],
)
def test_bad_tables(text: bytes, match: str, tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes(text)
    assert_import_fails([path], tmp_path, limits, match=match, field="t.tsv")


def test_truncated_gzip_table(tmp_path: Path, limits: ImportLimits) -> None:
    rng = np.random.default_rng(0)
    lines = ["cell\t" + "\t".join(f"g{k}" for k in range(50))]
    lines += [f"c{i}\t" + "\t".join(map(str, rng.integers(0, 9, 50))) for i in range(3000)]
    data = gz(tmp_path / "full.tsv.gz", "\n".join(lines).encode()).read_bytes()
    path = tmp_path / "cut.tsv.gz"
    path.write_bytes(data[: int(len(data) * 0.7)])
    assert_import_fails([path], tmp_path, limits, match="gzip stream ends", field="cut.tsv.gz")


def test_gzip_bomb_table(tmp_path: Path) -> None:
    row = "c\t" + "\t".join(["0"] * 100) + "\n"
    text = "cell\t" + "\t".join(f"g{k}" for k in range(100)) + "\n" + row * 40000
    path = gz(tmp_path / "bomb.tsv.gz", text.encode())
    limits = ImportLimits(ratio_grace_bytes=512 * 1024, max_compression_ratio=20)
    assert_import_fails([path], tmp_path, limits, match="compression ratio", field="bomb.tsv.gz")


def test_header_and_rows_are_bounded_before_decoding(
    tmp_path: Path, limits: ImportLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gzipped header of millions of names is refused on its bytes, never split into them."""
    monkeypatch.setattr(_dense, "MAX_COLUMNS", 1000)
    wide = b"cell\t" + b"\t".join(b"g%d" % k for k in range(1500)) + b"\nc1\t" + b"1\t" * 1499 + b"1\n"
    source = gz(tmp_path / "wide.tsv.gz", wide)
    assert_import_fails([source], tmp_path, limits, match="1,501 columns; at most 1,000 genes",
                        field="wide.tsv.gz")
    monkeypatch.setattr(_dense, "MAX_LINE_BYTES", 4096)
    long_row = b"cell\tA\tB\nc1\t1\t" + b"0" * 8000 + b"1\n"
    path = tmp_path / "long.tsv"
    path.write_bytes(long_row)
    assert_import_fails([path], tmp_path, limits, match="first row is longer", field="long.tsv")


def test_dense_memory_budget(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["cell\t" + "\t".join(f"g{k}" for k in range(20))]
    lines += [f"c{i}\t" + "\t".join(map(str, rng.integers(1, 9, 20))) for i in range(200)]
    path = tmp_path / "t.tsv"
    path.write_text("\n".join(lines) + "\n")
    small = ImportLimits(ratio_grace_bytes=64 * 1024, max_memory_bytes=10_000)
    assert_import_fails([path], tmp_path, small, match="BIOBLOCKS_MAX_IMPORT_MEMORY_BYTES",
                        field="t.tsv")
