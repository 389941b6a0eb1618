"""The quick reliability suite against a real ``bioblocks serve`` process: every row must hold.

Runs ``python -m benchmarks.reliability --quick`` (schemathesis for at most a
minute, credentials, concurrency on SQLite and PostgreSQL, hostile uploads,
traversal, 2 worker kills and a server kill, 50 clients for 10 s) and reads
its table.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("schemathesis", "credentials (401, nothing changed)", "concurrency (SQLite)",
          "concurrency (PostgreSQL)", "hostile uploads", "traversal (400/404, no canary)",
          "crashes (SIGKILL mid-job)", "load (reads while 2 analyses run)",
          "signals (serve stops its tree)",
          # the full-disk row mounts a tmpfs: it runs as root (as CI does)
          *(("full disk (507, nothing left)",) if os.geteuid() == 0 else ()))


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_reliability_suite_holds(tmp_path: Path, postgres_url: str) -> None:
    del postgres_url  # the suite's PostgreSQL pass needs the server (the fixture checks it)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.reliability", "--quick", "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=580, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    table = out[out.index("reliability (quick)"):]
    print(table)  # the figures, shown with `pytest -s`
    for check in CHECKS:
        match = re.search(rf"^{re.escape(check)}\s+([\d,]+)\s+([\d,]+)\s+(\w+)", table, re.M)
        assert match is not None, f"no row {check!r}\n{out}"
        tried, held, result = match.groups()
        assert result == "held" and tried == held and tried != "0", out
    fuzz = re.search(r"^schemathesis\s+([\d,]+)", table, re.M)
    assert fuzz is not None and int(fuzz.group(1).replace(",", "")) >= 200, out
