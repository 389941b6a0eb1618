"""Matrix Market (``.mtx``, ``.mtx.gz``) with its genes and cells files.

Parsed by fast_matrix_market (multi-threaded) straight into int32 row/column
and float32 value arrays of the exact header size, then grouped by cell in
place — the matrix is never held twice.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
from fast_matrix_market import _fmm_core

from ..errors import IngestError
from ..progress import Progress, null_progress
from . import _kernels
from ._library import INT32_MAX, Library, csr_from_coo, genes_are_rows
from ._streams import Budget, GuardedStream, is_gzip
from ._tables import CELL_FILES, GENE_FILES, find_side_file, read_cells, read_genes

log = logging.getLogger(__name__)

_MIN_LINE_BYTES = {"coordinate": 4, "array": 2}  # "1 1\n" / "1\n": the shortest entries
#: Rows or columns a matrix may declare beyond its entries without a genes/cells file
#: naming them (empty genes or cells); more is refused before anything is allocated.
SPARE_DIMENSION = 100_000
#: Memory held per stored entry while reading (row, column, value: 4 bytes each) ...
_BYTES_PER_ENTRY = 12
#: ... and per row or column (index pointers, generated names, the cell metadata table).
_BYTES_PER_DIMENSION = 256


def mtx_prefix(path: Path) -> str:
    """Return the name part shared with side files: ``P9A.mtx.gz`` → ``P9A``, ``matrix.mtx`` → ``''``."""
    stem = path.name
    for suffix in (".gz", ".mtx"):
        stem = stem.removesuffix(suffix)
    stem = stem.removesuffix("matrix").rstrip("._-")
    return stem


def _open_cursor(path: Path, *, budget: Budget, parallelism: int):  # noqa: ANN202
    """Open an fmm read cursor on ``path``; gzip goes through the guarded stream."""
    if is_gzip(path):
        raw = open(path, "rb")  # noqa: SIM115 - closed with the cursor's stream
        stream = io.BufferedReader(
            GuardedStream(raw, name=path.name, budget=budget, gzip=True), buffer_size=1 << 20
        )
        return _fmm_core.open_read_stream(stream, parallelism), stream
    return _fmm_core.open_read_file(str(path), parallelism), None


def _max_entries(path: Path, *, budget: Budget, gz: bool, layout: str) -> int:
    """Upper bound on the entries a file of this size can hold (a lying header is caught)."""
    size = path.stat().st_size
    if gz:
        limits = budget.limits
        text = max(size * limits.max_compression_ratio, limits.ratio_grace_bytes)
        text = min(text, limits.max_uncompressed_bytes - budget.used)
    else:
        text = size
    return int(text // _MIN_LINE_BYTES.get(layout, 2)) + 1


def _check_header(header, path: Path, *, budget: Budget, gz: bool, name: str) -> None:  # noqa: ANN001
    """Refuse a header this reader cannot import exactly, before anything is allocated.

    Complex values and symmetric/skew-symmetric/hermitian storage (``array`` or
    ``coordinate``: only half the matrix is written, which fast_matrix_market
    leaves unfilled) are refused; dimensions must fit 32-bit indices and the
    declared entries must fit the file's real size and the configured limits.
    """
    rows, cols, nnz = int(header.nrows), int(header.ncols), int(header.nnz)
    if header.format not in ("coordinate", "array"):
        raise IngestError(f"unknown Matrix Market layout {header.format!r}", field=name)
    if header.field == "complex":
        raise IngestError(
            "complex values are not counts (the imaginary part would be lost)", field=name
        )
    if header.symmetry != "general":
        raise IngestError(
            f"a '{header.symmetry}' matrix cannot be a count matrix; write it as 'general'",
            field=name,
        )
    if rows <= 0 or cols <= 0 or nnz <= 0:
        raise IngestError(
            f"the matrix is empty ({rows:,} × {cols:,}, {nnz:,} entries)", field=name
        )
    if rows > INT32_MAX or cols > INT32_MAX:
        raise IngestError(
            f"the header declares {rows:,} × {cols:,}; at most {INT32_MAX:,} rows and "
            "columns are supported",
            field=name,
        )
    if header.format == "coordinate" and nnz > rows * cols:
        raise IngestError(
            f"the header claims {nnz:,} entries, more than {rows:,} × {cols:,} cells hold",
            field=name,
        )
    if nnz > _max_entries(path, budget=budget, gz=gz, layout=header.format):
        raise IngestError(
            f"the header claims {nnz:,} entries, more than a file of this size can hold",
            field=name,
        )
    if nnz > budget.limits.max_nonzeros:
        raise IngestError(
            f"{nnz:,} entries exceed the limit of {budget.limits.max_nonzeros:,}", field=name
        )


def _check_dimensions(
    dims: tuple[int, int], nnz: int, *, named: tuple[bool, bool], budget: Budget, name: str
) -> None:
    """Bound the declared dimensions by the data before the arrays are allocated.

    A dimension that no genes/cells file names may exceed the entries by at
    most :data:`SPARE_DIMENSION` (a 30-byte file cannot declare a hundred
    million cells); then the memory of the whole read is checked against the
    import budget. Raises :class:`IngestError` / :class:`InputTooLarge`.
    """
    for size, is_named, what in zip(dims, named, ("rows", "columns"), strict=True):
        if not is_named and size > nnz + SPARE_DIMENSION:
            raise IngestError(
                f"the header declares {size:,} {what} but the file holds only {nnz:,} entries; "
                f"without a genes/cells file naming them at most {SPARE_DIMENSION:,} {what} "
                "may be empty",
                field=name,
            )
    need = nnz * _BYTES_PER_ENTRY + (dims[0] + dims[1]) * _BYTES_PER_DIMENSION
    budget.reserve_memory(need, name=name, what=f"reading {nnz:,} entries of {dims[0]:,} × {dims[1]:,}")


def read_mtx(
    path: Path,
    *,
    budget: Budget,
    genes: Path | None = None,
    cells: Path | None = None,
    source_format: str = "mtx",
    display_name: str | None = None,
    progress: Progress = null_progress,
) -> Library:
    """Read a Matrix Market file and its side files into a :class:`Library`.

    ``genes``/``cells`` default to files found beside ``path`` (``genes.tsv``,
    ``features.tsv.gz``, ``barcodes.tsv.gz``, ``<prefix>_genes.txt``…). Without
    a genes file, rows are taken as genes (the 10x/HCA convention) and named
    ``gene1``…. Raises :class:`IngestError` naming the file at fault.
    """
    name = display_name or path.name
    prefix = mtx_prefix(path)
    genes = genes or find_side_file(path.parent, prefix, GENE_FILES)
    cells = cells or find_side_file(path.parent, prefix, CELL_FILES)
    gz = is_gzip(path)
    parallelism = max(os.cpu_count() or 1, 1)
    try:
        cursor, stream = _open_cursor(path, budget=budget, parallelism=parallelism)
    except (ValueError, OverflowError) as exc:
        # OverflowError: a header number beyond 64 bits
        raise IngestError(f"not a Matrix Market file ({exc})", field=name) from exc
    try:
        header = cursor.header
        _check_header(header, path, budget=budget, gz=gz, name=name)
        rows, cols, nnz = int(header.nrows), int(header.ncols), int(header.nnz)
        dims = (rows, cols)
        gene_table = read_genes(genes, budget=budget, dims=dims) if genes else None
        cell_table = read_cells(cells, budget=budget, dims=dims) if cells else None
        n_barcodes = None if cell_table is None else len(cell_table.barcodes)
        if gene_table is not None:
            transpose = genes_are_rows(
                dims,
                len(gene_table.names),
                n_barcodes,
                name=genes.name if genes else name,
                cells_name=cells.name if cells else None,
            )
        elif n_barcodes is not None:
            transpose = cols == n_barcodes
        else:
            log.warning("%s: no genes file beside it; taking rows as genes", name)
            transpose = True
        gene_named, cell_named = gene_table is not None, cell_table is not None
        _check_dimensions(
            dims,
            nnz,
            named=(gene_named, cell_named) if transpose else (cell_named, gene_named),
            budget=budget,
            name=name,
        )
        progress(0.05, f"parsing {nnz:,} entries of {name}")
        r = np.empty(nnz, dtype=np.int32)
        c = np.empty(nnz, dtype=np.int32)
        d = np.empty(nnz, dtype=np.float32)
        try:
            _fmm_core.read_body_coo(cursor, r, c, d)
        except (ValueError, OverflowError) as exc:
            # OverflowError: an index or an integer value beyond its type ("Integer out of range")
            raise IngestError(f"invalid Matrix Market data: {exc}", field=name) from exc
        for what, index, bound in (("row", r, rows), ("column", c, cols)):
            bad = int(_kernels.first_outside(index, 0, bound))
            if bad >= 0:  # fast_matrix_market checks coordinates; never hand the kernels less
                raise IngestError(
                    f"entry {bad + 1:,}: {what} {int(index[bad]) + 1:,} is outside 1…{bound:,}",
                    field=name,
                )
    finally:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001 - a half-read stream may refuse to close
            log.debug("closing the Matrix Market cursor failed", exc_info=True)
        if stream is not None:
            stream.close()
    progress(0.7, f"grouping {nnz:,} entries by cell")
    X = csr_from_coo(r, c, d, shape=dims, transpose=transpose, name=name)
    del r, c, d
    n_genes = X.shape[1]
    if gene_table is None:
        width = len(str(n_genes))
        names = np.array([f"gene{i:0{width}d}" for i in range(n_genes)], dtype=object)
        ids = None
    else:
        names, ids = gene_table.names, gene_table.ids
    return Library(
        X=X,
        gene_names=names,
        gene_ids=ids,
        barcodes=None if cell_table is None else cell_table.barcodes,
        obs=None if cell_table is None else cell_table.obs,
        source_format=source_format,
        name=name,
    )
