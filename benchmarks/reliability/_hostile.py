"""Hostile matrix files uploaded through ``PUT /dataset/<id>/matrix``.

Every file must be refused cleanly — 422 (or 413 over the upload limit) with
an ``_issues`` message — leaving the dataset document, and the data
directory's disk usage, exactly as before.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable

import httpx

from ._row import Row
from ._server import Server
from ._writes import data_usage

#: Limits the server runs with for this check (small, so the bombs stay small).
LIMITS = {
    "BIOBLOCKS_MAX_UPLOAD_BYTES": str(16 * 1024**2),
    "BIOBLOCKS_MAX_UNCOMPRESSED_BYTES": str(24 * 1024**2),
    "BIOBLOCKS_MAX_COMPRESSION_RATIO": "100",
}

_GENES = 12
_CELLS = 8


def _mtx(entries: list[tuple[int, int, str]], *, header: str | None = None,
         field: str = "integer") -> bytes:
    """A genes x cells Matrix Market file (1-based ``entries``), with an optional lying header."""
    lines = [f"%%MatrixMarket matrix coordinate {field} general",
             header or f"{_GENES} {_CELLS} {len(entries)}"]
    lines += [f"{r} {c} {v}" for r, c, v in entries]
    return ("\n".join(lines) + "\n").encode()


def _good_entries() -> list[tuple[int, int, str]]:
    return [(g, c, str(1 + (g * c) % 5)) for g in range(1, _GENES + 1)
            for c in range(1, _CELLS + 1) if (g + c) % 3 == 0]


def _features(n: int = _GENES) -> bytes:
    return "".join(f"ENSG{k:011d}\tGENE{k}\tGene Expression\n" for k in range(n)).encode()


def _barcodes(n: int = _CELLS, *, duplicate: bool = False) -> bytes:
    names = [f"CELL{k:04d}-1" for k in range(n)]
    if duplicate:
        names[-1] = names[0]
    return ("\n".join(names) + "\n").encode()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _tenx_zip(*, matrix: bytes | None = None, features: bytes | None = None,
              barcodes: bytes | None = None) -> bytes:
    """An HCA-style zip: one top folder with the three gzipped files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("matrix/matrix.mtx.gz", _gz(matrix or _mtx(_good_entries())))
        zf.writestr("matrix/features.tsv.gz", _gz(features or _features()))
        zf.writestr("matrix/barcodes.tsv.gz", _gz(barcodes or _barcodes()))
    return buffer.getvalue()


