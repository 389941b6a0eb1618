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
from ._library import Library, csr_from_coo, genes_are_rows
from ._streams import Budget, GuardedStream, is_gzip
from ._tables import CELL_FILES, GENE_FILES, find_side_file, read_cells, read_genes

log = logging.getLogger(__name__)

_MIN_LINE_BYTES = 4  # "1 1\n": the shortest possible coordinate entry


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


def _max_entries(path: Path, *, budget: Budget, gz: bool) -> int:
    """Upper bound on the entries a file of this size can hold (a lying header is caught)."""
    size = path.stat().st_size
    if gz:
        limits = budget.limits
        text = max(size * limits.max_compression_ratio, limits.ratio_grace_bytes)
        text = min(text, limits.max_uncompressed_bytes - budget.used)
    else:
        text = size
    return int(text // _MIN_LINE_BYTES) + 1


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
    except ValueError as exc:
        raise IngestError(f"not a Matrix Market file ({exc})", field=name) from exc
    try:
        header = cursor.header
        rows, cols, nnz = int(header.nrows), int(header.ncols), int(header.nnz)
        if header.field == "complex":
            raise IngestError("complex values are not counts", field=name)
        if header.format == "coordinate" and header.symmetry != "general":
            raise IngestError(
                f"a '{header.symmetry}' matrix cannot be a count matrix; write it as 'general'",
                field=name,
            )
        if rows <= 0 or cols <= 0 or nnz <= 0:
            raise IngestError(
                f"the matrix is empty ({rows:,} × {cols:,}, {nnz:,} entries)", field=name
            )
        if header.format == "coordinate" and nnz > rows * cols:
            raise IngestError(
                f"the header claims {nnz:,} entries, more than {rows:,} × {cols:,} cells hold",
                field=name,
            )
        if nnz > _max_entries(path, budget=budget, gz=gz):
            raise IngestError(
                f"the header claims {nnz:,} entries, more than a file of this size can hold",
                field=name,
            )
        if nnz > budget.limits.max_nonzeros:
            raise IngestError(
                f"{nnz:,} entries exceed the limit of {budget.limits.max_nonzeros:,}", field=name
            )
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
        progress(0.05, f"parsing {nnz:,} entries of {name}")
        r = np.empty(nnz, dtype=np.int32)
        c = np.empty(nnz, dtype=np.int32)
        d = np.empty(nnz, dtype=np.float32)
        try:
            _fmm_core.read_body_coo(cursor, r, c, d)
        except ValueError as exc:
            raise IngestError(f"invalid Matrix Market data: {exc}", field=name) from exc
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
