"""Numba kernels of the ingest path: in-place COO → CSR, value checks, dense text parsing.

They work on flat numpy arrays, allocate nothing of the matrix's size, and
release the GIL so decompression can run beside them.
"""

from __future__ import annotations

import numba
import numpy as np

# status codes of parse_dense_block
DENSE_OK = 0
DENSE_RAGGED = 1
DENSE_BAD_NUMBER = 2
DENSE_FULL = 3


@numba.njit(nogil=True, cache=True)
def first_outside(values: np.ndarray, low: int, high: int) -> int:
    """Return the position of the first value outside ``[low, high)``, or -1 if none is."""
    for i in range(values.shape[0]):
        v = values[i]
        if v < low or v >= high:
            return i
    return -1


@numba.njit(nogil=True, cache=True)
def group_by_key_inplace(
    key: np.ndarray, other: np.ndarray, data: np.ndarray, n_keys: int
) -> np.ndarray:
    """Permute ``key``, ``other`` and ``data`` in place so entries are grouped by ``key``.

    An in-place American-flag (bucket) sort, O(nnz) time and O(n_keys) extra
    memory. Returns ``indptr`` (length ``n_keys + 1``): entries of key ``k`` are
    ``[indptr[k], indptr[k+1])`` afterwards, so ``other``/``data`` become the
    CSR ``indices``/``data`` of the matrix whose rows are the keys. Raises
    ``IndexError`` (before writing anything) when a key is outside
    ``[0, n_keys)`` or the three arrays differ in length; callers check the
    keys first (:func:`first_outside`) to name the file at fault.
    """
    if other.shape[0] != key.shape[0] or data.shape[0] != key.shape[0]:
        raise IndexError("key, other and data differ in length")
    if first_outside(key, 0, n_keys) >= 0:
        raise IndexError("a key is outside [0, n_keys)")
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(key.shape[0]):
        indptr[key[i] + 1] += 1
    for k in range(n_keys):
        indptr[k + 1] += indptr[k]
    sorted_already = True
    for i in range(1, key.shape[0]):
        if key[i] < key[i - 1]:
            sorted_already = False
            break
    if sorted_already:
        return indptr
    nxt = indptr[:-1].copy()
    for b in range(n_keys):
        end = indptr[b + 1]
        while nxt[b] < end:
            i = nxt[b]
            k = key[i]
            if k == b:
                nxt[b] += 1
                continue
            j = nxt[k]
            nxt[k] += 1
            key[i], key[j] = key[j], key[i]
            other[i], other[j] = other[j], other[i]
            data[i], data[j] = data[j], data[i]
    return indptr


@numba.njit(nogil=True, cache=True)
def scan_values(data: np.ndarray) -> tuple[int, int, bool, float, int]:
    """Return (index of the first non-finite value or -1, index of the first negative or -1,
    whether all values are integers, the largest value, the number of zeros)."""
    zeros = 0
    first_nonfinite = -1
    first_negative = -1
    integral = True
    vmax = 0.0
    for i in range(data.shape[0]):
        v = data[i]
        if not np.isfinite(v):
            if first_nonfinite < 0:
                first_nonfinite = i
            continue
        if v < 0 and first_negative < 0:
            first_negative = i
        if v > vmax:
            vmax = v
        elif v == 0:
            zeros += 1
        if integral and v != np.floor(v):
            integral = False
    return first_nonfinite, first_negative, integral, vmax, zeros


@numba.njit(nogil=True, cache=True)
def float32_to_int32_inplace(data: np.ndarray, out: np.ndarray) -> None:
    """Convert integral float32 ``data`` into ``out``, an int32 view of the same memory.

    Raises ``IndexError`` when ``out`` is shorter than ``data``.
    """
    if out.shape[0] < data.shape[0]:
        raise IndexError("out is shorter than data")
    for i in range(data.shape[0]):
        out[i] = np.int32(data[i])


