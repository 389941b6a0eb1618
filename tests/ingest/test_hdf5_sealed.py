"""HDF5 inputs are opened sealed: nothing in a file can make the importer read another file.

Each hostile file points one object — one the reader uses, or one in a part it
never reads — at a canary file outside the data directory, by an external link,
external storage, a virtual dataset or a soft link that leaves the file. Every
import is refused naming the object, and the canary's text appears nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits, import_matrix
from bioblocks.ingest._hdf5 import hdf5_kind

from ._formats import Reference, write_10x_h5, write_h5ad, write_loom

CANARY = "CANARY-SECRET-00"  # 16 bytes, repeated: the content of the file outside


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the import, with a canary text file and a canary HDF5 file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.txt").write_bytes(CANARY.encode() * 64)
    with h5py.File(folder / "canary.h5", "w") as f:
        f["names"] = np.array([CANARY] * 6, dtype="S16")
        f["values"] = np.arange(100, dtype=np.int32)
    return folder


def _replace(f: h5py.File, obj: str, make: Callable[[h5py.Group, str], None]) -> None:
    parent_name, _, leaf = obj.rpartition("/")
    parent = f.require_group(parent_name) if parent_name else f
    if leaf in parent:
        del parent[leaf]
    make(parent, leaf)


def _external_link(outside: Path) -> Callable[[h5py.Group, str], None]:
    def make(parent: h5py.Group, leaf: str) -> None:
        parent[leaf] = h5py.ExternalLink(str(outside / "canary.h5"), "/names")

    return make


def _relative_external_link(outside: Path) -> Callable[[h5py.Group, str], None]:
    def make(parent: h5py.Group, leaf: str) -> None:
        parent[leaf] = h5py.ExternalLink("../outside/canary.h5", "/names")

    return make


def _external_storage(outside: Path) -> Callable[[h5py.Group, str], None]:
    def make(parent: h5py.Group, leaf: str) -> None:
        parent.create_dataset(
            leaf, shape=(6,), dtype="S16", external=[(str(outside / "canary.txt"), 0, 96)]
        )

    return make


def _virtual(outside: Path) -> Callable[[h5py.Group, str], None]:
    def make(parent: h5py.Group, leaf: str) -> None:
        layout = h5py.VirtualLayout(shape=(6,), dtype="S16")
        layout[:] = h5py.VirtualSource(str(outside / "canary.h5"), "names", shape=(6,))
        parent.create_virtual_dataset(leaf, layout)

    return make


def _soft_out(outside: Path) -> Callable[[h5py.Group, str], None]:
    def make(parent: h5py.Group, leaf: str) -> None:
        parent[leaf] = h5py.SoftLink("/../outside/canary.h5/names")

    return make


ATTACKS = {
    "external link": _external_link,
    "relative external link": _relative_external_link,
    "external storage": _external_storage,
    "virtual dataset": _virtual,
    "soft link leaving the file": _soft_out,
}

#: (writer, suffix, object the reader reads, object in a part the reader never reads)
FORMATS = {
    "h5ad": (write_h5ad, ".h5ad", "var/_index", "uns/notes"),
    "10x_h5": (write_10x_h5, ".h5", "matrix/features/name", "matrix/extra"),
    "loom": (write_loom, ".loom", "row_attrs/Gene", "layers/spliced"),
}


def hostile_file(
    kind: str, attack: str, *, where: str, ref: Reference, folder: Path, outside: Path
) -> tuple[Path, str]:
    """Write a ``kind`` file with ``attack`` at its used (``where='used'``) or unused object."""
    writer, suffix, used, unused = FORMATS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    path = writer(ref, folder / f"hostile{suffix}")
    obj = used if where == "used" else unused
    with h5py.File(path, "r+") as f:
        _replace(f, obj, ATTACKS[attack](outside))
    return path, obj


@pytest.mark.parametrize("where", ["used", "unused"])
@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("kind", list(FORMATS))
def test_hostile_hdf5_is_refused_without_reading_outside(
    kind: str,
    attack: str,
    where: str,
    ref: Reference,
    tmp_path: Path,
    outside: Path,
    limits: ImportLimits,
) -> None:
    path, obj = hostile_file(
        kind, attack, where=where, ref=ref, folder=tmp_path / "in", outside=outside
    )
    dest = tmp_path / "out"
    with pytest.raises(IngestError) as info:
        import_matrix([path], dest, limits=limits)
    error = info.value
    assert error.field == f"{path.name}:{obj}", error
    expected = {"soft link leaving the file": "soft link", "virtual dataset": "virtual",
                "external storage": "external file"}.get(attack, "external link")
    assert expected in error.message
    assert CANARY not in str(error) and "\n" not in str(error)
    assert not (dest / "matrix.h5ad").exists()
    written = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
    assert all(CANARY.encode() not in p.read_bytes() for p in written)


def test_format_detection_is_sealed_too(ref: Reference, tmp_path: Path, outside: Path) -> None:
    """Telling the kind of file already refuses an external link at the top."""
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f["matrix"] = h5py.ExternalLink(str(outside / "canary.h5"), "/")
    with pytest.raises(IngestError, match="external link") as info:
        hdf5_kind(path)
    assert info.value.field == "x.h5:matrix"


def test_a_hard_link_cycle_and_an_inner_soft_link_are_fine(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    """Links that stay inside the file are read as before (the walk visits each object once)."""
    path = write_h5ad(ref, tmp_path / "ok.h5ad")
    with h5py.File(path, "r+") as f:
        uns = f.require_group("uns")
        uns["loop"] = uns  # a hard link to itself
        uns["alias"] = h5py.SoftLink("/obs")
    summary = import_matrix([path], tmp_path / "out", limits=limits)
    assert (summary.cells, summary.genes) == (9, 6)


def test_an_object_reached_by_an_attribute_reference_is_sealed_too(
    ref: Reference, tmp_path: Path, outside: Path, limits: ImportLimits
) -> None:
    """Old AnnData files point to a column's categories with an object reference, which
    readers follow: the walk follows it too (here before it reaches the object's own link,
    which it walks last), so a crafted file whose referenced object has no link is sealed."""
    path = write_h5ad(ref, tmp_path / "refs.h5ad")
    with h5py.File(path, "r+") as f:
        target = f.create_dataset("X/zz", shape=(2,), dtype="S16",
                                  external=[(str(outside / "canary.txt"), 0, 32)])
        del f["obs/batch"]
        codes = f.create_dataset("obs/batch", data=np.array([0] * 4 + [1] * 5, dtype=np.int8))
        codes.attrs["categories"] = target.ref
    with pytest.raises(IngestError, match="external file") as info:
        import_matrix([path], tmp_path / "out", limits=limits)
    assert info.value.field == "refs.h5ad:obs/batch"
    assert CANARY not in str(info.value)
