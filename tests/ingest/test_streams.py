"""Guarded gzip streams: concatenated members, corruption, truncation, budgets; format detection."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from bioblocks.config import Settings
from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits
from bioblocks.ingest._streams import Budget, GuardedStream, open_input

from ._formats import assert_import_fails


def test_plain_and_multi_member_gzip(tmp_path: Path, limits: ImportLimits) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"hello ") + gzip.compress(b"world\n"))
    budget = Budget(limits=limits)
    with open_input(path, budget=budget) as fh:
        assert fh.read() == b"hello world\n"
    assert budget.used == 12
    plain = tmp_path / "y.txt"
    plain.write_bytes(b"abc")
    with open_input(plain, budget=budget) as fh:
        assert fh.read() == b"abc"


def test_corrupt_gzip(tmp_path: Path, limits: ImportLimits) -> None:
    data = bytearray(gzip.compress(b"some text " * 1000))
    data[20:30] = b"\xff" * 10
    stream = GuardedStream(
        io.BytesIO(bytes(data)), name="c.gz", budget=Budget(limits=limits), gzip=True
    )
    with pytest.raises(IngestError, match="corrupt gzip data"):
        stream.read()


def test_budget_spans_all_streams(tmp_path: Path) -> None:
    budget = Budget(limits=ImportLimits(max_uncompressed_bytes=1500))
    for k in range(2):
        stream = GuardedStream(
            io.BytesIO(gzip.compress(b"a" * 700)), name=f"{k}", budget=budget, gzip=True
        )
        assert len(stream.read()) == 700
    stream = GuardedStream(
        io.BytesIO(gzip.compress(b"a" * 700)), name="third", budget=budget, gzip=True
    )
    with pytest.raises(IngestError, match="exceeds the limit") as info:
        stream.read()
    assert info.value.field == "third"


def test_limits_from_settings() -> None:
    settings = Settings(max_uncompressed_bytes=123, max_compression_ratio=9.5, max_upload_bytes=77)
    limits = ImportLimits.from_settings(settings)
    assert (limits.max_uncompressed_bytes, limits.max_compression_ratio) == (123, 9.5)
    assert limits.max_download_bytes == 77


def test_unknown_and_missing_inputs(tmp_path: Path, limits: ImportLimits) -> None:
    odd = tmp_path / "photo.png"
    odd.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert_import_fails([odd], tmp_path, limits, match="unknown matrix format", field="photo.png")
    empty = tmp_path / "e.tsv"
    empty.write_bytes(b"")
    assert_import_fails([empty], tmp_path / "2", limits, match="empty", field="e.tsv")
    assert_import_fails(
        [tmp_path / "nope.mtx"], tmp_path / "3", limits, match="not found", field="nope.mtx"
    )
