"""Staging names that carry their owner, and the crash sweep of ``<data_dir>/tmp/``.

Everything staged under ``tmp/`` (import and analysis staging folders, uploads
being received, folders moved aside) is named ``<stem>.<random>~<pid>-<start>@<host><suffix>``:
the owning process, its start time (so a recycled pid is not taken for the
owner) and the host. At start-up :func:`sweep_staging` removes what no live
owner holds: entries of this host whose process is gone, and entries of other
hosts or without an owner once nothing below them changed for ``max_age``
seconds. ``tmp/jobs/`` is left to the jobs' crash recovery, which knows which
jobs still run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

#: Entries without a live owner on this host are removed after this long untouched.
STALE_STAGING_SECONDS = 24 * 3600.0
_OWNER = re.compile(r"~(\d+)-(\d+)@([A-Za-z0-9-]+)(?:\.[a-z]+)?$")
_SKIP = ("jobs",)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname()) or "host"


def _start_time(pid: int) -> int:
    """Return the start time of process ``pid`` (clock ticks since boot; 0 if unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[19]) if fields[0] not in ("Z", "X") else -1
    except (OSError, IndexError, ValueError):
        return 0


def owner_tag() -> str:
    """Return this process's owner tag: ``<pid>-<start time>@<host>``."""
    pid = os.getpid()
    return f"{pid}-{max(_start_time(pid), 0)}@{_host()}"


def staging_path(data_dir: Path, stem: str, *, suffix: str = "") -> Path:
    """Return a new, unused path in ``<data_dir>/tmp/`` owned by this process (not created).

    The name is ``<stem>.<random hex>~<owner tag><suffix>`` (``suffix`` such as
    ``.partial``: lower-case letters after a dot); ``tmp/`` is created.
    """
    root = Path(data_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{stem}.{uuid.uuid4().hex}~{owner_tag()}{suffix}"


def process_alive(pid: int, start: int = 0) -> bool:
    """Return whether process ``pid`` runs on this host (not a zombie) and, when ``start``
    (its start time as in :func:`owner_tag`) is given and readable, is still that process
    and not a later one with a recycled pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    if now < 0:  # a zombie
        return False
    return now == 0 or start == 0 or now == start


def _newest_change(entry: Path, *, limit: int = 10_000) -> float:
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        seen = 0
        for folder, dirs, files in os.walk(entry):
            for name in (*dirs, *files):
                seen += 1
                if seen > limit:
                    return newest
                try:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
                except OSError:
                    continue
    return newest


def _abandoned(entry: Path, *, host: str, now: float, max_age: float) -> bool:
    match = _OWNER.search(entry.name)
    if match is not None and match.group(3) == host:
        return not process_alive(int(match.group(1)), int(match.group(2)))
    try:
        return now - _newest_change(entry) > max_age
    except OSError:
        return False


def sweep_staging(data_dir: Path, *, max_age: float = STALE_STAGING_SECONDS) -> list[Path]:
    """Remove what crashed processes left in ``<data_dir>/tmp/``; return the paths removed.

    Removed: entries whose owner (named in the entry, see :func:`staging_path`)
    ran on this host and is gone, and entries of other hosts or without an
    owner that nothing touched for ``max_age`` seconds. ``tmp/jobs/`` is left
    to the jobs' crash recovery. Errors are logged, never raised.
    """
    root = Path(data_dir) / "tmp"
    if not root.is_dir():
        return []
    host, now = _host(), time.time()
    removed: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name in _SKIP or not _abandoned(entry, host=host, now=now, max_age=max_age):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            log.warning("could not remove the abandoned staging entry %s", entry, exc_info=True)
            continue
        removed.append(entry)
    if removed:
        log.info("swept %d abandoned staging entr%s from %s", len(removed),
                 "y" if len(removed) == 1 else "ies", root)
    return removed
