"""Per-application caches of what is read from analysis folders (expression stores, ranked
matrices, markers): one LRU class keyed by the folder's identity, and the get-or-create on
the application state."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

_C = TypeVar("_C")


class FolderCache:
    """A thread-safe LRU cache of values made from analysis folders, at most ``size``
    folders. Keys are the folder's path, inode and modification time, so a folder replaced
    in place (:func:`bioblocks.storage.atomic_dir`) is read again; one value is made by one
    thread while the others wait for it; evicted values with a ``close()`` are closed."""

    def __init__(self, *, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[object, ...], threading.Lock] = {}

    @staticmethod
    def _key(folder: Path) -> tuple[str, int, int]:
        stat = folder.stat()
        return (str(folder), stat.st_ino, stat.st_mtime_ns)

    def get(self, folder: Path, name: str, make: Callable[[], Any]) -> Any:
        """Return the cached ``name`` of ``folder``, made by ``make()`` on first use."""
        key = self._key(folder)
        with self._lock:
            entry = self._items.get(key)
            if entry is not None and name in entry:
                self._items.move_to_end(key)
                return entry[name]
            loading = self._loading.setdefault((*key, name), threading.Lock())
        with loading:
            with self._lock:
                entry = self._items.get(key)
                if entry is not None and name in entry:
                    return entry[name]
            value = make()
            with self._lock:
                self._items.setdefault(key, {})[name] = value
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    for old in self._items.popitem(last=False)[1].values():
                        close = getattr(old, "close", None)
                        if close is not None:
                            close()
                self._loading.pop((*key, name), None)
        return value


def app_cache(request: Request, attribute: str, make: Callable[[], _C]) -> _C:
    """Return the cache ``attribute`` of the request's application state, made by
    ``make()`` (and stored there) on first use."""
    state = request.app.state
    cache = getattr(state, attribute, None)
    if cache is None:
        cache = make()
        setattr(state, attribute, cache)
    return cache
