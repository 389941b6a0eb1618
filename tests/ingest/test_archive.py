"""Zip archives: unsafe member paths, symlinks, bombs, corrupt archives."""

from __future__ import annotations

import gzip
import stat
import zipfile
from pathlib import Path

import pytest

from bioblocks.ingest import ImportLimits
from bioblocks.ingest._archive import extract_zip
from bioblocks.ingest._streams import Budget

from ._formats import Reference, assert_import_fails, write_hca_zip


@pytest.mark.parametrize(
    ("member", "match"),
    [
        ("../evil.txt", r"leaves the archive's folder"),
        ("top/../../evil.txt", r"leaves the archive's folder"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
        ("top\\..\\evil.txt", "unsafe member name"),
    ],
)
def test_unsafe_member_paths(
    member: str, match: str, ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    path = write_hca_zip(ref, tmp_path / "p.mtx.zip", extra={member: b"x"})
    assert_import_fails([path], tmp_path, limits, match=match, field="p.mtx.zip")
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_member(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    path = write_hca_zip(ref, tmp_path / "p.mtx.zip")
    info = zipfile.ZipInfo("p.mtx/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, "/etc/passwd")
    assert_import_fails([path], tmp_path, limits, match="symbolic link", field="p.mtx.zip")


def test_duplicate_member(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    path = write_hca_zip(ref, tmp_path / "p.mtx.zip")
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as zf:
        zf.writestr("p.mtx/genes.tsv.gz", b"x")
    assert_import_fails([path], tmp_path, limits, match="duplicate member", field="p.mtx.zip")


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/matrix.mtx", b"\0" * (4 * 1024 * 1024))
    limits = ImportLimits(ratio_grace_bytes=256 * 1024, max_compression_ratio=50)
    assert_import_fails(
        [path], tmp_path, limits, match="compression ratio", field="bomb.zip:bomb/matrix.mtx"
    )


def test_zip_total_size_limit(ref: Reference, tmp_path: Path) -> None:
    path = write_hca_zip(
        ref, tmp_path / "p.mtx.zip", extra={"p.mtx/big.bin": bytes(range(256)) * 4096}
    )
    limits = ImportLimits(max_uncompressed_bytes=100_000)
    assert_import_fails(
        [path], tmp_path, limits, match="exceeds the limit", field="p.mtx.zip:p.mtx/big.bin"
    )


def test_header_sizes_are_not_trusted(tmp_path: Path) -> None:
    """A member whose central-directory size lies is cut off by zipfile's own checks."""
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x/data.bin", b"a" * 1_000_000)
    raw = bytearray(path.read_bytes())
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (10).to_bytes(4, "little")  # claimed uncompressed size: 10 bytes
    path.write_bytes(bytes(raw))
    from bioblocks.errors import IngestError

    budget = Budget(limits=ImportLimits(ratio_grace_bytes=1024, max_compression_ratio=20))
    (tmp_path / "out").mkdir()
    with pytest.raises(IngestError, match="compression ratio|corrupt"):
        extract_zip(path, tmp_path / "out", budget=budget)


def test_gzip_bomb_inside_zip(ref: Reference, tmp_path: Path) -> None:
    header = "%%MatrixMarket matrix coordinate integer general\n%"
    bomb = gzip.compress((header + "x" * (8 * 1024 * 1024) + "\n6 9 1\n1 1 1\n").encode())
    path = write_hca_zip(ref, tmp_path / "p.mtx.zip", extra={"p.mtx/matrix.mtx.gz": bomb})
    limits = ImportLimits(ratio_grace_bytes=256 * 1024, max_compression_ratio=100)
    assert_import_fails(
        [path], tmp_path, limits, match="compression ratio", field="p.mtx.zip:matrix.mtx.gz"
    )


def test_corrupt_and_empty_zip(tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    assert_import_fails([path], tmp_path, limits, match="not a readable zip", field="broken.zip")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    assert_import_fails(
        [empty], tmp_path / "e", limits, match="archive is empty", field="empty.zip"
    )


def test_zip_with_two_matrices(ref: Reference, tmp_path: Path, limits: ImportLimits) -> None:
    path = write_hca_zip(ref, tmp_path / "p.mtx.zip", extra={"p.mtx/other.mtx": b"%%MatrixMarket"})
    assert_import_fails([path], tmp_path, limits, match="2 Matrix Market files", field="p.mtx.zip")


def test_too_many_members(
    tmp_path: Path, limits: ImportLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioblocks.ingest import _archive

    monkeypatch.setattr(_archive, "MAX_MEMBERS", 3)
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for k in range(4):
            zf.writestr(f"m/{k}.txt", b"x")
    assert_import_fails([path], tmp_path, limits, match="4 members", field="many.zip")


def test_lying_compressed_size_does_not_loosen_the_ratio(tmp_path: Path) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x/data.bin", b"\0" * 2_000_000)
    raw = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        at = raw.find(sig)
        raw[at + offset : at + offset + 4] = (10**9).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    from bioblocks.errors import IngestError

    budget = Budget(limits=ImportLimits(ratio_grace_bytes=64 * 1024, max_compression_ratio=50))
    (tmp_path / "out").mkdir()
    with pytest.raises(IngestError, match="compression ratio"):
        extract_zip(path, tmp_path / "out", budget=budget)
