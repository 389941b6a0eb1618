"""A full disk is a clear error: recognised, checked before big writes, nothing left behind."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from bioblocks.errors import StorageFullError
from bioblocks.storage import atomic_dir, ensure_free_space, is_disk_full


def test_disk_full_is_recognised() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    h5 = OSError("Can't write data (file write failed: ..., errno = 28, error message = ...)")
    assert is_disk_full(h5)
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("bad value"))


def test_free_space_is_checked_before_writing(tmp_path: Path) -> None:
    ensure_free_space(tmp_path, 1024, what="a small file")
    with pytest.raises(StorageFullError, match="Insufficient Storage.*needed"):
        ensure_free_space(tmp_path, 2**62, what="an enormous file")


def test_atomic_dir_turns_enospc_into_storage_full(tmp_path: Path) -> None:
    final = tmp_path / "datasets" / "0123abcd" / "matrix"
    with pytest.raises(StorageFullError, match="disk of the data directory is full"):
        with atomic_dir(final, data_dir=tmp_path) as staging:
            (staging / "matrix.h5ad").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not final.exists()
    assert list((tmp_path / "tmp").iterdir()) == []
