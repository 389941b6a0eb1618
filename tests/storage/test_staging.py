"""The crash sweep of ``files/tmp/``: what no live owner holds goes, the rest stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bioblocks.storage import atomic_dir, staging_path, sweep_staging
from bioblocks.storage._staging import _host, owner_tag

DAY = 24 * 3600


def _dead_pid() -> int:
    """Return the pid of a process that has exited (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    for folder, _, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(folder, name), (stamp, stamp))
    os.utime(path, (stamp, stamp))


def test_sweep_removes_only_what_no_live_owner_holds(tmp_path: Path) -> None:
    data = tmp_path / "files"
    tmp = data / "tmp"
    mine = staging_path(data, "upload")  # this process: alive
    mine.mkdir()
    (mine / "part.mtx").write_bytes(b"x" * 10)
    dead = tmp / f"upload.abc~{_dead_pid()}-1@{_host()}"  # crashed upload of this host
    dead.mkdir()
    (dead / "big.tsv").write_bytes(b"y" * 1000)
    recycled = tmp / f"matrix.def~{os.getpid()}-1@{_host()}.partial"  # our pid, another start
    recycled.mkdir()
    other_fresh = tmp / "matrix.aaa~1-1@another-host.partial"
    other_fresh.mkdir()
    other_old = tmp / "matrix.bbb~1-1@another-host.old"
    other_old.mkdir()
    _age(other_old, 2 * DAY)
    legacy_old = tmp / "upload-0123456789abcdef"  # a name from before owner tags
    legacy_old.mkdir()
    (legacy_old / "m.mtx").write_bytes(b"z")
    _age(legacy_old, 2 * DAY)
    legacy_fresh = tmp / "fetch-fedcba9876543210"
    legacy_fresh.write_bytes(b"partial download")
    job = tmp / "jobs" / "0123abcd" / "tmp"  # a job's scratch: the jobs' recovery owns it
    job.mkdir(parents=True)
    _age(tmp / "jobs", 2 * DAY)

    removed = sweep_staging(data)

    assert sorted(removed) == sorted([dead, recycled, other_old, legacy_old])
    left = sorted(p.name for p in tmp.iterdir())
    assert left == sorted([mine.name, other_fresh.name, legacy_fresh.name, "jobs"])
    assert (mine / "part.mtx").read_bytes() == b"x" * 10 and job.is_dir()


def test_staging_names_carry_the_owner(tmp_path: Path) -> None:
    path = staging_path(tmp_path, "matrix", suffix=".partial")
    assert path.parent == tmp_path / "tmp"
    assert path.name.startswith("matrix.") and path.name.endswith(f"~{owner_tag()}.partial")
    with atomic_dir(tmp_path / "out" / "matrix", data_dir=tmp_path) as staging:
        assert staging.name.endswith(f"~{owner_tag()}.partial")
        assert sweep_staging(tmp_path) == []  # a live import's staging stays
    assert list((tmp_path / "tmp").iterdir()) == []


def test_app_start_up_sweeps_crashed_uploads(tmp_path: Path) -> None:
    from bioblocks.api.app import create_app
    from bioblocks.config import Settings

    data = tmp_path / "files"
    crashed = data / "tmp" / f"upload.abc~{_dead_pid()}-1@{_host()}"
    crashed.mkdir(parents=True)
    (crashed / "matrix.mtx").write_bytes(b"%%MatrixMarket")

    app = create_app(Settings(data_dir=data, job_workers=0))
    try:
        assert list((data / "tmp").iterdir()) == []
    finally:
        app.state.store.close()
