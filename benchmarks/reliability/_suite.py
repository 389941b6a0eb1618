"""Runs the checks on their servers and prints the table."""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import machine_line, print_table

from ._crash import crashes, hold_env, prepare_dataset
from ._disk import available as disk_available
from ._disk import full_disk
from ._fuzz import fuzz
from ._hostile import LIMITS, hostile
from ._load import load
from ._row import Row
from ._server import POSTGRES_URL, postgres_schema, running_server
from ._signals import signals
from ._traversal import traversal
from ._writes import concurrency, credentials

#: Names accepted by ``--only``.
CHECK_NAMES = ("schemathesis", "credentials", "concurrency", "hostile", "traversal", "crashes",
               "load", "postgres", "disk", "signals")


def _timed(name: str, fn: Callable[[], Row]) -> Row:
    """Run one check; an exception becomes a row that did not hold (the others go on)."""
    start = time.monotonic()
    try:
        row = fn()
    except Exception as exc:  # noqa: BLE001 - one check's failure must not stop the suite
        row = Row(name, 0, 0, error=f"{type(exc).__name__}: {exc}"[:300])
        traceback.print_exc()
    row.seconds = time.monotonic() - start
    print(f"  {row.check}: {'held' if row.ok else 'DID NOT HOLD'} "
          f"({row.held}/{row.tried}, {row.seconds:.0f} s)", flush=True)
    return row


def _populate(settings: Any, store: Any) -> None:
    del store
    from bioblocks.metadata import populate

    populate(settings, None)


def run_suite(*, quick: bool, workdir: Path | None = None, postgres: bool = True,
              only: Sequence[str] | None = None) -> list[Row]:
    """Run the checks (all, or those named in ``only``); return one row each.

    ``quick``: fewer requests, 2 worker kills, 50 clients for 10 s. Servers and
    their data live under ``workdir`` (a temporary folder by default).
    """
    wanted = set(only or CHECK_NAMES)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bioblocks-reliability-",
                                     dir=workdir) as tmp:
        root = Path(tmp)
        if "schemathesis" in wanted:
            print("schemathesis server ...", flush=True)
            try:
                with running_server(root / "fuzz", prepare=_populate) as server:
                    rows.append(_timed("schemathesis", lambda: fuzz(server, quick=quick,
                                                                    workdir=root / "fuzz")))
            except Exception as exc:  # noqa: BLE001
                rows.append(Row("schemathesis", 0, 0, error=f"server: {exc}"[:300]))
        main_checks = wanted & {"credentials", "concurrency", "hostile", "traversal", "crashes",
                                "load"}
        if main_checks:
            print("SQLite server ...", flush=True)
            holder: dict[str, str] = {}

            def prepare(settings: Any, store: Any) -> None:
                _populate(settings, store)
                holder["dataset"] = prepare_dataset(settings, store, n_cells=600 if quick else 1500,
                                                    workdir=root / "main")

            try:
                with running_server(root / "main", prepare=prepare,
                                    env={**LIMITS, "BIOBLOCKS_JOB_WORKERS": "2",
                                         **hold_env(root / "hold")}) as server:
                    ds = holder["dataset"]
                    plan: list[tuple[str, Callable[[], Row]]] = [
                        ("credentials", lambda: credentials(server)),
                        ("concurrency", lambda: concurrency(server, label="SQLite",
                                                            rounds=1 if quick else 3)),
                        ("hostile", lambda: hostile(server, ds)),
                        ("traversal", lambda: traversal(server)),
                        ("crashes", lambda: crashes(server, ds, kills=2 if quick else 10,
                                                    deadline_s=240 if quick else 900,
                                                    hold=root / "hold")),
                        ("load", lambda: load(server, ds, clients=50 if quick else 200,
                                              seconds=10 if quick else 60)),
                    ]
                    rows += [_timed(name, fn) for name, fn in plan if name in wanted]
            except Exception as exc:  # noqa: BLE001
                rows.append(Row("SQLite server", 0, 0, error=f"{type(exc).__name__}: {exc}"[:300]))
        if "signals" in wanted:
            print("signals ...", flush=True)
            rows.append(_timed("signals", lambda: signals(root / "signals")))
        if "disk" in wanted:
            if disk_available():
                print("full-disk server ...", flush=True)
                rows.append(_timed("disk", lambda: full_disk(root / "disk")))
            else:
                print("full disk: skipped (mounting a tmpfs needs root)", flush=True)
        if postgres and ("postgres" in wanted or "concurrency" in wanted):
            print("PostgreSQL server ...", flush=True)
            try:
                with postgres_schema(POSTGRES_URL) as url, \
                        running_server(root / "pg", database_url=url) as server:
                    rows.append(_timed("concurrency", lambda: concurrency(
                        server, label="PostgreSQL", rounds=1 if quick else 3)))
                    if "postgres" in wanted:
                        rows.append(_timed("credentials", lambda: _relabel(
                            credentials(server), "credentials (PostgreSQL)")))
            except Exception as exc:  # noqa: BLE001
                rows.append(Row("PostgreSQL server", 0, 0,
                                error=f"{type(exc).__name__}: {exc}"[:300]))
    return rows


def _relabel(row: Row, check: str) -> Row:
    row.check = check
    return row


def print_rows(rows: Sequence[Row], *, title: str) -> None:
    """Print the table (check, tried, held, result, seconds, notes) and the machine line."""
    print(machine_line(), flush=True)
    print_table(
        ["check", "tried", "held", "result", "s", "notes"],
        [[r.check, r.tried, r.held, "held" if r.ok else "FAILED", round(r.seconds),
          (r.notes + (f"; error: {r.error}" if r.error else "")).strip("; ")] for r in rows],
        title=title,
    )
