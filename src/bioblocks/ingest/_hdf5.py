"""HDF5 inputs: 10x Genomics ``.h5`` (v2 and v3), AnnData ``.h5ad`` and ``.loom``.

Every HDF5 input is opened **sealed** (:func:`open_sealed`): before any value
is read, every link and object of the file is walked and the file is refused
when anything in it could make libhdf5 read another file — an external link,
a user-defined link, a soft link that does not resolve inside the file, a
dataset with external storage, a virtual dataset.

Every dataset a reader touches then goes through :class:`_Reader`, which checks
its declared shape and type against what the reader expects, against the
bytes the file really stores for it (a chunked dataset that was never written
declares a huge shape in a few bytes) and against the import's memory budget —
all before the dataset is read. Only the parts the importer needs are opened:
an ``.h5ad``'s counts (``layers/counts``, ``raw/X`` or ``X``), ``obs``, ``var``'s
index, id and name columns, the embeddings of ``obsm`` and the colours of ``uns``
(:mod:`._anndata`); everything else is listed, never read. The sparse parts are
checked by :mod:`._checks` before scipy sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import IngestError
from ..progress import Progress, null_progress
from . import _anndata
from ._checks import check_compressed, check_index_dtype, check_values_dtype
from ._library import INT32_MAX, Library, finish_values, finish_view_values, holds_counts
from ._streams import Budget, ImportLimits

log = logging.getLogger(__name__)

_BLOCK_BYTES = 64 * 1024**2
#: Links a sealed walk visits at most (a file with more is refused, bounding the walk's CPU).
MAX_LINKS = 1_000_000
#: Bytes counted per string element read (the Python ``str`` object, not the HDF5 bytes).
_STR_OVERHEAD = 64


def _refuse(message: str, name: str, obj: str) -> IngestError:
    return IngestError(message, field=f"{name}:{obj.lstrip('/')}" if obj.strip("/") else name)


def _seal(f: h5py.File, *, name: str) -> None:
    """Walk every link of ``f`` (without following any) and refuse what leaves the file.

    Hard links are walked once per object (cycles are harmless), and so are the
    objects that attributes refer to (which may have no link at all); soft links
    are resolved after the walk, when no external link can be on their way.
    Raises :class:`IngestError` naming the object; returns nothing.
    """
    seen: set[h5py.h5o.ObjectID] = set()
    stack: list[tuple[h5py.h5g.GroupID, str]] = []
    soft: list[tuple[h5py.h5g.GroupID, bytes, str]] = []

    def visit(first: h5py.h5o.ObjectID, path: str) -> None:
        pending = [(first, path)]
        while pending:  # the object, then the objects its attributes refer to
            oid, where = pending.pop()
            if oid in seen:
                continue
            seen.add(oid)
            if isinstance(oid, h5py.h5g.GroupID):
                stack.append((oid, where))
            elif isinstance(oid, h5py.h5d.DatasetID):
                _seal_dataset(oid, name=name, obj=where)
            pending.extend((ref, where) for ref in _attribute_refs(f, oid))

    visit(h5py.h5o.open(f.id, b"/"), "")
    count = 0
    while stack:
        gid, path = stack.pop()
        links: list[tuple[bytes, int]] = []
        # the info object is reused between calls: keep its type, not the object
        gid.links.iterate(lambda n, i, out=links: out.append((n, i.type)), info=True)
        for raw, kind in links:
            count += 1
            if count > MAX_LINKS:
                raise _refuse(f"more than {MAX_LINKS:,} objects in the file", name, "")
            child = f"{path}/{raw.decode('utf-8', errors='replace')}"
            if kind == h5py.h5l.TYPE_EXTERNAL:
                target_file, target = gid.links.get_val(raw)
                raise _refuse(
                    "an HDF5 external link to another file "
                    f"({target_file.decode(errors='replace')}:{target.decode(errors='replace')}); "
                    "inputs must be self-contained (copy the data into the file)",
                    name,
                    child,
                )
            if kind == h5py.h5l.TYPE_SOFT:
                soft.append((gid, raw, child))
                continue
            if kind != h5py.h5l.TYPE_HARD:
                raise _refuse(f"a user-defined HDF5 link (type {kind}); not supported", name, child)
            visit(h5py.h5o.open(gid, raw), child)
    for gid, raw, child in soft:
        target = gid.links.get_val(raw).decode("utf-8", errors="replace")
        try:
            h5py.h5o.open(gid, raw)
        except (KeyError, OSError, RuntimeError, ValueError):
            raise _refuse(
                f"a soft link to {target!r}, which is not an object of this file", name, child
            ) from None


def _attribute_refs(f: h5py.File, oid: h5py.h5o.ObjectID) -> list[h5py.h5o.ObjectID]:
    """Return the objects that object references in ``oid``'s attributes point to.

    (Old AnnData files keep a column's categories this way; a referenced object
    may have no link at all, so the walk must reach it through the reference.)
    """
    if not isinstance(oid, h5py.h5g.GroupID | h5py.h5d.DatasetID):
        return []
    node = h5py.Group(oid) if isinstance(oid, h5py.h5g.GroupID) else h5py.Dataset(oid)
    out = []
    for key in node.attrs:
        if h5py.check_ref_dtype(node.attrs.get_id(key).dtype) is not h5py.Reference:
            continue
        for ref in np.atleast_1d(node.attrs[key]).ravel():
            try:
                if ref:
                    out.append(h5py.h5r.dereference(ref, f.id))
            except (KeyError, ValueError, OSError, RuntimeError):
                continue  # a dangling reference: nothing can be read through it either
    return out


def _seal_dataset(did: h5py.h5d.DatasetID, *, name: str, obj: str) -> None:
    """Refuse a virtual dataset or one whose values are stored in other files."""
    plist = did.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise _refuse(
            "a virtual dataset (it maps values from other files); inputs must be self-contained",
            name,
            obj,
        )
    if plist.get_external_count():
        target = plist.get_external(0)[0].decode("utf-8", errors="replace")
        raise _refuse(
            f"a dataset stored in an external file ({target}); inputs must be self-contained",
            name,
            obj,
        )


@contextmanager
def open_sealed(path: Path, *, name: str | None = None) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only after :func:`_seal` has walked it; yield the file.

    Raises :class:`IngestError` (naming ``name``, default the file name, and
    the object) for an unreadable file or anything that reaches outside it.
    """
    name = name or path.name
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise IngestError(f"not a readable HDF5 file ({exc})", field=name) from exc
    with f:
        try:
            _seal(f, name=name)
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:  # corrupt header
            raise IngestError(f"not a readable HDF5 file ({exc})", field=name) from exc
        try:
            yield f
        except (OSError, KeyError, RuntimeError, TypeError, ValueError) as exc:  # h5py/libhdf5
            # on a corrupt object (a type or encoding it cannot decode, a broken header)
            raise IngestError(f"not a readable HDF5 file ({exc})", field=name) from exc


