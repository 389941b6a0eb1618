"""``python -m benchmarks.reliability [--quick] [--no-postgres] [--only NAME ...]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from . import CHECK_NAMES, print_rows, run_suite


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print its table; return 0 when every row held, else 1."""
    parser = argparse.ArgumentParser(description="Reliability suite against a real server.")
    parser.add_argument("--quick", action="store_true",
                        help="a few hundred fuzz cases, 2 kills, 50 clients for 10 s")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the PostgreSQL pass (needs 127.0.0.1:5432 db `test`)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the temporary data directories go (default: system temp)")
    parser.add_argument("--only", nargs="+", choices=CHECK_NAMES, help="run only these checks")
    args = parser.parse_args(argv)
    start = time.monotonic()
    rows = run_suite(quick=args.quick, postgres=not args.no_postgres, only=args.only,
                     workdir=args.workdir)
    took = time.monotonic() - start
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print_rows(rows, title=f"reliability ({'quick' if args.quick else 'full'}), {stamp}, "
                           f"{took:.0f} s")
    return 0 if rows and all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
