"""The reliability suite: what a real server process survives, as one table.

    .venv/bin/python -m benchmarks.reliability [--quick] [--no-postgres] [--only NAME ...]

Starts ``bioblocks serve --workers 2`` on 127.0.0.1 (free port, temporary
data directory, SQLite; and a pass on PostgreSQL in a fresh schema) and runs
the checks: schemathesis on ``/openapi.json``, credentials on every write
endpoint, concurrent writers, hostile uploads, path traversal, SIGKILL of job
workers and of the server mid-job, and load while analyses run. Each check
returns a :class:`Row` (check, tried, held, notes); a failing check does not
stop the others; the exit code is 1 when any row did not hold.
"""

from ._row import Row
from ._suite import CHECK_NAMES, print_rows, run_suite

__all__ = ["CHECK_NAMES", "Row", "print_rows", "run_suite"]
