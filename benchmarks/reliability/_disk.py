"""A full disk: the server's data directory on a small tmpfs (needs root, as CI runs).

An import whose canonical matrix does not fit, and an upload larger than the
disk, must each answer 507 ``Insufficient Storage`` in the Eve envelope, the
server must keep answering, ``tmp/`` must be empty afterwards, and a small
import must then succeed.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ._row import Row
from ._server import running_server

DISK_SIZE = "6m"


def available() -> bool:
    """Return whether this process may mount a tmpfs (root)."""
    return os.geteuid() == 0


@contextlib.contextmanager
def _tmpfs(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _tsv_gz(n_cells: int, n_genes: int, *, seed: int) -> bytes:
    counts = np.random.default_rng(seed).poisson(3.0, size=(n_cells, n_genes))
    lines = ["barcode\t" + "\t".join(f"G{g}" for g in range(n_genes))]
    lines += [f"c{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts.tolist())]
    return gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6)


def _tmp_entries(data_dir: Path) -> list[str]:
    tmp = data_dir / "tmp"
    if not tmp.is_dir():
        return []
    return sorted(p.name for p in tmp.iterdir() if not (p.name == "jobs" and not any(p.iterdir())))


def full_disk(root: Path) -> Row:
    """Run the full-disk check with a server whose data lives on a tmpfs; return the row."""
    holder: dict[str, Any] = {}

    def prepare(settings: Any, store: Any) -> None:
        del settings
        holder["dataset"] = store.insert("dataset", {"name": "full disk"})["_id"]

    tried = held = 0
    problems: list[str] = []
    with _tmpfs(root / "data"), running_server(root, prepare=prepare) as server:
        url = f"/dataset/{holder['dataset']}/matrix"
        with httpx.Client(base_url=server.url, timeout=300, headers=server.auth) as client:
            cases = [
                ("import too big for the disk", _tsv_gz(4000, 300, seed=1), 507),
                ("upload larger than the disk", os.urandom(8 * 1024**2), 507),
                ("small import afterwards", _tsv_gz(30, 40, seed=2), 200),
            ]
            for label, body, expected in cases:
                tried += 1
                try:
                    resp = client.put(url, params={"filename": "m.tsv.gz"}, content=body)
                except httpx.HTTPError as exc:
                    problems.append(f"{label}: {type(exc).__name__}")
                    continue
                payload = resp.json() if resp.headers.get("content-type", "").startswith(
                    "application/json") else {}
                envelope = expected == 200 or (payload.get("_status") == "ERR" and payload.get(
                    "_error", {}).get("code") == 507)
                alive = client.get(f"/dataset/{holder['dataset']}").status_code == 200
                left = _tmp_entries(server.data_dir)
                if resp.status_code == expected and envelope and alive and not left:
                    held += 1
                else:
                    problems.append(f"{label}: {resp.status_code}"
                                    + ("" if envelope else " without the 507 envelope")
                                    + ("" if alive else ", server not answering")
                                    + (f", left in tmp/: {left}" if left else ""))
    notes = f"{DISK_SIZE} tmpfs: 507 Insufficient Storage, server alive, tmp/ empty, then 200"
    if problems:
        notes += "; " + "; ".join(problems)
    return Row("full disk (507, nothing left)", tried, held, notes)