def hdf5_kind(path: Path) -> str | None:
    """Return ``'10x_h5'``, ``'h5ad'``, ``'loom'`` or None for an HDF5 file, from its content.

    The file is opened sealed: raises :class:`IngestError` for links or storage
    outside the file; returns None for a file h5py cannot open.
    """
    try:
        with open_sealed(path) as f:
            if "matrix" in f and isinstance(f["matrix"], h5py.Dataset) and "row_attrs" in f:
                return "loom"
            if "X" in f and "obs" in f and "var" in f:
                return "h5ad"
            if "matrix" in f and isinstance(f["matrix"], h5py.Group) and "barcodes" in f["matrix"]:
                return "10x_h5"
            groups = [g for g in f.values() if isinstance(g, h5py.Group)]
            if groups and all("barcodes" in g and "indptr" in g for g in groups):
                return "10x_h5"
    except IngestError as exc:
        if exc.message.startswith("not a readable HDF5 file"):
            return None
        raise
    return None


def _strings(values: np.ndarray) -> np.ndarray:
    out = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values]
    return np.array(out, dtype=object)


def _is_text(dtype: np.dtype) -> bool:
    return dtype.kind in "SU" or h5py.check_string_dtype(dtype) is not None


class _Reader:
    """Reads datasets of one sealed file after checking them against the file and the limits.

    ``used`` counts the bytes of everything read so far (and of what the
    caller declares with :meth:`spend`), against ``limits.max_memory_bytes``.
    """

    def __init__(self, f: h5py.File, *, name: str, path: Path, limits: ImportLimits) -> None:
        self.f = f
        self.name = name
        self.limits = limits
        self.file_size = path.stat().st_size
        self.used = 0

    def where(self, obj: str) -> str:
        """Return the error field of ``obj``: ``file:obj``."""
        return f"{self.name}:{obj.lstrip('/')}"

    def node(self, group: h5py.Group, key: str, *, obj: str) -> h5py.Group | h5py.Dataset:
        """Return ``group[key]``; raise :class:`IngestError` naming ``obj`` when it is missing."""
        if key not in group:
            raise IngestError("missing in the file", field=self.where(obj))
        return group[key]

    def dataset(self, group: h5py.Group, key: str, *, obj: str) -> h5py.Dataset:
        """Return the dataset ``group[key]``; raise when it is missing or a group."""
        node = self.node(group, key, obj=obj)
        if not isinstance(node, h5py.Dataset):
            raise IngestError("a group where a dataset is expected", field=self.where(obj))
        return node

    def group(self, group: h5py.Group, key: str, *, obj: str) -> h5py.Group:
        """Return the group ``group[key]``; raise when it is missing or a dataset."""
        node = self.node(group, key, obj=obj)
        if not isinstance(node, h5py.Group):
            raise IngestError("a dataset where a group is expected", field=self.where(obj))
        return node

    def spend(self, n_bytes: int, *, obj: str) -> None:
        """Count ``n_bytes`` of memory; raise :class:`IngestError` past the budget."""
        self.used += int(n_bytes)
        if self.used > self.limits.max_memory_bytes:
            raise IngestError(
                f"reading it needs more than the import memory limit of "
                f"{self.limits.max_memory_bytes:,} bytes (BIOBLOCKS_MAX_IMPORT_MEMORY_BYTES); "
                "split the input or raise the limit",
                field=self.where(obj),
            )

    def check(
        self,
        ds: h5py.Dataset,
        *,
        obj: str,
        ndim: int | None = 1,
        length: int | None = None,
        memory: int | None = None,
    ) -> None:
        """Check ``ds``'s shape, its stored size and the memory it needs, before reading it.

        ``length`` is the expected first dimension; ``memory`` the bytes reading
        it will hold (default: its whole size). Raises :class:`IngestError`.
        """
        shape = ds.shape
        if shape is None:
            raise IngestError("an empty (null) dataset", field=self.where(obj))
        if ndim is not None and len(shape) != ndim:
            what = "a scalar" if not shape else f"{len(shape)}-dimensional (shape {shape})"
            raise IngestError(f"{what}; a {ndim}-dimensional array is expected",
                              field=self.where(obj))
        if length is not None and shape[0] != length:
            raise IngestError(f"{shape[0]:,} entries; {length:,} expected", field=self.where(obj))
        n = int(np.prod(shape, dtype=np.float64)) if shape else 1
        declared = n * ds.dtype.itemsize
        stored = int(ds.id.get_storage_size())
        if stored > self.file_size:
            raise IngestError(
                f"declares {stored:,} stored bytes in a file of {self.file_size:,} bytes (corrupt)",
                field=self.where(obj),
            )
        grace = self.limits.ratio_grace_bytes
        if declared > grace and declared > stored * self.limits.max_compression_ratio:
            raise IngestError(
                f"declares {declared:,} bytes of values but the file stores only {stored:,} "
                "bytes for it (never written, or compressed beyond the ratio limit "
                "BIOBLOCKS_MAX_COMPRESSION_RATIO)",
                field=self.where(obj),
            )
        if memory is None:
            memory = n * (ds.dtype.itemsize + (_STR_OVERHEAD if _is_text(ds.dtype) else 0))
        self.spend(memory, obj=obj)

    def read(
        self,
        ds: h5py.Dataset,
        *,
        obj: str,
        ndim: int | None = 1,
        length: int | None = None,
        role: str | None = None,
    ) -> np.ndarray:
        """Check ``ds`` (see :meth:`check`; ``role`` ``'index'``/``'values'`` checks its type) and
        return its values."""
        if role == "index":
            check_index_dtype(ds.dtype, name=self.name, obj=obj)
        elif role == "values":
            check_values_dtype(ds.dtype, name=self.name, obj=obj)
        self.check(ds, obj=obj, ndim=ndim, length=length)
        try:
            return np.asarray(ds[()])
        except (OSError, TypeError, ValueError) as exc:
            raise IngestError(f"cannot be read ({exc})", field=self.where(obj)) from exc

    def strings(self, group: h5py.Group, key: str, *, obj: str, length: int | None) -> np.ndarray:
        """Read the 1-D dataset ``group[key]`` as strings (object array)."""
        values = self.read(self.dataset(group, key, obj=obj), obj=obj, length=length)
        if values.dtype.names:
            raise IngestError("compound values where names are expected", field=self.where(obj))
        return _strings(values)

    def shape2(self, values: object, *, obj: str) -> tuple[int, int]:
        """Return a matrix shape from ``values`` (two non-negative integers) or raise."""
        arr = np.asarray(values)
        if arr.shape != (2,) or arr.dtype.kind not in "iu":
            raise IngestError(
                f"the matrix shape must be two integers, not {arr.dtype} of shape {arr.shape}",
                field=self.where(obj),
            )
        rows, cols = (int(x) for x in arr)
        if min(rows, cols) < 0 or max(rows, cols) > INT32_MAX:
            raise IngestError(f"impossible matrix shape ({rows}, {cols})", field=self.where(obj))
        return rows, cols

    def compressed(
        self, g: h5py.Group, *, obj: str, n_major: int, n_minor: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Check and read the ``data``/``indices``/``indptr`` of a CSR/CSC group.

        Shapes and types are checked from the metadata first, values after
        reading (:func:`check_compressed`). Returns ``(data, indices, indptr)``.
        """
        data_ds = self.dataset(g, "data", obj=f"{obj}/data")
        if data_ds.shape is not None and len(data_ds.shape) == 1:
            if data_ds.shape[0] > self.limits.max_nonzeros:
                raise IngestError(
                    f"{data_ds.shape[0]:,} nonzero values; at most {self.limits.max_nonzeros:,}",
                    field=self.where(f"{obj}/data"),
                )
        indices_ds = self.dataset(g, "indices", obj=f"{obj}/indices")
        indptr_ds = self.dataset(g, "indptr", obj=f"{obj}/indptr")
        check_values_dtype(data_ds.dtype, name=self.name, obj=f"{obj}/data")
        check_index_dtype(indices_ds.dtype, name=self.name, obj=f"{obj}/indices")
        check_index_dtype(indptr_ds.dtype, name=self.name, obj=f"{obj}/indptr")
        self.check(data_ds, obj=f"{obj}/data")
        nnz = data_ds.shape[0]
        self.check(indices_ds, obj=f"{obj}/indices", length=nnz)
        self.check(indptr_ds, obj=f"{obj}/indptr", length=n_major + 1)
        # finish_values and the index conversion hold one more copy of each part
        self.spend(nnz * (4 + 4) + (n_major + 1) * 8, obj=obj)
        data = self.read(data_ds, obj=f"{obj}/data")
        indices = self.read(indices_ds, obj=f"{obj}/indices")
        indptr = self.read(indptr_ds, obj=f"{obj}/indptr")
        check_compressed(
            data, indices, indptr, n_major=n_major, n_minor=n_minor, name=self.name, obj=obj
        )
        return data, indices, indptr


def _csr(
    data: np.ndarray,
    indices: np.ndarray,
    indptr: np.ndarray,
    *,
    shape: tuple[int, int],
    name: str,
    counts: bool = True,
) -> sp.csr_matrix:
    """Build a checked CSR matrix with counts as int32/float32 and int32 indices where they fit.

    With ``counts=False`` the values may be any finite numbers (kept as float32).
    """
    finish = finish_values if counts else finish_view_values
    values, _ = finish(data, name=name)
    index_dtype = np.int32 if max(values.shape[0], shape[1]) <= INT32_MAX else np.int64
    X = sp.csr_matrix(
        (values, indices.astype(index_dtype, copy=False), indptr.astype(index_dtype, copy=False)),
        shape=shape,
        copy=False,
    )
    X.eliminate_zeros()
    X.sum_duplicates()
    return X


def read_10x_h5(path: Path, *, budget: Budget, progress: Progress = null_progress) -> Library:
    """Read a 10x Genomics feature-barcode ``.h5`` (CellRanger v2 or v3+).

    Only ``Gene Expression`` features are kept when the file holds several
    feature types. Returns a :class:`Library`; raises :class:`IngestError`.
    """
    name = path.name
    with open_sealed(path) as f:
        r = _Reader(f, name=name, path=path, limits=budget.limits)
        if "matrix" in f:
            base = "matrix"
            g = r.group(f, "matrix", obj=base)
        else:
            groups = [k for k, v in f.items() if isinstance(v, h5py.Group)]
            if len(groups) != 1:
                raise IngestError(
                    f"a 10x v2 file with {len(groups)} genomes; import one genome at a time",
                    field=name,
                )
            base = groups[0]
            g = f[base]
        shape = r.read(r.dataset(g, "shape", obj=f"{base}/shape"), obj=f"{base}/shape", ndim=None)
        n_genes, n_cells = r.shape2(shape, obj=f"{base}/shape")
        if base == "matrix":
            feats = r.group(g, "features", obj="matrix/features")
            gene_ids = r.strings(feats, "id", obj="matrix/features/id", length=n_genes)
            gene_names = r.strings(feats, "name", obj="matrix/features/name", length=n_genes)
            types = (
                r.strings(feats, "feature_type", obj="matrix/features/feature_type",
                          length=n_genes)
                if "feature_type" in feats
                else None
            )
        else:
            gene_ids = r.strings(g, "genes", obj=f"{base}/genes", length=n_genes)
            gene_names = r.strings(g, "gene_names", obj=f"{base}/gene_names", length=n_genes)
            types = None
        barcodes = r.strings(g, "barcodes", obj=f"{base}/barcodes", length=n_cells)
        progress(0.1, f"reading {name}")
        data, indices, indptr = r.compressed(g, obj=base, n_major=n_cells, n_minor=n_genes)
    X = _csr(data, indices, indptr, shape=(n_cells, n_genes), name=name)
    del data, indices, indptr
    if types is not None and len(set(types.tolist())) > 1:
        keep = np.flatnonzero(types == "Gene Expression")
        log.info("%s: keeping %d Gene Expression features of %d", name, len(keep), n_genes)
        X = X[:, keep].tocsr()
        gene_ids, gene_names = gene_ids[keep], gene_names[keep]
    return Library(
        X=X,
        gene_names=gene_names,
        gene_ids=gene_ids,
        barcodes=barcodes,
        obs=None,
        source_format="10x_h5",
        name=name,
    )


def _attr_str(node: h5py.HLObject, key: str, default: str | None = None) -> str | None:
    value = node.attrs.get(key, default)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return None if value is None else str(value)


def _frame_index(r: _Reader, group: h5py.Group, *, obj: str) -> np.ndarray:
    """Return the index (obs or var names) of an AnnData data-frame group."""
    key = _attr_str(group, "_index", "_index") or "_index"
    return r.strings(group, key, obj=f"{obj}/{key}", length=None)


def _frame_column(
    r: _Reader, group: h5py.Group, key: str, *, obj: str, n: int
) -> tuple[object | None, str | None]:
    """Read one column of an AnnData data frame; return ``(values, None)`` or ``(None, reason)``.

    Every dataset of the column (a categorical's codes and categories, a
    nullable array's values and mask) is checked before reading; a column that
    is not one value per row, or that anndata cannot decode, is returned with
    the reason it is dropped. Memory or storage overruns raise.
    """
    from anndata.io import read_elem

    node = group[key]
    datasets: list[tuple[str, h5py.Dataset]] = []
    if isinstance(node, h5py.Dataset):
        datasets.append((key, node))
    else:
        for part, child in node.items():
            if not isinstance(child, h5py.Dataset):
                return None, "a nested group, not a column"
            datasets.append((f"{key}/{part}", child))
    for part, ds in datasets:
        if ds.shape is None or len(ds.shape) != 1:
            return None, f"not one-dimensional (shape {ds.shape})"
        if not part.endswith("/categories") and ds.shape[0] != n:
            return None, f"{ds.shape[0]:,} values for {n:,} rows"
        if ds.dtype.names or ds.dtype.kind == "V":
            return None, "compound values"
        r.check(ds, obj=f"{obj}/{part}")
    try:
        values = read_elem(node)
    except Exception as exc:  # noqa: BLE001 - anndata raises many kinds on unusual encodings
        if not isinstance(node, h5py.Dataset):
            return None, f"unreadable ({type(exc).__name__})"
        values = node[()]
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.shape[0] != n:
            return None, f"not one value per row (shape {values.shape})"
        if values.dtype.kind in "SO":
            values = _strings(values)
        elif values.dtype.kind == "c":
            return None, "complex values"
    elif len(values) != n:
        return None, f"{len(values):,} values for {n:,} rows"
    return values, None


def _frame(
    r: _Reader, group: h5py.Group, *, obj: str, n: int, only: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Read the columns of an AnnData data-frame group (all, or those in ``only``).

    Returns the frame (``n`` rows, default index) and the dropped columns.
    """
    order = group.attrs.get("column-order", [])
    columns = [c.decode() if isinstance(c, bytes) else str(c) for c in np.atleast_1d(order)]
    index_key = _attr_str(group, "_index", "_index")
    columns = [c for c in columns if c != index_key]
    frame: dict[str, object] = {}
    dropped: list[dict[str, str]] = []
    for column in columns:
        if only is not None and column not in only:
            continue
        if column not in group:
            dropped.append({"column": column, "file": r.name, "reason": "listed but missing"})
            continue
        values, reason = _frame_column(r, group, column, obj=f"{obj}/{column}", n=n)
        if reason is not None:
            log.warning("%s: %s/%s dropped: %s", r.name, obj, column, reason)
            dropped.append({"column": column, "file": r.name, "reason": reason})
            continue
        frame[column] = values
    return pd.DataFrame(frame, index=pd.RangeIndex(n)), dropped


def _legacy_frame(
    r: _Reader, ds: h5py.Dataset, *, obj: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Read an anndata < 0.7 data frame (one compound dataset); return its index and columns."""
    if not ds.dtype.names or "index" not in ds.dtype.names:
        raise IngestError("a data frame without an index", field=r.where(obj))
    values = r.read(ds, obj=obj)
    index = _strings(values["index"])
    frame = {}
    for column in ds.dtype.names:
        if column == "index":
            continue
        col = values[column]
        frame[column] = _strings(col) if col.dtype.kind in "SO" else col
    return index, pd.DataFrame(frame, index=pd.RangeIndex(len(index)))


def _h5ad_matrix(
    r: _Reader,
    node: h5py.Group | h5py.Dataset,
    *,
    obj: str,
    shape: tuple[int, int],
    counts: bool = True,
) -> sp.csr_matrix:
    """Read an ``.h5ad`` matrix (dense, CSR or CSC) of ``shape`` as checked cells × genes CSR.

    ``counts=False`` accepts any finite values (see :func:`_csr`).
    """
    n_obs, n_vars = shape
    if isinstance(node, h5py.Dataset):
        check_values_dtype(node.dtype, name=r.name, obj=obj)
        if node.shape != shape:
            raise IngestError(f"shape {node.shape}; {shape} expected from obs and var",
                              field=r.where(obj))
        row_bytes = max(n_vars * node.dtype.itemsize, 1)
        block = max(1, _BLOCK_BYTES // row_bytes)
        r.check(node, obj=obj, ndim=2, memory=min(block, max(n_obs, 1)) * row_bytes)
        parts = []
        for start in range(0, n_obs, block):
            part = sp.csr_matrix(node[start : start + block])
            r.spend(part.data.nbytes + part.indices.nbytes + part.indptr.nbytes, obj=obj)
            parts.append(part)
        if not parts:
            return sp.csr_matrix(shape, dtype=np.float32)
        X = sp.vstack(parts, format="csr")
        return _csr(X.data, X.indices, X.indptr, shape=shape, name=r.name, counts=counts)
    encoding = _attr_str(node, "encoding-type") or _attr_str(node, "h5sparse_format")
    declared = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
    if declared is None:
        raise IngestError("a sparse matrix without a shape attribute", field=r.where(obj))
    if r.shape2(declared, obj=obj) != shape:
        raise IngestError(
            f"shape {tuple(int(x) for x in np.asarray(declared))}; {shape} expected from obs and var",
            field=r.where(obj),
        )
    if encoding in ("csr_matrix", "csr"):
        data, indices, indptr = r.compressed(node, obj=obj, n_major=n_obs, n_minor=n_vars)
        return _csr(data, indices, indptr, shape=shape, name=r.name, counts=counts)
    if encoding in ("csc_matrix", "csc"):
        data, indices, indptr = r.compressed(node, obj=obj, n_major=n_vars, n_minor=n_obs)
        r.spend(data.shape[0] * (data.dtype.itemsize + 8), obj=obj)
        X = sp.csc_matrix((data, indices, indptr), shape=shape, copy=False).tocsr()
        del data, indices, indptr
        return _csr(X.data, X.indices, X.indptr, shape=shape, name=r.name, counts=counts)
    raise IngestError(f"an unknown matrix encoding {encoding!r}", field=r.where(obj))


#: ``var`` columns read as gene ids, in order of preference.
_ID_COLUMNS = ("gene_ids", "gene_id", "feature_id")


def _as_counts(X: sp.csr_matrix, *, name: str) -> sp.csr_matrix | None:
    """Return ``X`` with its values as counts (int32 where they fit), or None if they are not."""
    if not holds_counts(X.data):
        return None
    X.data, _ = finish_values(X.data, name=name)
    return X


def _var_names(
    r: _Reader, node: h5py.Group | h5py.Dataset, *, obj: str
) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Return a ``var`` frame's index and, for an anndata < 0.7 frame, its columns."""
    if isinstance(node, h5py.Dataset):
        return _legacy_frame(r, node, obj=obj)
    return _frame_index(r, node, obj=obj), None


def _h5ad_counts(
    r: _Reader, f: h5py.File, *, n_obs: int, var_node: h5py.Group | h5py.Dataset,
    var_names: np.ndarray, allow_view_only: bool,
) -> tuple[sp.csr_matrix, str | None, h5py.Group | h5py.Dataset, np.ndarray, list[dict[str, str]]]:
    """Find and read an ``.h5ad``'s counts: ``layers['counts']``, else ``raw.X`` when it holds
    non-negative integers, else ``X`` when it does.

    When none does: with ``allow_view_only`` ``X`` is returned as it is (any finite values)
    with the source None (view-only); without, ``X`` is read as counts as for every other
    format (negative values refused). Returns ``(matrix, source, var node, gene names,
    notes)``; ``notes`` says why ``raw`` was passed over.
    """
    notes: list[dict[str, str]] = []
    layers = f.get("layers")
    if isinstance(layers, h5py.Group) and "counts" in layers:
        X = _h5ad_matrix(r, layers["counts"], obj="layers/counts", shape=(n_obs, len(var_names)))
        return X, "layers/counts", var_node, var_names, notes
    raw = f.get("raw")
    raw_x = raw_var = None
    if isinstance(raw, h5py.Group) and "X" in raw and "var" in raw:
        raw_x, raw_var = raw["X"], r.node(raw, "var", obj="raw/var")
    elif "raw.X" in f and "raw.var" in f:  # anndata < 0.7
        raw_x, raw_var = f["raw.X"], f["raw.var"]
    if raw_x is not None and raw_var is not None:
        before = r.used
        raw_names, _ = _var_names(r, raw_var, obj="raw/var")
        X = _h5ad_matrix(r, raw_x, obj="raw/X", shape=(n_obs, len(raw_names)), counts=False)
        counts = _as_counts(X, name=r.name)
        if counts is not None:
            return counts, "raw/X", raw_var, raw_names, notes
        del X
        r.used = before  # released: X is read instead
        notes.append({"element": "raw", "file": r.name,
                      "reason": "raw.X holds no counts (negative or fractional values)"})
    node = r.node(f, "X", obj="X")
    shape = (n_obs, len(var_names))
    if not allow_view_only:
        return _h5ad_matrix(r, node, obj="X", shape=shape), "X", var_node, var_names, notes
    X = _h5ad_matrix(r, node, obj="X", shape=shape, counts=False)
    counts = _as_counts(X, name=r.name)
    if counts is not None:
        return counts, "X", var_node, var_names, notes
    log.warning("%s holds no counts (X has negative or fractional values, no layers['counts'] "
                "or integral raw.X): imported view-only", r.name)
    return X, None, var_node, var_names, notes


def _gene_columns(
    r: _Reader, f: h5py.File, var_node: h5py.Group | h5py.Dataset, *, obj: str, n_vars: int,
    legacy: pd.DataFrame | None,
) -> pd.DataFrame:
    """Read the id and name columns of the chosen ``var`` frame (``feature_name`` of the main
    ``var`` too when the counts come from a ``raw`` with the same genes and no names)."""
    wanted = (*_ID_COLUMNS, _anndata.FEATURE_NAME)
    if legacy is not None:
        return legacy
    var, _ = _frame(r, var_node, obj=obj, n=n_vars, only=wanted)
    main = f.get("var")
    if (_anndata.FEATURE_NAME not in var.columns and obj == "raw/var"
            and isinstance(main, h5py.Group) and _anndata.FEATURE_NAME in main):
        raw_index = _frame_index(r, var_node, obj=obj)
        main_index = _frame_index(r, main, obj="var")
        if np.array_equal(raw_index, main_index):
            names, _ = _frame(r, main, obj="var", n=n_vars, only=(_anndata.FEATURE_NAME,))
            var = var.assign(**{c: names[c] for c in names.columns})
    return var


def read_h5ad(
    path: Path,
    *,
    budget: Budget,
    progress: Progress = null_progress,
    allow_view_only: bool = False,
) -> Library:
    """Read an AnnData ``.h5ad``: its counts, ``obs``, gene names and ids, embeddings, colours.

    The counts come from ``layers['counts']``, else ``raw.X`` when it holds non-negative
    integers, else ``X`` (see :func:`_h5ad_counts`; with ``allow_view_only`` a file with no
    counts is read view-only). Gene names are ``var["feature_name"]`` when present
    (CELLxGENE Discover: the index then becomes the gene ids), else the index;
    ``var['gene_ids']`` (or ``gene_id``/``feature_id``) becomes the gene ids. ``obs``
    columns that are not one value per cell are dropped and listed in
    :attr:`Library.dropped`; ``obsm``'s embeddings and ``uns``' colours are read by
    :mod:`._anndata`, every other part is listed in :attr:`Library.not_imported`.
    Returns a :class:`Library`; raises :class:`IngestError` naming the object at fault.
    """
    name = path.name
    with open_sealed(path) as f:
        r = _Reader(f, name=name, path=path, limits=budget.limits)
        obs_node = r.node(f, "obs", obj="obs")
        var_node = r.node(f, "var", obj="var")
        if isinstance(obs_node, h5py.Dataset):
            barcodes, obs = _legacy_frame(r, obs_node, obj="obs")
            dropped: list[dict[str, str]] = []
        else:
            barcodes = _frame_index(r, obs_node, obj="obs")
            obs = None
        var_names, legacy_var = _var_names(r, var_node, obj="var")
        n_obs = len(barcodes)
        progress(0.1, f"reading {name}")
        X, source, counts_var, gene_names, notes = _h5ad_counts(
            r, f, n_obs=n_obs, var_node=var_node, var_names=var_names,
            allow_view_only=allow_view_only)
        if counts_var is not var_node:
            legacy_var = None
            if isinstance(counts_var, h5py.Dataset):
                _, legacy_var = _legacy_frame(r, counts_var, obj="raw/var")
        if obs is None:
            obs, dropped = _frame(r, obs_node, obj="obs", n=n_obs)
            used_uns: set[str] = set()
        else:
            obs, used_uns = _anndata.legacy_categories(r, f, obs)
        var_obj = "raw/var" if source == "raw/X" else "var"
        var = _gene_columns(r, f, counts_var, obj=var_obj, n_vars=len(gene_names),
                            legacy=legacy_var)
        progress(0.8, f"reading the embeddings and colours of {name}")
        obsm, obsm_notes = _anndata.read_embeddings(r, f, n_obs=n_obs)
        colors, uns_notes = _anndata.read_colors(r, f, obs=obs, used=used_uns)
        used_var = {c for c in (*_ID_COLUMNS, _anndata.FEATURE_NAME) if c in var.columns}
        others = _anndata.other_elements(f, name=name, counts_source=source, var_columns=used_var)
    id_col = next((c for c in _ID_COLUMNS if c in var.columns), None)
    gene_ids = None if id_col is None else _strings(np.asarray(var[id_col]))
    if _anndata.FEATURE_NAME in var.columns:
        if gene_ids is None:
            gene_ids = gene_names
        gene_names = _strings(np.asarray(var[_anndata.FEATURE_NAME]))
    return Library(
        X=X,
        gene_names=gene_names,
        gene_ids=gene_ids,
        barcodes=barcodes,
        obs=obs if len(obs.columns) else None,
        source_format="h5ad",
        name=name,
        dropped=dropped,
        counts_source=source,
        view_only=source is None,
        obsm=obsm,
        colors=colors,
        not_imported=[*notes, *(n for n in others if n["element"] != "raw" or not notes),
                      *obsm_notes, *uns_notes],
    )


def read_loom(path: Path, *, budget: Budget, progress: Progress = null_progress) -> Library:
    """Read a ``.loom`` file (genes × cells ``/matrix``, ``row_attrs``, ``col_attrs``).

    Gene names from ``row_attrs/Gene``, ids from ``row_attrs/Accession``,
    barcodes from ``col_attrs/CellID``; other one-dimensional column attributes
    become per-cell metadata (others are dropped and listed). Read in blocks of
    cells, converted to sparse per block; ``layers`` are not read. Returns a
    :class:`Library`; raises :class:`IngestError`.
    """
    name = path.name
    dropped: list[dict[str, str]] = []
    with open_sealed(path) as f:
        r = _Reader(f, name=name, path=path, limits=budget.limits)
        matrix = r.dataset(f, "matrix", obj="matrix")
        check_values_dtype(matrix.dtype, name=name, obj="matrix")
        if matrix.shape is None or len(matrix.shape) != 2:
            raise IngestError(f"shape {matrix.shape}; a 2-D matrix is expected",
                              field=r.where("matrix"))
        n_genes, n_cells = (int(x) for x in matrix.shape)
        rows = r.group(f, "row_attrs", obj="row_attrs")
        cols = r.group(f, "col_attrs", obj="col_attrs")
        gene_key = next((k for k in ("Gene", "gene_names", "Symbol") if k in rows), None)
        if gene_key is None:
            raise IngestError("row_attrs has no 'Gene' names", field=name)
        gene_names = r.strings(rows, gene_key, obj=f"row_attrs/{gene_key}", length=n_genes)
        id_key = next((k for k in ("Accession", "gene_ids", "ensembl_ids") if k in rows), None)
        gene_ids = (
            None
            if id_key is None
            else r.strings(rows, id_key, obj=f"row_attrs/{id_key}", length=n_genes)
        )
        cell_key = next((k for k in ("CellID", "obs_names", "cell_names") if k in cols), None)
        barcodes = (
            None
            if cell_key is None
            else r.strings(cols, cell_key, obj=f"col_attrs/{cell_key}", length=n_cells)
        )
        meta = {}
        for key, ds in cols.items():
            if key == cell_key:
                continue
            reason = None
            if not isinstance(ds, h5py.Dataset):
                reason = "a group, not a column"
            elif ds.shape != (n_cells,):
                reason = f"shape {ds.shape}, not one value per cell"
            elif ds.dtype.names or ds.dtype.kind in "Vc":
                reason = "compound or complex values"
            if reason is not None:
                log.warning("%s: col_attrs/%s dropped: %s", name, key, reason)
                dropped.append({"column": key, "file": name, "reason": reason})
                continue
            values = r.read(ds, obj=f"col_attrs/{key}")
            meta[key] = _strings(values) if _is_text(values.dtype) or values.dtype.kind == "O" \
                else values
        row_bytes = max(n_genes * matrix.dtype.itemsize, 1)
        block = max(1, _BLOCK_BYTES // row_bytes)
        r.check(matrix, obj="matrix", ndim=2, memory=min(block, max(n_cells, 1)) * row_bytes * 2)
        parts = []
        for start in range(0, n_cells, block):
            dense = matrix[:, start : start + block]
            budget.spend(dense.nbytes, name=name)
            if dense.dtype.kind == "f" and not np.isfinite(dense).all():
                raise IngestError("the matrix holds NaN or infinite values", field=name)
            part = sp.csr_matrix(dense.T)
            r.spend(part.data.nbytes + part.indices.nbytes + part.indptr.nbytes, obj="matrix")
            parts.append(part)
            progress(min((start + block) / n_cells, 1.0), f"read {start + block:,} cells")
    if not parts:
        raise IngestError("the matrix is empty", field=name)
    X = sp.vstack(parts, format="csr")
    del parts
    X = _csr(X.data, X.indices, X.indptr, shape=X.shape, name=name)
    obs = pd.DataFrame(meta) if meta else None
    return Library(
        X=X,
        gene_names=gene_names,
        gene_ids=gene_ids,
        barcodes=barcodes,
        obs=obs,
        source_format="loom",
        name=name,
        dropped=dropped,
    )
