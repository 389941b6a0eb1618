"""A full disk as a clear error: free-space checks before big writes, ENOSPC recognised.

libhdf5 must never meet a full disk: after a failed write it may crash the
process later, while it frees its objects. So writers of HDF5 files check the
free space for an upper bound of what they will write
(:func:`ensure_free_space`) before they start, and every writer turns an
``ENOSPC``/``EDQUOT`` failure into :class:`bioblocks.errors.StorageFullError`
(:func:`is_disk_full`), after removing what it staged.
"""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

from ..errors import StorageFullError

log = logging.getLogger(__name__)

#: Free space kept beyond every estimate (the store, logs and metadata need some too).
FREE_SPACE_MARGIN = 1024**2
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "errno = 28", "disk is full")


def is_disk_full(exc: BaseException) -> bool:
    """Return whether ``exc`` (or an exception it was raised from) says the disk is full.

    Recognises ``OSError`` with ``ENOSPC``/``EDQUOT`` and the texts libhdf5
    (``errno = 28``) and SQLite (``database or disk is full``) use.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        text = str(seen)
        if any(t in text for t in _FULL_TEXTS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _size(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def storage_full(where: Path, *, need: int | None = None) -> StorageFullError:
    """Return the :class:`StorageFullError` for the disk holding ``where`` (to raise)."""
    try:
        free = shutil.disk_usage(where if where.exists() else where.parent).free
    except OSError:
        free = None
    parts = []
    if need is not None:
        parts.append(f"about {_size(need)} needed")
    if free is not None:
        parts.append(f"{_size(free)} free")
    detail = f" ({', '.join(parts)})" if parts else ""
    return StorageFullError(
        f"Insufficient Storage: the disk of the data directory is full{detail}; nothing was "
        "written. Free some space (or move BIOBLOCKS_DATA_DIR) and try again"
    )


def ensure_free_space(where: Path, need: int, *, what: str) -> None:
    """Raise :class:`StorageFullError` unless the disk holding ``where`` has room for ``need``.

    ``need`` is an upper bound of the bytes about to be written for ``what``;
    :data:`FREE_SPACE_MARGIN` plus 5 % are kept free beyond it. Returns nothing.
    """
    try:
        free = shutil.disk_usage(where).free
    except OSError:  # no statvfs here: let the write itself report
        return
    if free < need + need // 20 + FREE_SPACE_MARGIN:
        log.warning("%s: %s needed, %s free on the disk of %s", what, _size(need), _size(free),
                    where)
        raise storage_full(where, need=need)
