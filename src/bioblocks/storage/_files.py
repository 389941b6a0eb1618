"""Paths of the files tree, confinement of request paths, atomic directory writes."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

from ..errors import BioblocksError, StorageFullError
from ._space import is_disk_full, storage_full
from ._staging import staging_path

_UUID_CHARS = set("0123456789abcdef-")


class PathOutsideDataDir(BioblocksError):
    """A requested path is malformed or would leave the data directory."""


def _check_id(value: str, what: str) -> str:
    if not value or len(value) > 64 or not set(value) <= _UUID_CHARS:
        raise PathOutsideDataDir(f"{what} {value!r} is not a valid id")
    return value


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    """Return ``<data_dir>/datasets/<dataset_id>`` (not created)."""
    return Path(data_dir) / "datasets" / _check_id(dataset_id, "dataset id")


def matrix_dir(data_dir: Path, dataset_id: str) -> Path:
    """Return the folder holding a dataset's canonical matrix."""
    return dataset_dir(data_dir, dataset_id) / "matrix"


def matrix_path(data_dir: Path, dataset_id: str) -> Path:
    """Return the path of a dataset's canonical ``matrix.h5ad``."""
    return matrix_dir(data_dir, dataset_id) / "matrix.h5ad"


def analysis_dir(data_dir: Path, dataset_id: str, analysis_id: str) -> Path:
    """Return ``<data_dir>/datasets/<dataset_id>/analyses/<analysis_id>`` (not created)."""
    return dataset_dir(data_dir, dataset_id) / "analyses" / _check_id(analysis_id, "analysis id")


def media_dir(data_dir: Path) -> Path:
    """Return the folder of uploaded media files."""
    return Path(data_dir) / "media"


def tmp_dir(data_dir: Path) -> Path:
    """Return (creating it) the staging folder, on the same filesystem as the tree."""
    path = Path(data_dir) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_resolve(root: Path, requested: str, *, decode: bool = False) -> Path:
    """Resolve ``requested`` (a URL path below ``root``) to a real path inside ``root``.

    Rejects NUL bytes, backslashes, absolute paths, ``..`` segments (also when
    percent-encoded, if ``decode``), and symlinks that point outside ``root``.
    Returns the resolved path; it may not exist. Raises :class:`PathOutsideDataDir`.
    """
    text = unquote(requested) if decode else requested
    if "\x00" in text or "\\" in text or len(text) > 4096:
        raise PathOutsideDataDir("malformed path")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise PathOutsideDataDir("absolute paths are not allowed")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise PathOutsideDataDir("'..' is not allowed in paths")
    root_real = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(root_real.joinpath(*parts))) if parts else root_real
    if candidate != root_real and root_real not in candidate.parents:
        raise PathOutsideDataDir("path leaves the data directory")
    return candidate


@contextlib.contextmanager
def atomic_dir(final: Path, *, data_dir: Path, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh staging folder; on success rename it to ``final`` in one step.

    On any exception the staging folder is removed and ``final`` is untouched, so
    readers never see a half-written folder; a full disk (``ENOSPC`` anywhere
    below) becomes :class:`StorageFullError`. With ``replace``, an existing
    ``final`` is swapped out (moved aside, then deleted) after the new one is in
    place. The staging names carry their owner process, so the start-up sweep
    (:func:`bioblocks.storage.sweep_staging`) removes them once it is gone.
    """
    tmp_dir(data_dir)
    staging = staging_path(data_dir, final.name, suffix=".partial")
    try:
        staging.mkdir()
    except OSError as exc:
        if is_disk_full(exc):
            raise storage_full(staging.parent) from exc
        raise
    try:
        yield staging
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            if not replace:
                raise FileExistsError(f"{final} already exists")
            aside = staging_path(data_dir, final.name, suffix=".old")
            os.replace(final, aside)
            os.replace(staging, final)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if not isinstance(exc, StorageFullError) and is_disk_full(exc):
            raise storage_full(staging.parent) from exc
        raise
