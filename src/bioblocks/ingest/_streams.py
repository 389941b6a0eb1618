"""Import limits and guarded byte streams (gzip and archive members, bomb-proof).

Every byte an import decompresses passes through :class:`GuardedStream`, which
counts what it has produced against the import's :class:`Budget` (total
uncompressed bytes) and against the compressed bytes it actually consumed
(compression ratio). Sizes written in headers are never trusted.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..config import Settings
from ..errors import IngestError, InputTooLarge

GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 20


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB"


@dataclass(frozen=True, kw_only=True)
class ImportLimits:
    """Limits of one import.

    ``max_uncompressed_bytes`` bounds the bytes produced by all decompression
    (gzip members, zip members) of one import; ``max_compression_ratio`` bounds
    produced/consumed bytes of each compressed stream, checked once a stream
    has produced ``ratio_grace_bytes`` (small files may legitimately have high
    ratios); ``max_nonzeros`` bounds the stored entries of the matrix;
    ``max_memory_bytes`` bounds the arrays an import allocates (checked from the
    input's declared sizes before anything is read).
    """

    max_uncompressed_bytes: int = 256 * 1024**3
    max_compression_ratio: float = 250.0
    ratio_grace_bytes: int = 16 * 1024**2
    max_nonzeros: int = 2**31 - 1
    max_download_bytes: int = 64 * 1024**3
    max_memory_bytes: int = 32 * 1024**3

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportLimits:
        """Return the limits configured in ``settings``."""
        return cls(
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
            max_compression_ratio=settings.max_compression_ratio,
            max_download_bytes=settings.max_upload_bytes,
            max_memory_bytes=settings.max_import_memory_bytes,
        )


@dataclass(kw_only=True)
class Budget:
    """Uncompressed bytes produced so far by one import (shared by all its streams)."""

    limits: ImportLimits
    used: int = field(default=0)

    def reserve_memory(self, n: int, *, name: str, what: str) -> None:
        """Check, *before* allocating, that ``n`` bytes for ``what`` fit the memory budget.

        Raises :class:`bioblocks.errors.InputTooLarge` (HTTP 413) naming the
        file and the setting; returns nothing.
        """
        limit = self.limits.max_memory_bytes
        if n > limit:
            raise InputTooLarge(
                f"{what} would need about {_size(n)} of memory, above the import memory "
                f"budget of {_size(limit)} (BIOBLOCKS_MAX_IMPORT_MEMORY_BYTES); split the "
                "input or raise the limit",
                field=name,
            )

    def spend(self, n: int, *, name: str) -> None:
        """Count ``n`` produced bytes; raise :class:`IngestError` past the limit."""
        self.used += n
        if self.used > self.limits.max_uncompressed_bytes:
            raise IngestError(
                f"uncompressed data exceeds the limit of {self.limits.max_uncompressed_bytes:,} "
                "bytes (BIOBLOCKS_MAX_UNCOMPRESSED_BYTES); split the input or raise the limit",
                field=name,
            )


class GuardedStream(io.RawIOBase):
    """A readable stream over ``raw`` that gunzips (if ``gzip``) and enforces the limits.

    ``compressed_size`` (for an archive member read through ``zipfile``) is the
    most bytes the member can consume; without it the stream counts the bytes
    it read from ``raw``. Raises :class:`IngestError` for a truncated or corrupt
    gzip stream, a ratio above the limit, or a budget overrun.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        name: str,
        budget: Budget,
        gzip: bool,
        compressed_size: int | None = None,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._name = name
        self._budget = budget
        self._gzip = gzip
        self._compressed_size = compressed_size
        self._decomp = zlib.decompressobj(wbits=31) if gzip else None
        self._pending = b""
        self._consumed = 0
        self._produced = 0
        self._raw_eof = False

    def readable(self) -> bool:
        return True

    @property
    def consumed(self) -> int:
        """Bytes read so far from the underlying (compressed) stream."""
        return self._consumed

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

    def _check_ratio(self) -> None:
        limits = self._budget.limits
        consumed = self._compressed_size if self._compressed_size is not None else self._consumed
        if (
            self._produced > limits.ratio_grace_bytes
            and self._produced > limits.max_compression_ratio * max(consumed, 1)
        ):
            raise IngestError(
                f"compression ratio above {limits.max_compression_ratio:g} "
                "(BIOBLOCKS_MAX_COMPRESSION_RATIO): refusing a possible decompression bomb",
                field=self._name,
            )

    def _produce(self, data: bytes) -> bytes:
        self._produced += len(data)
        self._budget.spend(len(data), name=self._name)
        self._check_ratio()
        return data

    def _next_gzip_output(self, size: int) -> bytes:
        decomp = self._decomp
        assert decomp is not None
        while True:
            if decomp.eof:
                rest = decomp.unused_data
                if not rest and not self._raw_eof:
                    rest = self._read_raw()
                if not rest:
                    return b""
                # another gzip member follows (concatenated gzip, e.g. bgzip)
                self._decomp = decomp = zlib.decompressobj(wbits=31)
                data = rest
            elif decomp.unconsumed_tail:
                data = decomp.unconsumed_tail
            else:
                data = self._read_raw()
                if not data:
                    raise IngestError(
                        "the gzip stream ends before its end marker (truncated file?)",
                        field=self._name,
                    )
            try:
                out = decomp.decompress(data, max(size, 1))
            except zlib.error as exc:
                raise IngestError(f"corrupt gzip data ({exc})", field=self._name) from exc
            if out:
                return out

    def _read_raw(self) -> bytes:
        try:
            data = self._raw.read(_READ_SIZE)
        except EOFError as exc:
            raise IngestError(f"truncated archive member ({exc})", field=self._name) from exc
        except zlib.error as exc:
            raise IngestError(f"corrupt compressed data ({exc})", field=self._name) from exc
        except OSError as exc:
            raise IngestError(f"cannot read ({exc})", field=self._name) from exc
        if not data:
            self._raw_eof = True
        self._consumed += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = len(buffer)
        if not self._pending:
            if self._gzip:
                self._pending = self._next_gzip_output(size)
            else:
                self._pending = self._read_raw()
            if not self._pending:
                return 0
            self._produce(self._pending)
        n = min(size, len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def is_gzip(path: Path) -> bool:
    """Return whether ``path`` starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_input(path: Path, *, budget: Budget, name: str | None = None) -> io.BufferedReader:
    """Open ``path`` for reading bytes, gunzipping it (by content) through the limits."""
    gz = is_gzip(path)
    raw = open(path, "rb")  # noqa: SIM115 - owned by the returned stream
    stream = GuardedStream(raw, name=name or path.name, budget=budget, gzip=gz)
    return io.BufferedReader(stream, buffer_size=_READ_SIZE)


def read_all(path: Path, *, budget: Budget, name: str | None = None) -> bytes:
    """Return the (gunzipped) bytes of a small side file, within the limits."""
    with open_input(path, budget=budget, name=name) as fh:
        return fh.read()
