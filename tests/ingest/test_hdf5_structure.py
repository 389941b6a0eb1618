"""Corrupt HDF5 matrices are refused naming the object, before anything uses them;
tiny files that declare huge datasets are refused (or skipped) without allocating."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits, import_matrix, read_canonical

from ._formats import Reference, assert_import_fails, write_10x_h5, write_h5ad, write_loom


def _set(f: h5py.File, obj: str, value: object, **kwargs: object) -> None:
    del f[obj]
    f.create_dataset(obj, data=value, **kwargs)


def _edit(f: h5py.File, obj: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    _set(f, obj, change(f[obj][()]))


def _short(a: np.ndarray) -> np.ndarray:
    return a[:-1]


CORRUPT: dict[str, tuple[Callable[[h5py.File], None], str, str]] = {
    "index beyond the genes": (
        lambda f: _edit(f, "X/indices", lambda a: np.where(a == a.max(), 6, a)),
        "X/indices", "out of range"),
    "negative index": (
        lambda f: _edit(f, "X/indices", lambda a: np.where(a == a.max(), -1, a)),
        "X/indices", "out of range"),
    "indptr not monotonic": (
        lambda f: _edit(f, "X/indptr", lambda a: np.r_[a[0], a[2], a[1], a[3:]]),
        "X/indptr", "decreases"),
    "indptr not starting at 0": (
        lambda f: _edit(f, "X/indptr", lambda a: a + 1), "X/indptr", "starts at 1"),
    "indptr of floats": (
        lambda f: _edit(f, "X/indptr", lambda a: a.astype(np.float64)),
        "X/indptr", "integers, not fractional"),
    "indices of floats": (
        lambda f: _edit(f, "X/indices", lambda a: a.astype(np.float32) + 0.5),
        "X/indices", "integers, not fractional"),
    "indptr too short": (lambda f: _edit(f, "X/indptr", _short), "X/indptr", "expected"),
    "indices shorter than data": (lambda f: _edit(f, "X/indices", _short), "X/indices",
                                  "expected"),
    "complex values": (
        lambda f: _edit(f, "X/data", lambda a: a.astype(np.complex64) + 1j),
        "X/data", "complex"),
    "string values": (
        lambda f: _edit(f, "X/data", lambda a: a.astype("S8")), "X/data", "strings"),
    "compound values": (
        lambda f: _edit(f, "X/data", lambda a: np.array(
            [(v, v) for v in a], dtype=[("a", "f4"), ("b", "f4")])),
        "X/data", "compound"),
    "scalar data": (lambda f: _set(f, "X/data", 3.0), "X/data", "scalar"),
    "2-D indices": (
        lambda f: _edit(f, "X/indices", lambda a: a.reshape(1, -1)), "X/indices",
        "2-dimensional"),
    "shape of strings": (
        lambda f: f["X"].attrs.__setitem__("shape", np.array([b"9", b"6"])), "X",
        "two integers"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_h5ad_is_refused_naming_the_object(
    case: str, ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_h5ad(ref, tmp_path / "bad.h5ad")
    change, obj, match = CORRUPT[case]
    with h5py.File(path, "r+") as f:
        change(f)
    assert_import_fails([path], tmp_path, limits, match=match, field=f"bad.h5ad:{obj}")


def test_corrupt_10x_and_loom(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    tenx = write_10x_h5(ref, tmp_path / "bad.h5")
    with h5py.File(tenx, "r+") as f:
        _set(f, "matrix/shape", 6)  # a scalar where (genes, cells) is expected
    assert_import_fails([tenx], tmp_path, limits, match="two integers",
                        field="bad.h5:matrix/shape")
    tenx = write_10x_h5(ref, tmp_path / "bad2.h5")
    with h5py.File(tenx, "r+") as f:
        _edit(f, "matrix/indptr", lambda a: a.astype(np.float32))
    assert_import_fails([tenx], tmp_path, limits, match="integers",
                        field="bad2.h5:matrix/indptr")
    tenx = write_10x_h5(ref, tmp_path / "bad3.h5")
    with h5py.File(tenx, "r+") as f:
        _edit(f, "matrix/barcodes", _short)
    assert_import_fails([tenx], tmp_path, limits, match="8 entries; 9 expected",
                        field="bad3.h5:matrix/barcodes")
    loom = write_loom(ref, tmp_path / "bad.loom")
    with h5py.File(loom, "r+") as f:
        _edit(f, "matrix", lambda a: a.astype(np.complex64))
    assert_import_fails([loom], tmp_path, limits, match="complex", field="bad.loom:matrix")


def test_csc_h5ad_is_read_and_checked(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    import anndata
    import scipy.sparse as sp

    adata = anndata.AnnData(X=sp.csc_matrix(ref.counts))
    adata.obs_names, adata.var_names = ref.barcodes, ref.genes
    adata.write_h5ad(tmp_path / "csc.h5ad")
    import_matrix([tmp_path / "csc.h5ad"], tmp_path / "out", limits=limits)
    Y, genes, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(Y.toarray(), ref.counts)
    with h5py.File(tmp_path / "csc.h5ad", "r+") as f:
        _edit(f, "X/indices", lambda a: np.where(a == a.max(), 9, a))  # 9 cells: 9 is out
    assert_import_fails([tmp_path / "csc.h5ad"], tmp_path, limits, match="out of range",
                        field="csc.h5ad:X/indices")


def _never_written(f: h5py.File, obj: str, shape: tuple[int, ...], dtype: str = "f8") -> None:
    """A chunked dataset of a huge declared shape with no chunk written: a few bytes on disk."""
    if obj in f:
        del f[obj]
    chunks = tuple(min(n, 1024) for n in shape)
    f.create_dataset(obj, shape=shape, dtype=dtype, chunks=chunks)


def _never_written_10x(f: h5py.File) -> None:
    _never_written(f, "matrix/data", (10**9,), "i4")
    _never_written(f, "matrix/indices", (10**9,), "i4")


AMPLIFIERS: dict[str, tuple[str, Callable[[Reference, Path], Path], Callable[[h5py.File], None],
                            tuple[str, str] | None]] = {
    # (suffix, writer, change, (refused object, message) or None when the part is not read)
    "h5ad unused obsm": (".h5ad", write_h5ad,
                         lambda f: _never_written(f, "obsm/X_huge", (10**9, 64)), None),
    "h5ad unused layer": (".h5ad", write_h5ad,
                          lambda f: _never_written(f, "layers/spliced", (10**10,)), None),
    "h5ad X/data": (".h5ad", write_h5ad,
                    lambda f: _never_written(f, "X/data", (10**9,), "f4"),
                    ("X/data", "never written")),
    "h5ad obs column": (".h5ad", write_h5ad,
                        lambda f: _never_written(f, "obs/batch", (9 * 10**9,), "i8"), None),
    "10x data": (".h5", write_10x_h5, _never_written_10x, ("matrix/data", "never written")),
    "loom matrix": (".loom", write_loom,
                    lambda f: _never_written(f, "matrix", (6, 10**9), "f4"),
                    ("col_attrs/CellID", "9 entries; 1,000,000,000 expected")),
    "loom unused layer": (".loom", write_loom,
                          lambda f: _never_written(f, "layers/spliced", (6, 10**9), "f4"), None),
}


@pytest.mark.parametrize("case", list(AMPLIFIERS))
def test_a_tiny_file_declaring_huge_datasets_allocates_nothing(
    case: str, ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    suffix, writer, change, refused = AMPLIFIERS[case]
    path = writer(ref, tmp_path / f"amp{suffix}")
    with h5py.File(path, "r+") as f:
        change(f)
    assert path.stat().st_size < 1024**2
    tracemalloc.start()
    try:
        if refused is None:
            summary = import_matrix([path], tmp_path / "out", limits=limits)
            assert (summary.cells, summary.genes) == (9, 6)
        else:
            obj, match = refused
            with pytest.raises(IngestError, match=match) as info:
                import_matrix([path], tmp_path / "out", limits=limits)
            assert info.value.field == f"{path.name}:{obj}"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024**2, f"{peak:,} bytes"


def test_the_memory_budget_refuses_before_reading(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_h5ad(ref, tmp_path / "x.h5ad")
    small = ImportLimits(ratio_grace_bytes=limits.ratio_grace_bytes, max_memory_bytes=100)
    assert_import_fails([path], tmp_path, small, match="BIOBLOCKS_MAX_IMPORT_MEMORY_BYTES",
                        field="x.h5ad:obs/_index")


def test_an_obs_column_of_the_wrong_length_is_dropped_and_listed(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_h5ad(ref, tmp_path / "x.h5ad")
    with h5py.File(path, "r+") as f:
        f["obs/short"] = np.arange(4)
        f["obs"].attrs["column-order"] = np.array(["batch", "short"], dtype=object)
    summary = import_matrix([path], tmp_path / "out", limits=limits)
    assert "batch" in summary.obs_columns and "short" not in summary.obs_columns
    assert summary.dropped == [{"column": "short", "file": "x.h5ad",
                                "reason": "4 values for 9 rows"}]
    assert summary.to_matrix_info()["dropped"] == summary.dropped


_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits, import_matrix

warm, *paths = (Path(p) for p in sys.argv[1:])
import_matrix([warm], warm.parent / "warm", limits=ImportLimits())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for k, path in enumerate(paths):
    try:
        import_matrix([path], path.parent / f"out{k}", limits=ImportLimits())
    except IngestError:
        pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_peak_rss_of_the_amplification_imports_stays_far_under_256_mb(
    ref: Reference, tmp_path: Path
) -> None:
    """In a fresh process with the default limits (ru_maxrss, not only what tracemalloc sees)."""
    import subprocess
    import sys

    (tmp_path / "warm").mkdir()
    paths = [write_h5ad(ref, tmp_path / "warm" / "warm.h5ad")]
    for k, (suffix, writer, change, _) in enumerate(AMPLIFIERS.values()):
        (tmp_path / str(k)).mkdir()
        path = writer(ref, tmp_path / str(k) / f"amp{suffix}")
        with h5py.File(path, "r+") as f:
            change(f)
        paths.append(path)
    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, *map(str, paths)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    growth = int(proc.stdout.strip().splitlines()[-1])
    print(f"peak RSS growth over {len(paths) - 1} amplification imports: {growth:,} bytes")
    assert growth < 64 * 1024**2, f"peak RSS grew by {growth:,} bytes"


@pytest.mark.parametrize(("writer", "seed"), [(write_h5ad, 1), (write_10x_h5, 1),
                                            (write_loom, 4), (write_loom, 5)],
                         ids=["h5ad", "10x_h5", "loom-nul-name", "loom-bad-encoding"])
def test_flipped_bytes_give_an_import_or_a_clean_error(
    writer: Callable[[Reference, Path], Path], seed: int, ref: Reference, tmp_path: Path,
    limits: ImportLimits,
) -> None:
    """Damaged files (fixed seeds) never raise anything but :class:`IngestError` (no 500s);
    among them a gene name with a NUL byte and a string encoding h5py cannot decode."""
    import random

    base = writer(ref, tmp_path / "base.h5").read_bytes()
    rng = random.Random(seed)
    for k in range(40):
        damaged = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"f{k}.h5"
        path.write_bytes(bytes(damaged))
        try:
            import_matrix([path], tmp_path / f"out{k}", limits=limits)
        except IngestError as exc:
            assert exc.field is not None and "\n" not in str(exc)


def test_a_gene_name_with_a_nul_byte_is_refused(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_10x_h5(ref, tmp_path / "nul.h5")
    with h5py.File(path, "r+") as f:
        _set(f, "matrix/features/name", np.array([b"Ac\x00tb", *map(str.encode, ref.genes[1:])],
                                                 dtype="S8"))
    assert_import_fails([path], tmp_path, limits, match="gene name holds a NUL", field="nul.h5")
