"""One library as read from disk, and the checks every reader's output goes through."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import IngestError
from . import _kernels
from ._checks import check_csr, check_values

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1


@dataclass(kw_only=True)
class Library:
    """A count matrix read from one input, before the per-dataset checks.

    ``X`` is cells × genes CSR; ``gene_names``/``gene_ids``/``barcodes`` are
    object arrays aligned with its columns/rows (``None`` when the input has
    none); ``obs`` holds per-cell metadata columns in row order. ``dropped``
    lists the per-cell columns of the input the reader could not keep, as
    ``{"column", "file", "reason"}`` (they go to the import summary).

    An ``.h5ad`` reader also fills: ``counts_source`` (``layers/counts``,
    ``raw/X`` or ``X``: where the counts came from), ``view_only`` (the file
    holds no counts: ``X`` is its values as they are, any finite numbers),
    ``obsm`` (its 2-D ``obsm["X_*"]`` embeddings, cells × dimensions),
    ``colors`` (obs column → one ``#rrggbb`` per category, from
    ``uns["<column>_colors"]``) and ``not_imported`` (the other parts of the
    file, as ``{"element", "file", "reason"}``).
    """

    X: sp.csr_matrix
    gene_names: np.ndarray
    gene_ids: np.ndarray | None
    barcodes: np.ndarray | None
    obs: pd.DataFrame | None
    source_format: str
    name: str
    dropped: list[dict[str, str]] = field(default_factory=list)
    counts_source: str | None = None
    view_only: bool = False
    obsm: dict[str, np.ndarray] = field(default_factory=dict)
    colors: dict[str, list[str]] = field(default_factory=dict)
    not_imported: list[dict[str, str]] = field(default_factory=list)


def genes_are_rows(
    shape: tuple[int, int],
    n_genes: int,
    n_barcodes: int | None,
    *,
    name: str,
    cells_name: str | None = None,
) -> bool:
    """Decide the orientation of a matrix from the length of its genes (and cells) file.

    Returns True when rows are genes (the matrix must be transposed), per the
    SPRING rule: rows equal to the gene count mean genes × cells. Raises
    :class:`IngestError` when the genes file matches neither dimension.
    """
    rows, cols = shape
    if rows == n_genes and (n_barcodes is None or cols == n_barcodes):
        return True
    if cols == n_genes and (n_barcodes is None or rows == n_barcodes):
        return False
    cells = "" if n_barcodes is None else f" and {n_barcodes:,} cell names"
    if n_genes in shape and cells_name:
        name = cells_name
    raise IngestError(
        f"{n_genes:,} gene names{cells} match neither orientation of the "
        f"{rows:,} × {cols:,} matrix; check that the genes/cells files belong to this matrix",
        field=name,
    )


def make_unique(names: np.ndarray) -> np.ndarray:
    """Return gene names made unique: every occurrence of a repeated name gets ``__1``, ``__2``…

    (The first occurrence becomes ``NAME__1``, as in SPRING.) A generated name
    that collides with an existing one gets further ``__k`` suffixes.
    """
    counts = Counter(names.tolist())
    if all(c == 1 for c in counts.values()):
        return names
    seen: Counter[str] = Counter()
    out = names.copy()
    taken = set(counts)
    for i, name in enumerate(names.tolist()):
        if counts[name] > 1:
            seen[name] += 1
            candidate = f"{name}__{seen[name]}"
            while candidate in taken:
                seen[name] += 1
                candidate = f"{name}__{seen[name]}"
            taken.add(candidate)
            out[i] = candidate
    return out


def finish_values(data: np.ndarray, *, name: str) -> tuple[np.ndarray, int]:
    """Check the stored values and return them as int32 (counts) or float32, with the zero count.

    Raises :class:`IngestError` for NaN/infinite or negative values, and for
    values that are not real numbers (complex, strings, compound). Integral
    float32 input is converted in place (no copy).
    """
    check_values(data, name=name)
    if data.dtype.kind in "iu":
        if data.size and data.min() < 0:
            raise IngestError(
                "the matrix holds negative values; import raw counts (non-negative)", field=name
            )
        imax = int(data.max()) if data.size else 0
        zeros = int(data.size - np.count_nonzero(data))
        if imax > INT32_MAX:
            return data.astype(np.float32), zeros
        return data.astype(np.int32, copy=False), zeros
    data, (_, first_negative, integral, vmax, zeros) = _scan(
        data, name=name, non_finite="NaN and infinity are not counts")
    if first_negative >= 0:
        raise IngestError(
            f"the matrix holds negative values (e.g. {data[first_negative]}); "
            "import raw counts (non-negative)",
            field=name,
        )
    if integral and vmax <= INT32_MAX:
        if data.dtype == np.float32:
            out = data.view(np.int32)
            _kernels.float32_to_int32_inplace(data, out)
            return out, zeros
        return data.astype(np.int32), zeros
    return data.astype(np.float32, copy=False), zeros


def _scan(
    data: np.ndarray, *, name: str | None = None, non_finite: str = ""
) -> tuple[np.ndarray, tuple[int, int, bool, float, int]]:
    """Return ``data`` as float32 or float64 (other dtypes as float64) and its
    :func:`_kernels.scan_values`: first non-finite and first negative index (-1: none),
    whether all are integral, the largest value, the number of zeros. With ``name``, a
    non-finite value raises :class:`IngestError` saying ``non_finite`` (what to do)."""
    if data.dtype != np.float32 and data.dtype != np.float64:
        data = data.astype(np.float64)
    scan = _kernels.scan_values(data)
    if name is not None and scan[0] >= 0:
        raise IngestError(
            f"the matrix holds a non-finite value ({data[scan[0]]}); {non_finite}", field=name
        )
    return data, scan


def holds_counts(data: np.ndarray) -> bool:
    """Return whether matrix values are counts: finite, non-negative integers (of any dtype)."""
    if data.dtype.kind in "biu":
        return not data.size or data.dtype.kind == "b" or int(data.min()) >= 0
    _, (first_nonfinite, first_negative, integral, _vmax, _zeros) = _scan(data)
    return first_nonfinite < 0 and first_negative < 0 and integral


def finish_view_values(data: np.ndarray, *, name: str) -> tuple[np.ndarray, int]:
    """Check the values of a view-only matrix (not counts) and return them as float32,
    with the zero count.

    Any finite real number is accepted (scaled or log-normalised values); raises
    :class:`IngestError` for NaN/infinite values and for values that are not real numbers.
    """
    check_values(data, name=name)
    data, (_, _negative, _integral, _vmax, zeros) = _scan(
        data, name=name, non_finite="replace NaN and infinity by numbers")
    return data.astype(np.float32, copy=False), zeros


def csr_from_coo(
    rows: np.ndarray,
    cols: np.ndarray,
    data: np.ndarray,
    *,
    shape: tuple[int, int],
    transpose: bool,
    name: str,
) -> sp.csr_matrix:
    """Build the cells × genes CSR matrix from COO triplets, reusing their memory.

    With ``transpose`` the COO rows are genes and its columns cells. The arrays
    are permuted in place; the returned matrix owns ``data`` and the gene-index
    array. Duplicated entries are summed, explicit zeros dropped, NaN/negative
    values rejected.
    """
    key, other = (cols, rows) if transpose else (rows, cols)
    n_cells, n_genes = (shape[1], shape[0]) if transpose else shape
    values, zeros = finish_values(data, name=name)
    indptr = _kernels.group_by_key_inplace(key, other, values, n_cells)
    del key
    index_dtype = np.int32 if max(n_genes, len(values)) <= INT32_MAX else np.int64
    X = sp.csr_matrix(
        (values, other.astype(index_dtype, copy=False), indptr.astype(index_dtype, copy=False)),
        shape=(n_cells, n_genes),
        copy=False,
    )
    if zeros:
        X.eliminate_zeros()
    if not X.has_canonical_format:
        X.sum_duplicates()
    return X


def drop_empty_genes(lib: Library) -> Library:
    """Drop columns whose gene name is the empty string (SPRING §1); return the library."""
    keep = np.fromiter((bool(n) for n in lib.gene_names.tolist()), bool, len(lib.gene_names))
    if keep.all():
        return lib
    log.info("%s: dropping %d genes with an empty name", lib.name, int((~keep).sum()))
    lib.X = lib.X[:, np.flatnonzero(keep)].tocsr()
    lib.gene_names = lib.gene_names[keep]
    if lib.gene_ids is not None:
        lib.gene_ids = lib.gene_ids[keep]
    return lib


def check_library(lib: Library) -> Library:
    """Apply the per-library rules: empty names dropped, unique names, unique barcodes, not empty.

    The matrix's structure is checked first (:func:`check_csr`), so nothing
    below indexes out of bounds. Returns the library (modified in place).
    Raises :class:`IngestError`.
    """
    check_csr(lib.X, name=lib.name)
    n_cells, n_genes = lib.X.shape
    if len(lib.gene_names) != n_genes:
        raise IngestError(
            f"{len(lib.gene_names):,} gene names for {n_genes:,} genes", field=lib.name
        )
    lib = drop_empty_genes(lib)
    if lib.X.shape[0] == 0 or lib.X.shape[1] == 0 or lib.X.nnz == 0:
        raise IngestError(
            f"the matrix is empty ({lib.X.shape[0]:,} cells × {lib.X.shape[1]:,} genes, "
            f"{lib.X.nnz:,} nonzero values)",
            field=lib.name,
        )
    lib.gene_names = make_unique(lib.gene_names)
    if lib.barcodes is None:
        width = len(str(n_cells))
        lib.barcodes = np.array([f"cell{i:0{width}d}" for i in range(n_cells)], dtype=object)
    elif len(lib.barcodes) != n_cells:
        raise IngestError(f"{len(lib.barcodes):,} cell names for {n_cells:,} cells", field=lib.name)
    else:
        index = pd.Index(lib.barcodes)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            n_dup = int(index.duplicated().sum())
            raise IngestError(
                f"duplicate cell barcodes ({n_dup:,}, e.g. {dup!r}); each cell needs a unique name",
                field=lib.name,
            )
    if lib.obs is not None and len(lib.obs) != n_cells:
        raise IngestError(f"{len(lib.obs):,} metadata rows for {n_cells:,} cells", field=lib.name)
    _refuse_nul(lib)
    return lib


def _has_nul(values: Iterable[object]) -> bool:
    return any("\x00" in v for v in values if isinstance(v, str))


def _refuse_nul(lib: Library) -> None:
    """Refuse names or per-cell text holding a NUL character (HDF5 cannot store it)."""
    texts: list[tuple[str, Iterable[object]]] = [("a gene name", lib.gene_names.tolist())]
    if lib.barcodes is not None:
        texts.append(("a cell name", lib.barcodes.tolist()))
    if lib.gene_ids is not None:
        texts.append(("a gene id", lib.gene_ids.tolist()))
    obs = pd.DataFrame() if lib.obs is None else lib.obs
    for column in obs.columns:
        values = obs[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            texts.append((f"a value of column {column!r}", values.cat.categories.tolist()))
        elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            texts.append((f"a value of column {column!r}", values.tolist()))
        if "\x00" in str(column):
            raise IngestError("a column name holds a NUL character", field=lib.name)
    for what, values in texts:
        if _has_nul(values):
            raise IngestError(f"{what} holds a NUL character; names must be text",
                              field=lib.name)


def text_lines(raw: bytes, *, name: str) -> list[str]:
    """Decode a small text file as UTF-8 and return its lines (no trailing empty line)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"not valid UTF-8 text (byte {exc.start}); save it as UTF-8", field=name
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" not in text:
        return lines
    return [line[:-1] if line.endswith("\r") else line for line in lines]