def _zip_with(names: list[tuple[str, bytes]], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in names:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        if symlink is not None:
            info = zipfile.ZipInfo("matrix/features.tsv.gz")
            info.external_attr = (0o120777 << 16)
            info.create_system = 3
            zf.writestr(info, symlink)
    return buffer.getvalue()


def _gzip_claiming(total: int, *, members: int = 5) -> bytes:
    """Gzip members of a small Matrix Market file whose trailers together claim ``total`` bytes."""
    body = _mtx(_good_entries())
    parts = []
    chunk = len(body) // members + 1
    for k in range(members):
        piece = body[k * chunk:(k + 1) * chunk]
        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = raw.compress(piece) + raw.flush()
        header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"
        claim = (total // members) & 0xFFFFFFFF or 0xFFFFFFFF
        parts.append(header + deflated + struct.pack("<II", zlib.crc32(piece), claim))
    return b"".join(parts)


def _digits(n_bytes: int) -> bytes:
    """Incompressible-ish Matrix Market body of about ``n_bytes`` (random triples)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = n_bytes // 14
    r = rng.integers(1, 99999, rows)
    c = rng.integers(1, 9999, rows)
    v = rng.integers(1, 999, rows)
    text = "\n".join(f"{a} {b} {x}" for a, b, x in zip(r, c, v, strict=True))
    return f"%%MatrixMarket matrix coordinate integer general\n99999 9999 {rows}\n{text}\n".encode()


def _hdf5(kind: str, change: Callable[[object], None]) -> bytes:
    """A small h5ad / 10x .h5 / loom file of _CELLS x _GENES, then ``change(h5py_file)``."""
    import tempfile

    import h5py
    import numpy as np
    import scipy.sparse as sp

    counts = np.zeros((_CELLS, _GENES), dtype=np.int32)
    for g, c, v in _good_entries():
        counts[c - 1, g - 1] = int(v)
    genes = np.array([f"GENE{k}" for k in range(_GENES)], dtype="S")
    cells = np.array([f"CELL{k:04d}-1" for k in range(_CELLS)], dtype="S")
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/x"
        with h5py.File(path, "w") as f:
            if kind == "h5ad":
                X = sp.csr_matrix(counts)
                g = f.create_group("X")
                g.attrs["encoding-type"], g.attrs["encoding-version"] = "csr_matrix", "0.1.0"
                g.attrs["shape"] = X.shape
                g["data"], g["indices"], g["indptr"] = X.data, X.indices, X.indptr
                for frame, index in (("obs", cells), ("var", genes)):
                    d = f.create_group(frame)
                    d.attrs["encoding-type"], d.attrs["encoding-version"] = "dataframe", "0.2.0"
                    d.attrs["_index"], d.attrs["column-order"] = "_index", np.array([], "S")
                    d["_index"] = index
            elif kind == "10x":
                X = sp.csc_matrix(counts.T)
                g = f.create_group("matrix")
                g["data"], g["indices"], g["indptr"] = X.data, X.indices, X.indptr
                g["shape"] = np.array(X.shape, dtype=np.int32)
                g["barcodes"] = cells
                g.create_group("features")
                g["features/id"], g["features/name"] = genes, genes
            else:
                f["matrix"] = counts.T.astype(np.float32)
                f.create_group("row_attrs")["Gene"] = genes
                f.create_group("col_attrs")["CellID"] = cells
            change(f)
        with open(path, "rb") as fh:
            return fh.read()


def _replace(obj: str, **create: object) -> Callable[[object], None]:
    """Replace dataset ``obj`` by ``create_dataset(obj, **create)``."""
    def change(f: object) -> None:
        del f[obj]  # type: ignore[index]
        f.create_dataset(obj, **create)  # type: ignore[attr-defined]
    return change


def _link(obj: str, make: Callable[[], object]) -> Callable[[object], None]:
    def change(f: object) -> None:
        del f[obj]  # type: ignore[index]
        f[obj] = make()  # type: ignore[index]
    return change


def _virtual(obj: str) -> Callable[[object], None]:
    import h5py

    def change(f: object) -> None:
        layout = h5py.VirtualLayout(shape=(_GENES,), dtype="S16")
        layout[:] = h5py.VirtualSource("/etc/passwd.h5", "names", shape=(_GENES,))
        del f[obj]  # type: ignore[index]
        f.create_virtual_dataset(obj, layout)  # type: ignore[attr-defined]
    return change


def _hdf5_corpus() -> list[tuple[str, str, Callable[[], bytes], tuple[int, ...]]]:
    """Hostile HDF5 files: reads outside the file, corrupt sparse parts, never-written data."""
    import h5py
    import numpy as np

    e422 = (422,)
    nnz = len(_good_entries())
    changes = {
        "passwd": _replace("matrix/features/name", shape=(_GENES,), dtype="S8",
                           external=[("/etc/passwd", 0, 8 * _GENES)]),
        "elink": _link("var/_index", lambda: h5py.ExternalLink("/etc/passwd.h5", "/names")),
        "soft": _link("obs/_index", lambda: h5py.SoftLink("/../../etc/passwd")),
        "indices": _replace("X/indices", data=np.full(nnz, _GENES + 3, dtype=np.int32)),
        "indptr": _replace("X/indptr", data=np.linspace(0, nnz, _CELLS + 1)),
        "complex": _replace("X/data", data=np.ones(nnz, dtype=np.complex64) * 1j),
        "unwritten": _replace("matrix/data", shape=(10**9,), dtype="i4", chunks=(4096,)),
    }
    return [
        ("10x .h5 with external storage on /etc/passwd", "m.h5",
         lambda: _hdf5("10x", changes["passwd"]), e422),
        ("h5ad with an external link", "m.h5ad", lambda: _hdf5("h5ad", changes["elink"]), e422),
        ("loom with a virtual dataset", "m.loom",
         lambda: _hdf5("loom", _virtual("row_attrs/Gene")), e422),
        ("h5ad with a soft link leaving the file", "m.h5ad",
         lambda: _hdf5("h5ad", changes["soft"]), e422),
        ("h5ad indices beyond the genes", "m.h5ad", lambda: _hdf5("h5ad", changes["indices"]),
         e422),
        ("h5ad float indptr", "m.h5ad", lambda: _hdf5("h5ad", changes["indptr"]), e422),
        ("h5ad complex values", "m.h5ad", lambda: _hdf5("h5ad", changes["complex"]), e422),
        ("10x .h5 never-written 4 GB data", "m.h5", lambda: _hdf5("10x", changes["unwritten"]),
         e422),
    ]


def corpus() -> list[tuple[str, str, Callable[[], bytes], tuple[int, ...]]]:
    """Return ``(label, filename, make bytes, accepted statuses)`` for every hostile file."""
    good = _mtx(_good_entries())
    e422 = (422,)
    e413 = (413, 422)
    return [
        ("truncated gzip", "matrix.mtx.gz", lambda: _gz(good)[: len(_gz(good)) // 2], e422),
        ("zip with ../ path", "m.zip",
         lambda: _zip_with([("../../evil/matrix.mtx", good)]), e422),
        ("zip with absolute path", "m.zip",
         lambda: _zip_with([("/tmp/evil/matrix.mtx", good)]), e422),
        ("zip with symlink", "m.zip",
         lambda: _zip_with([("matrix/matrix.mtx.gz", _gz(good)),
                            ("matrix/barcodes.tsv.gz", _gz(_barcodes()))],
                           symlink="/etc/passwd"), e422),
        ("zip bomb (ratio)", "m.zip",
         lambda: _zip_with([("matrix/matrix.mtx", good + b"%" * (20 * 1024**2))]), e413),
        ("zip bomb (size)", "m.zip",
         lambda: _zip_with([(f"matrix/part{k}.mtx", _digits(7 * 1024**2)) for k in range(4)]),
         e413),
        ("gzip bomb (ratio)", "matrix.mtx.gz",
         lambda: _gz(good + b"%" * (20 * 1024**2)), e413),
        ("gzip bomb (size)", "matrix.mtx.gz", lambda: _gz(_digits(30 * 1024**2)), e413),
        ("gzip claiming 10 GB", "matrix.mtx.gz", lambda: _gzip_claiming(10 * 1024**3), e413),
        ("upload over limit", "matrix.mtx", lambda: good + b"%" * (17 * 1024**2), (413,)),
        ("MM header lies about shape", "matrix.mtx",
         lambda: _mtx(_good_entries(), header=f"3 3 {len(_good_entries())}"), e422),
        ("MM header lies about nnz", "matrix.mtx",
         lambda: _mtx(_good_entries(), header=f"{_GENES} {_CELLS} 500"), e422),
        ("indices out of range", "matrix.mtx",
         lambda: _mtx([*_good_entries(), (0, 1, "3"), (_GENES + 5, 1, "2")]), e422),
        ("negative values", "matrix.mtx",
         lambda: _mtx([*_good_entries()[:-1], (1, 1, "-4")]), e422),
        ("NaN values", "matrix.mtx",
         lambda: _mtx([*_good_entries()[:-1], (2, 2, "nan")], field="real"), e422),
        ("genes file matching neither dimension", "m.zip",
         lambda: _tenx_zip(features=_features(_GENES + 3)), e422),
        ("duplicate barcodes", "m.zip", lambda: _tenx_zip(barcodes=_barcodes(duplicate=True)),
         e422),
        ("empty matrix", "matrix.mtx",
         lambda: b"%%MatrixMarket matrix coordinate integer general\n0 0 0\n", e422),
        ("MM array symmetric, 59 bytes (was a segfault)", "matrix.mtx",
         lambda: b"%%MatrixMarket matrix array real symmetric\n3 3\n1\n2\n3\n4\n5\n6\n", e422),
        ("MM coordinate skew-symmetric", "matrix.mtx",
         lambda: _mtx(_good_entries()).replace(b" general", b" skew-symmetric", 1), e422),
        ("MM complex values", "matrix.mtx",
         lambda: _mtx([(r, c, f"{v} 1") for r, c, v in _good_entries()], field="complex"), e422),
        ("MM header announcing 10^8 x 10^8 cells, 1 entry", "matrix.mtx",
         lambda: _mtx([(1, 1, "1")], header="100000000 100000000 1"), e422),
        ("MM array header announcing 10^6 x 10^6 values", "matrix.mtx",
         lambda: b"%%MatrixMarket matrix array real general\n1000000 1000000\n1\n", e422),
        ("MM header beyond 64 bits", "matrix.mtx",
         lambda: _mtx([(1, 1, "1")], header="99999999999999999999999 8 1"), e422),
        ("MM index beyond 64 bits", "matrix.mtx",
         lambda: _mtx([(1, 1, "1"), (99999999999999999999999, 1, "1")]), e422),
        ("MM fractional index", "matrix.mtx",
         lambda: _mtx([(1, 1, "1")]).replace(b"\n1 1 1", b"\n1.5 1 1"), e422),
        ("ragged text rows", "counts.tsv",
         lambda: b"barcode\tA\tB\tC\nc1\t1\t2\t3\nc2\t1\t2\nc3\t4\t5\t6\t7\n", e422),
        ("unknown format", "matrix.bin", lambda: os.urandom(4096), e422),
        ("non-UTF-8 gene file", "m.zip",
         lambda: _tenx_zip(features=_features().replace(b"GENE3", b"GEN\xff\xfe3")), e422),
        *_hdf5_corpus(),
    ]


def hostile(server: Server, dataset_id: str) -> Row:
    """Upload every file of :func:`corpus` to ``dataset_id`` (raw body); return the row.

    The server must run with :data:`LIMITS`. Held: the expected status with an
    ``_issues`` message, the dataset's ``_etag`` and the data directory's disk
    usage unchanged.
    """
    tried = held = 0
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=120, headers=server.auth) as client:
        before_doc = client.get(f"/dataset/{dataset_id}").json()
        before_disk = data_usage(server.data_dir)
        for label, filename, make, accepted in corpus():
            tried += 1
            try:
                resp = client.put(f"/dataset/{dataset_id}/matrix", params={"filename": filename},
                                  content=make(),
                                  headers={"Content-Type": "application/octet-stream",
                                           "If-Match": str(before_doc.get("_etag", ""))})
            except httpx.HTTPError as exc:
                problems.append(f"{label}: {type(exc).__name__}")
                continue
            try:
                payload = resp.json()
            except ValueError:
                payload = {}
            has_message = bool(payload.get("_issues")) or (
                resp.status_code == 413 and payload.get("_status") == "ERR")
            after_doc = client.get(f"/dataset/{dataset_id}").json()
            disk = data_usage(server.data_dir)
            fine = resp.status_code in accepted and has_message
            if fine and after_doc.get("_etag") == before_doc.get("_etag") and disk == before_disk:
                held += 1
            else:
                problems.append(
                    f"{label}: {resp.status_code}"
                    + ("" if has_message else " without _issues")
                    + ("" if after_doc.get("_etag") == before_doc.get("_etag") else ", doc changed")
                    + ("" if disk == before_disk else f", disk {disk - before_disk:+d} B")
                )
    notes = "422/413 with _issues, dataset etag and disk usage unchanged"
    if problems:
        notes += "; " + "; ".join(problems)
    return Row("hostile uploads", tried, held, notes)