@numba.njit(nogil=True, cache=True)
def _parse_number(buf: np.ndarray, start: int, end: int) -> tuple[float, bool]:
    """Parse ``buf[start:end]`` as a decimal number; return (value, ok)."""
    i = start
    if i >= end:
        return 0.0, False
    neg = False
    c = buf[i]
    if c == 45 or c == 43:  # '-' '+'
        neg = c == 45
        i += 1
    mant = 0.0
    ndig = 0
    while i < end and 48 <= buf[i] <= 57:
        mant = mant * 10.0 + (buf[i] - 48)
        i += 1
        ndig += 1
    exp10 = 0
    if i < end and buf[i] == 46:  # '.'
        i += 1
        while i < end and 48 <= buf[i] <= 57:
            mant = mant * 10.0 + (buf[i] - 48)
            exp10 -= 1
            i += 1
            ndig += 1
    if ndig == 0:
        # nan / inf spelled out: report as non-finite so validation names them
        first = start + (1 if buf[start] == 45 or buf[start] == 43 else 0)
        if end - first < 3:  # also keeps a lone sign at the end of the buffer in bounds
            return 0.0, False
        c0 = buf[first] | 32
        if c0 == 110 or c0 == 105:  # 'n' 'i'
            return (np.nan if c0 == 110 else (-np.inf if neg else np.inf)), True
        return 0.0, False
    if i < end and (buf[i] == 101 or buf[i] == 69):  # 'e' 'E'
        i += 1
        eneg = False
        if i < end and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        e = 0
        nd = 0
        while i < end and 48 <= buf[i] <= 57:
            e = e * 10 + (buf[i] - 48)
            i += 1
            nd += 1
        if nd == 0:
            return 0.0, False
        exp10 += -e if eneg else e
    if i != end:
        return 0.0, False
    value = mant * (10.0**exp10) if exp10 != 0 else mant
    return (-value if neg else value), True


@numba.njit(nogil=True, cache=True)
def parse_dense_block(
    buf: np.ndarray,
    delim: int,
    n_values: int,
    indptr: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    name_start: np.ndarray,
    name_end: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Parse complete lines of a dense table into CSR pieces.

    Each line is ``name<delim>v1<delim>...v_n`` (``\\r\\n`` or ``\\n``); blank
    lines are skipped. Nonzeros go to ``cols``/``vals``; ``indptr[r+1]`` is the
    running count after line ``r``; the name's byte span goes to
    ``name_start``/``name_end``. Returns (status, lines parsed, nonzeros,
    offending line index, offending field count or column). Stops with
    ``DENSE_FULL`` (lines parsed so far are valid) when the outputs are full.
    Every write is checked against the outputs' lengths (``indptr`` needs one
    more entry than ``name_start``; ``vals`` as many as ``cols``).
    """
    if (
        indptr.shape[0] < name_start.shape[0] + 1
        or name_end.shape[0] < name_start.shape[0]
        or vals.shape[0] < cols.shape[0]
    ):
        raise IndexError("parse_dense_block: output arrays of inconsistent lengths")
    n = buf.shape[0]
    pos = 0
    line = 0
    nnz = 0
    cap = cols.shape[0]
    max_lines = name_start.shape[0]
    while pos < n:
        # find line end
        eol = pos
        while eol < n and buf[eol] != 10:
            eol += 1
        stop = eol
        if stop > pos and buf[stop - 1] == 13:
            stop -= 1
        if stop == pos:
            pos = eol + 1
            continue
        if line >= max_lines or cap - nnz < n_values:
            return DENSE_FULL, line, nnz, line, 0
        # name field
        j = pos
        while j < stop and buf[j] != delim:
            j += 1
        name_start[line] = pos
        name_end[line] = j
        start_nnz = nnz
        field = 0
        while j < stop:
            j += 1  # skip delimiter
            s = j
            while j < stop and buf[j] != delim:
                j += 1
            if field >= n_values:
                field += 1
                continue
            if j - s == 1 and buf[s] == 48:  # "0"
                field += 1
                continue
            v, ok = _parse_number(buf, s, j)
            if not ok:
                return DENSE_BAD_NUMBER, line, start_nnz, line, field
            if v != 0.0:
                cols[nnz] = field
                vals[nnz] = v
                nnz += 1
            field += 1
        if field != n_values:
            return DENSE_RAGGED, line, start_nnz, line, field
        indptr[line + 1] = nnz
        line += 1
        pos = eol + 1
    return DENSE_OK, line, nnz, line, 0
