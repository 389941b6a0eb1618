"""Schemathesis against ``/openapi.json``: every operation, stateful links, a valid token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from ._row import Row
from ._server import Server

#: Checks enabled. ``status_code_conformance`` (ST103) is reported in the notes but does not
#: fail the row: the schema documents 200/422 only, so every 404 is "undocumented".
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "status_code_conformance",
)
_NOTED_ONLY = {"ST103"}
#: One schemathesis worker: with several threads, hypothesis' lambda-source parsing hits
#: CPython 3.11's "AST constructor recursion depth mismatch" (an error of the tool, not the API).
_WORKERS = "1"


def _errors_text(stdout: str) -> str:
    """Return the ERRORS section of the CLI's output, squeezed to one short line."""
    match = re.search(r"=+ ERRORS =+\n(.*?)(?:\n=+ [A-Z]+ =+|\Z)", stdout, re.S)
    text = match.group(1) if match else stdout[-400:]
    return " ".join(text.split())[:400]


def fuzz(server: Server, *, quick: bool, workdir: Path) -> Row:
    """Run ``st run`` on the server's OpenAPI schema; return the row.

    Full: all phases (examples, coverage, fuzzing, stateful), 40 examples per
    operation, at most 8 minutes. Quick: fuzzing and stateful, 4 examples per
    operation, at most 40 s. Writes the JSON report under ``workdir/st`` and the tool's
    cache under ``workdir/.schemathesis``.
    """
    report_dir = workdir / "st"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
        "-H", f"Authorization: Bearer {server.token}",
        "--checks", ",".join(CHECKS),
        "--max-examples", "4" if quick else "40",
        "--seed", "20261129", "--workers", _WORKERS, "--no-shrink",
        "--request-timeout", "30", "--max-time", "40" if quick else "480",
        "--report", "json", "--report-dir", str(report_dir),
    ]
    if quick:
        cmd += ["--phases", "fuzzing,stateful"]
    # cwd: schemathesis keeps a `.schemathesis/` cache in its working directory
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 if quick else 600,
                          check=False, cwd=workdir)
    reports = sorted(report_dir.glob("*.json"))
    if not reports:
        return Row("schemathesis", 0, 0, error=f"no report (exit {proc.returncode}): "
                   f"{(proc.stderr or proc.stdout)[-300:]}")
    data = json.loads(reports[-1].read_text())
    cases = int(data["test_cases"]["generated"])
    counted = [f for f in data["failures"] if f["code"] not in _NOTED_ONLY]
    noted = [f for f in data["failures"] if f["code"] in _NOTED_ONLY]
    bad = sum(int(f["count"]) for f in counted) + int(data["test_cases"]["errored"])
    ops = data["operations"]
    notes = [f"{ops['tested']}/{ops['total']} operations, checks: "
             + ",".join(c for c in CHECKS if c != "status_code_conformance")]
    links = "stateful phase run" if data["phases"].get("stateful", {}).get("status") != "skip" \
        else "no stateful phase"
    notes.append(links)
    for failure in counted:
        notes.append(f"{failure['code']} {failure['title']}: {', '.join(failure['operations'])}")
    if noted:
        ops_noted = sorted({op for f in noted for op in f["operations"]})
        notes.append(f"not counted: ST103 undocumented status code on {len(ops_noted)} operations "
                     f"({', '.join(ops_noted)})")
    errors = sum(int(e.get("count", 1)) for e in data["errors"])
    if errors:
        notes.append(f"{errors} errors: {_errors_text(proc.stdout)}")
    bad += errors
    return Row("schemathesis", cases, cases - min(bad, cases), "; ".join(notes),
               error="" if data.get("complete", True) else f"stopped: {data.get('stop_reason')}")
