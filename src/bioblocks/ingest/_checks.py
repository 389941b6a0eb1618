"""Structure checks of a sparse matrix's parts, shared by every reader.

Nothing reaches scipy, the numba kernels or the canonical file before these
checks pass: the index pointer has ``n + 1`` integer entries, starts at 0,
never decreases and ends at the number of stored values; the indices are
integers within ``[0, n)``; the values are one-dimensional real numbers.
Types are exact: complex values, fractional or string indices are refused,
never converted. Every failure is an :class:`IngestError` naming the file and
the object (``file.h5ad:X/indices``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import IngestError

_INT64_MAX = np.iinfo(np.int64).max


def _where(name: str, obj: str | None) -> str:
    return f"{name}:{obj}" if obj else name


def check_values(data: np.ndarray, *, name: str, obj: str | None = None) -> None:
    """Check that matrix values are a 1-D array of real numbers (bool, integer or float).

    Raises :class:`IngestError` for complex, string, compound or object values
    and for a scalar or multi-dimensional array.
    """
    if data.ndim != 1:
        raise IngestError(
            f"the matrix values must be a one-dimensional array, not shape {data.shape}",
            field=_where(name, obj),
        )
    check_values_dtype(data.dtype, name=name, obj=obj)


def check_values_dtype(dtype: np.dtype, *, name: str, obj: str | None = None) -> None:
    """Check that a dtype holds real numbers (see :func:`check_values`); raise otherwise."""
    field = _where(name, obj)
    kind = dtype.kind
    if kind == "c":
        raise IngestError(
            "the matrix holds complex values; counts are real numbers "
            "(the imaginary part would be lost)",
            field=field,
        )
    if kind not in "biuf":
        raise IngestError(f"the matrix values must be numbers, not {_describe(dtype)}", field=field)


def check_index(index: np.ndarray, *, name: str, obj: str | None = None) -> None:
    """Check that an index array is a 1-D array of integers (never fractional or strings).

    Raises :class:`IngestError` otherwise.
    """
    field = _where(name, obj)
    if index.ndim != 1:
        raise IngestError(
            f"an index array must be one-dimensional, not shape {index.shape}", field=field
        )
    check_index_dtype(index.dtype, name=name, obj=obj)
    if index.dtype.kind == "u" and index.dtype.itemsize == 8 and index.size:
        if int(index.max()) > _INT64_MAX:
            raise IngestError("an index is beyond the 64-bit range", field=field)


def check_index_dtype(dtype: np.dtype, *, name: str, obj: str | None = None) -> None:
    """Check that a dtype holds integers (indices are never fractional); raise otherwise."""
    if dtype.kind not in "iu":
        raise IngestError(
            f"an index array must hold integers, not {_describe(dtype)}", field=_where(name, obj)
        )


def _describe(dtype: np.dtype) -> str:
    if dtype.names:
        return "compound values"
    return {
        "f": "fractional numbers",
        "c": "complex numbers",
        "S": "strings",
        "U": "strings",
        "O": "strings or objects",
        "b": "booleans",
        "V": "opaque values",
    }.get(dtype.kind, f"{dtype} values")


def check_compressed(
    data: np.ndarray,
    indices: np.ndarray,
    indptr: np.ndarray,
    *,
    n_major: int,
    n_minor: int,
    name: str,
    obj: str | None = None,
) -> None:
    """Check the three parts of a CSR (or CSC) matrix before anything uses them.

    ``n_major`` is the number of rows (CSR) or columns (CSC) and ``n_minor``
    the other dimension, which bounds the indices. ``obj`` names the group
    (``X``, ``matrix``) in messages. Raises :class:`IngestError` naming the
    part at fault; returns nothing.
    """
    prefix = f"{obj}/" if obj else ""
    check_values(data, name=name, obj=f"{prefix}data")
    check_index(indices, name=name, obj=f"{prefix}indices")
    check_index(indptr, name=name, obj=f"{prefix}indptr")
    if n_major < 0 or n_minor < 0:
        raise IngestError(f"negative matrix shape ({n_major}, {n_minor})", field=_where(name, obj))
    where_ptr = _where(name, f"{prefix}indptr")
    if indptr.shape[0] != n_major + 1:
        raise IngestError(
            f"the index pointer has {indptr.shape[0]:,} entries; {n_major + 1:,} expected "
            "(one more than the rows/columns of the matrix)",
            field=where_ptr,
        )
    if indices.shape[0] != data.shape[0]:
        raise IngestError(
            f"{indices.shape[0]:,} indices for {data.shape[0]:,} values",
            field=_where(name, f"{prefix}indices"),
        )
    if int(indptr[0]) != 0:
        raise IngestError(f"the index pointer starts at {int(indptr[0])}, not 0", field=where_ptr)
    if int(indptr[-1]) != data.shape[0]:
        raise IngestError(
            f"the index pointer ends at {int(indptr[-1]):,}; the matrix stores "
            f"{data.shape[0]:,} values",
            field=where_ptr,
        )
    if n_major and bool((indptr[1:] < indptr[:-1]).any()):
        raise IngestError("the index pointer decreases (not monotonic)", field=where_ptr)
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= n_minor:
            bad = low if low < 0 else high
            raise IngestError(
                f"index {bad:,} is out of range [0, {n_minor:,})",
                field=_where(name, f"{prefix}indices"),
            )


def check_csr(X: sp.csr_matrix, *, name: str, obj: str | None = None) -> None:
    """Check a scipy CSR matrix's parts against its shape (see :func:`check_compressed`)."""
    n_rows, n_cols = X.shape
    check_compressed(X.data, X.indices, X.indptr, n_major=n_rows, n_minor=n_cols, name=name, obj=obj)


def check_csc(X: sp.csc_matrix, *, name: str, obj: str | None = None) -> None:
    """Check a scipy CSC matrix's parts against its shape (see :func:`check_compressed`)."""
    n_rows, n_cols = X.shape
    check_compressed(X.data, X.indices, X.indptr, n_major=n_cols, n_minor=n_rows, name=name, obj=obj)
