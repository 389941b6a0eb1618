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


# ---- issue 14: symmetric storage, numbers beyond their types, headers that lie about size ----

#: The 59-byte file of issue 14.2: it made the server segfault (fast_matrix_market fills
#: only the lower triangle of an ``array symmetric`` matrix; the rest was never written).
SYMMETRIC_ARRAY = "%%MatrixMarket matrix array real symmetric\n3 3\n1\n2\n3\n4\n5\n6\n"


def test_the_59_byte_symmetric_array_is_refused(tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "matrix.mtx"
    path.write_text(SYMMETRIC_ARRAY)
    assert path.stat().st_size == 59
    assert_import_fails([path], tmp_path, limits, match="'symmetric' matrix", field="matrix.mtx")


@pytest.mark.parametrize("layout", ["array", "coordinate"])
@pytest.mark.parametrize(
    ("field", "symmetry"),
    [("real", "symmetric"), ("integer", "skew-symmetric"), ("complex", "hermitian"),
     ("real", "skew-symmetric")],
)
def test_half_stored_matrices_are_refused(
    layout: str, field: str, symmetry: str, tmp_path: Path, limits: ImportLimits
) -> None:
    body = "3 3\n1\n2\n3\n4\n5\n6\n" if layout == "array" else "3 3 2\n1 1 1\n3 2 5\n"
    if field == "complex":
        body = "3 3\n" + "1 0\n" * 6 if layout == "array" else "3 3 1\n1 1 1 0\n"
    path = tmp_path / "matrix.mtx"
    path.write_text(f"%%MatrixMarket matrix {layout} {field} {symmetry}\n{body}")
    match = "imaginary" if field == "complex" else f"'{symmetry}' matrix"
    assert_import_fails([path], tmp_path, limits, match=match, field="matrix.mtx")


def test_general_array_is_read_column_by_column(tmp_path: Path, limits: ImportLimits) -> None:
    from bioblocks.ingest import import_matrix, read_canonical

    # 3 genes (rows) × 2 cells, stored column-major: cell 1 = (1, 0, 2), cell 2 = (0, 3, 0)
    path = tmp_path / "matrix.mtx"
    path.write_text("%%MatrixMarket matrix array integer general\n3 2\n1\n0\n2\n0\n3\n0\n")
    (tmp_path / "genes.tsv").write_text("a\nb\nc\n")
    dest = tmp_path / "out"
    summary = import_matrix([path], dest, limits=limits)
    X, genes, _, _ = read_canonical(dest / "matrix.h5ad")
    assert (summary.cells, summary.genes, summary.nonzeros) == (2, 3, 3)
    assert genes.tolist() == ["a", "b", "c"]
    assert X.toarray().tolist() == [[1, 0, 2], [0, 3, 0]]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("99999999999999999999999 2 1\n1 1 1\n", "not a Matrix Market file"),
        ("3 2 99999999999999999999999\n1 1 1\n", "not a Matrix Market file"),
        ("3 2 1\n99999999999999999999999 1 1\n", "Integer out of range"),
        ("3 2 1\n1 18446744073709551617 1\n", "Integer out of range"),
        ("3 2 1\n1.5 1 1\n", "Invalid integer"),
        ("3 2.0 1\n1 1 1\n", "not a Matrix Market file"),
        ("3000000000 2 1\n1 1 1\n", "at most 2,147,483,647 rows"),
    ],
)
def test_numbers_beyond_their_types_are_refused(
    body: str, match: str, tmp_path: Path, limits: ImportLimits
) -> None:
    source = _mtx(tmp_path, body, genes=None)
    assert_import_fails([source], tmp_path, limits, match=match, field="matrix.mtx")


@pytest.mark.parametrize(
    "body",
    ["100000000 3 1\n1 1 1\n", "3 100000000 1\n1 1 1\n", "50000000 50000000 2\n1 1 1\n2 2 1\n"],
)
def test_declared_dimensions_must_follow_the_data(
    body: str, tmp_path: Path, limits: ImportLimits
) -> None:
    source = _mtx(tmp_path, body, genes=None)
    assert_import_fails(
        [source], tmp_path, limits, match="without a genes/cells file naming them",
        field="matrix.mtx",
    )


def test_named_dimensions_may_be_empty(tmp_path: Path, limits: ImportLimits) -> None:
    from bioblocks.ingest import import_matrix

    n_genes = 200_500  # beyond the spare rows, but named by the genes file
    source = _mtx(tmp_path, f"{n_genes} 2 2\n1 1 1\n{n_genes} 2 5\n", genes=n_genes)
    summary = import_matrix([source], tmp_path / "out", limits=limits)
    assert (summary.cells, summary.genes, summary.nonzeros) == (2, n_genes, 2)


def test_array_header_beyond_the_file_is_refused(tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "matrix.mtx"
    path.write_text("%%MatrixMarket matrix array real general\n100000 100000\n1\n")
    assert_import_fails(
        [path], tmp_path, limits, match="more than a file of this size", field="matrix.mtx"
    )


def test_memory_budget_is_checked_before_reading(tmp_path: Path) -> None:
    from bioblocks.errors import InputTooLarge

    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n")
    small = ImportLimits(ratio_grace_bytes=64 * 1024, max_memory_bytes=1000)
    assert_import_fails([source], tmp_path, small, match="BIOBLOCKS_MAX_IMPORT_MEMORY_BYTES",
                        field="matrix.mtx")
    with pytest.raises(InputTooLarge):
        from bioblocks.ingest import import_matrix

        import_matrix([source], tmp_path / "out", limits=small)


def test_kernels_refuse_keys_out_of_range() -> None:
    from bioblocks.ingest import _kernels

    key = np.array([0, 3, 1], dtype=np.int32)
    other = np.array([0, 1, 2], dtype=np.int32)
    data = np.ones(3, dtype=np.float32)
    assert _kernels.first_outside(key, 0, 3) == 1
    assert _kernels.first_outside(key, 0, 4) == -1
    assert _kernels.first_outside(np.array([-1], dtype=np.int32), 0, 4) == 0
    with pytest.raises(IndexError):
        _kernels.group_by_key_inplace(key, other, data, 3)
    assert key.tolist() == [0, 3, 1]  # nothing was written
    with pytest.raises(IndexError):
        _kernels.group_by_key_inplace(key, other[:2], data, 4)
    with pytest.raises(IndexError):
        _kernels.float32_to_int32_inplace(data, np.empty(2, dtype=np.int32))


def test_side_file_longer_than_any_dimension_is_refused_on_its_bytes(
    tmp_path: Path, limits: ImportLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioblocks.ingest import _library

    source = _mtx(tmp_path, "3 2 2\n1 1 1\n3 2 5\n")
    rng = np.random.default_rng(0)
    barcodes = ["".join(rng.choice(list("ACGT"), 16)) for _ in range(20_000)]
    gz(tmp_path / "barcodes.tsv.gz", ("\n".join(barcodes) + "\n").encode())
    decoded: list[int] = []
    real = _library.text_lines
    monkeypatch.setattr("bioblocks.ingest._tables.text_lines",
                        lambda raw, *, name: decoded.append(len(raw)) or real(raw, name=name))
    assert_import_fails([source], tmp_path, limits, match="20,000 lines of cell names",
                        field="barcodes.tsv.gz")
    assert all(n < 1000 for n in decoded)  # the genes file only; the barcodes never decoded
