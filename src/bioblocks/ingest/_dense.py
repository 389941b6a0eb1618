"""Dense text tables (``.tsv``/``.csv``, optionally gzipped): one row per cell.

The first line holds the gene names (with or without a leading name for the
barcode column); each following line holds a barcode and one value per gene.
Blocks of a few megabytes are decompressed in a background thread while a
numba kernel parses the previous block straight into sparse pieces, so memory
stays proportional to the nonzeros, not to the table.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import IngestError
from ..progress import Progress, null_progress
from . import _kernels
from ._library import INT32_MAX, Library, finish_values, text_lines
from ._streams import Budget, open_input

log = logging.getLogger(__name__)

BLOCK_BYTES = 8 * 1024**2
#: The header (gene names) and a row may be at most this long, and name at most
#: MAX_COLUMNS genes: checked on the bytes, before they are decoded or split.
MAX_LINE_BYTES = 64 * 1024**2
MAX_COLUMNS = 1_000_000
#: Memory held per stored value while parsing (column, value, their copies) and per cell.
_BYTES_PER_VALUE = 24
_BYTES_PER_ROW = 128


def _read_line(stream, *, name: str, what: str) -> bytes:  # noqa: ANN001 - a binary reader
    """Return one line of at most :data:`MAX_LINE_BYTES`; raise :class:`IngestError` beyond."""
    line = stream.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise IngestError(
            f"the {what} is longer than {MAX_LINE_BYTES // 1024**2} MiB; is this a table with "
            "one row per cell?",
            field=name,
        )
    return line


def _unquote(field: str) -> str:
    field = field.strip()
    if len(field) >= 2 and field[0] == field[-1] and field[0] in "\"'":
        return field[1:-1]
    return field


def read_dense(
    path: Path,
    *,
    budget: Budget,
    source_format: str = "tsv",
    display_name: str | None = None,
    progress: Progress = null_progress,
) -> Library:
    """Read a dense cells × genes text table into a :class:`Library`.

    The delimiter is a tab if the header holds one, else a comma. Raises
    :class:`IngestError` for ragged rows, non-numeric values, non-UTF-8 text,
    or a missing header.
    """
    name = display_name or path.name
    total = max(path.stat().st_size, 1)
    with open_input(path, budget=budget, name=name) as stream:
        head = _read_line(stream, name=name, what="header line")
        if not head.strip():
            raise IngestError("the table is empty: expected a header row of gene names", field=name)
        n_columns = max(head.count(b"\t"), head.count(b",")) + 1
        if n_columns > MAX_COLUMNS + 1:
            raise IngestError(
                f"the header names {n_columns:,} columns; at most {MAX_COLUMNS:,} genes are "
                "supported (is the table transposed?)",
                field=name,
            )
        header = text_lines(head, name=name)[0]
        delim = "\t" if "\t" in header else ","
        fields = [_unquote(f) for f in header.split(delim)]
        first_data = _read_line(stream, name=name, what="first row")
        if not first_data.strip():
            raise IngestError("the table has a header but no rows of values", field=name)
        n_first = first_data.rstrip(b"\r\n").count(delim.encode()) + 1
        if n_first == len(fields):
            genes = fields[1:]
        elif n_first == len(fields) + 1:
            genes = fields
        else:
            raise IngestError(
                f"ragged rows: the header has {len(fields):,} fields but line 2 has {n_first:,}",
                field=name,
            )
        n_values = len(genes)
        if n_values == 0:
            raise IngestError("the table has no gene columns", field=name)
        return _parse_body(
            stream,
            first=first_data,
            genes=genes,
            delim=ord(delim),
            name=name,
            total=total,
            budget=budget,
            source_format=source_format,
            progress=progress,
        )


def _parse_body(
    stream,  # noqa: ANN001 - a binary reader
    *,
    first: bytes,
    genes: list[str],
    delim: int,
    name: str,
    total: int,
    budget: Budget,
    source_format: str,
    progress: Progress,
) -> Library:
    n_values = len(genes)
    max_nonzeros = budget.limits.max_nonzeros
    cap = BLOCK_BYTES // 2 + n_values + 1
    cols_buf = np.empty(cap, dtype=np.int32)
    vals_buf = np.empty(cap, dtype=np.float64)
    cols_parts: list[np.ndarray] = []
    vals_parts: list[np.ndarray] = []
    indptr_parts: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    barcodes: list[str] = []
    nnz_total = 0
    lines_done = 0
    leftover = first

    def read_block() -> bytes:
        return stream.read(BLOCK_BYTES)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(read_block)
        eof = False
        while not eof:
            chunk = pending.result()
            eof = not chunk
            if not eof:
                pending = pool.submit(read_block)
            data = leftover + chunk
            if eof:
                block, leftover = data, b""
            else:
                cut = data.rfind(b"\n")
                if cut < 0:
                    leftover = data
                    continue
                block, leftover = data[: cut + 1], data[cut + 1 :]
            if not block:
                continue
            buf = np.frombuffer(block, dtype=np.uint8)
            max_lines = block.count(b"\n") + 1
            indptr = np.zeros(max_lines + 1, dtype=np.int64)
            starts = np.empty(max_lines, dtype=np.int64)
            ends = np.empty(max_lines, dtype=np.int64)
            local_cap = max(len(block) // 2 + n_values + 1, n_values)
            if local_cap > cols_buf.shape[0]:
                cols_buf = np.empty(local_cap, dtype=np.int32)
                vals_buf = np.empty(local_cap, dtype=np.float64)
            status, n_lines, nnz, bad_line, bad_field = _kernels.parse_dense_block(
                buf, delim, n_values, indptr, cols_buf, vals_buf, starts, ends
            )
            line_no = lines_done + bad_line + 2
            if status == _kernels.DENSE_RAGGED:
                raise IngestError(
                    f"ragged rows: line {line_no:,} has {bad_field + 1:,} fields, "
                    f"expected {n_values + 1:,}",
                    field=name,
                )
            if status == _kernels.DENSE_BAD_NUMBER:
                raise IngestError(
                    f"line {line_no:,}, column {bad_field + 2:,}: not a number "
                    f"(gene {genes[bad_field]!r})",
                    field=name,
                )
            if status != _kernels.DENSE_OK:
                raise IngestError("internal parse buffer overflow", field=name)
            cols_parts.append(cols_buf[:nnz].copy())
            vals_parts.append(vals_buf[:nnz].astype(np.float32))
            indptr_parts.append(indptr[1 : n_lines + 1] + nnz_total)
            barcodes.extend(
                _unquote(block[s:e].decode("utf-8", errors="replace"))
                for s, e in zip(starts[:n_lines].tolist(), ends[:n_lines].tolist(), strict=True)
            )
            nnz_total += nnz
            lines_done += n_lines
            if nnz_total > max_nonzeros:
                raise IngestError(f"more than {max_nonzeros:,} nonzero values", field=name)
            budget.reserve_memory(
                nnz_total * _BYTES_PER_VALUE + lines_done * _BYTES_PER_ROW,
                name=name,
                what=f"the {nnz_total:,} values of {lines_done:,} rows read so far",
            )
            progress(min(stream.raw.consumed / total, 1.0), f"parsed {lines_done:,} cells")
    if lines_done == 0:
        raise IngestError("the table has a header but no rows of values", field=name)
    vals = np.concatenate(vals_parts) if vals_parts else np.zeros(0, np.float32)
    del vals_parts
    cols = np.concatenate(cols_parts) if cols_parts else np.zeros(0, np.int32)
    del cols_parts
    indptr = np.concatenate(indptr_parts)
    values, _ = finish_values(vals, name=name)
    index_dtype = np.int32 if nnz_total <= INT32_MAX else np.int64
    X = sp.csr_matrix(
        (values, cols.astype(index_dtype, copy=False), indptr.astype(index_dtype)),
        shape=(lines_done, n_values),
        copy=False,
    )
    return Library(
        X=X,
        gene_names=np.array(genes, dtype=object),
        gene_ids=None,
        barcodes=np.array(barcodes, dtype=object),
        obs=None,
        source_format=source_format,
        name=name,
    )
