"""Worker presence: how a client can tell that some worker is polling for jobs.

Every job worker (a local worker process's poll loop, a Celery worker) keeps a
file ``<data_dir>/workers/<host>-<pid>.alive`` fresh while it runs: a thread
rewrites it every ``BEAT_SECONDS``, also while a long job runs, and the file is
removed when the worker stops. :func:`polling_workers` lists the workers whose
file is fresh (and, on this host, whose process is alive), so
``bioblocks job submit --wait`` can say that nothing will run a queued job
instead of waiting forever. The data directory is shared by every worker
(see the README), so this works across machines too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..storage import process_alive

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
FRESH_SECONDS = 15.0
SUFFIX = ".alive"


def presence_dir(settings: Settings) -> Path:
    """Return the folder of the presence files, ``<data_dir>/workers`` (not created)."""
    return settings.resolved_data_dir / "workers"


class Presence:
    """Keep this process's presence file fresh while the ``with`` block runs.

    ``path`` is ``<data_dir>/workers/<host>-<pid>.alive``; it holds the worker
    name and is removed on exit.
    """

    def __init__(self, settings: Settings, *, beat: float = BEAT_SECONDS) -> None:
        self.path = presence_dir(settings) / f"{socket.gethostname()}-{os.getpid()}{SUFFIX}"
        self.beat = beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-presence", daemon=True)

    def _touch(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"{socket.gethostname()}:{os.getpid()}\n", encoding="utf-8")
        except OSError:  # a full or read-only disk must not stop the worker
            log.warning("could not write the worker presence file %s", self.path, exc_info=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.beat):
            self._touch()

    def __enter__(self) -> Presence:
        self._touch()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.path.unlink()


def polling_workers(settings: Settings, *, fresh: float = FRESH_SECONDS) -> list[str]:
    """Return the names (``host:pid``) of the workers whose presence file is fresh.

    A file of this host whose process is gone is not counted (and removed);
    one of another host counts while it was rewritten within ``fresh`` seconds.
    """
    folder = presence_dir(settings)
    if not folder.is_dir():
        return []
    host, now = socket.gethostname(), time.time()
    alive: list[str] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name[: -len(SUFFIX)]
        owner, _, pid = name.rpartition("-")
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        if owner == host and pid.isdigit():
            if not process_alive(int(pid)):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
        elif age > fresh:
            continue
        alive.append(f"{owner}:{pid}")
    return alive
