"""Run every benchmark in turn: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each benchmark module (api, ingest, analysis, export, expression, web, jobs — those
present) runs as its own process, ``python -m benchmarks.<name> [--quick]``, so
one that fails or runs out of memory does not stop the others. Their tables
are printed as they come; at the end a summary (module, exit code, seconds)
and the machine line. The exit code is 1 when any module failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import machine_line, print_table

REPO = Path(__file__).resolve().parents[1]
#: The benchmark modules, in the order they run.
MODULES = ("api", "ingest", "analysis", "export", "expression", "web", "jobs")


def available() -> list[str]:
    """Return the names of :data:`MODULES` that exist in this checkout."""
    return [name for name in MODULES if importlib.util.find_spec(f"benchmarks.{name}") is not None]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print each table, then the summary; return 0 when all succeeded."""
    parser = argparse.ArgumentParser(description="Run every benchmark and print its table.")
    parser.add_argument("--quick", action="store_true", help="small sizes only (passed on)")
    parser.add_argument("--only", nargs="+", choices=MODULES, metavar="NAME",
                        help=f"run only these ({', '.join(MODULES)})")
    args = parser.parse_args(argv)
    present = available()
    names = [n for n in (args.only or present) if n in present]
    missing = [n for n in (args.only or MODULES) if n not in present]
    print(machine_line(), flush=True)
    rows: list[list[object]] = []
    for name in names:
        print(f"\n== benchmarks.{name}{' --quick' if args.quick else ''} ==", flush=True)
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if args.quick else [])]
        start = time.monotonic()
        code = subprocess.run(cmd, cwd=REPO, check=False).returncode
        rows.append([name, code, time.monotonic() - start, "ok" if code == 0 else "FAILED"])
    rows += [[name, None, None, "not in this checkout"] for name in missing]
    print(flush=True)
    print(machine_line(), flush=True)
    print_table(["benchmark", "exit", "seconds", "result"], rows,
                title=f"benchmarks ({'quick' if args.quick else 'full'} sizes)")
    return 0 if all(r[1] == 0 for r in rows if r[1] is not None) and rows else 1


if __name__ == "__main__":
    sys.exit(main())
