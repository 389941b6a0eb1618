"""Signals: ``bioblocks serve`` stopped by SIGTERM (what systemd sends) or SIGINT (Ctrl-C).

A server with two API processes and two job workers is signalled (the main
process only, as systemd and a terminal do); it must exit with status 0 and
leave no process of its tree behind (orphaned job workers would keep claiming
jobs for the next server).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ._row import Row
from ._server import running_server

#: Longest wait for the server and its children to be gone after the signal.
STOP_WITHIN_SECONDS = 60.0


def _children() -> dict[int, list[int]]:
    """Map each pid to its child pids, from ``/proc``."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def signals(root: Path) -> Row:
    """SIGTERM and SIGINT of ``serve``: exit 0 and no process left; return the row."""
    tried = held = 0
    notes: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        name = signal.Signals(sig).name
        with running_server(root / name.lower(), workers=2,
                            env={"BIOBLOCKS_JOB_WORKERS": "2"}) as server:
            assert server.proc is not None
            tree = _descendants(server.proc.pid)
            server.proc.send_signal(sig)
            deadline = time.monotonic() + STOP_WITHIN_SECONDS
            while time.monotonic() < deadline and (
                    server.proc.poll() is None or any(_alive(p) for p in tree)):
                time.sleep(0.2)
            left = sorted(p for p in tree if _alive(p))
            code = server.proc.poll()
            tried += 1
            if code == 0 and not left:
                held += 1
                notes.append(f"{name}: exit 0, {len(tree)} children gone")
            else:
                notes.append(f"{name}: exit {code}, left {left}")
    return Row("signals (serve stops its tree)", tried, held, "; ".join(notes))
