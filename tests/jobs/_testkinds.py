"""Job functions used only by the tests, and a worker process that runs them.

The job schema only allows the real kinds, so the tests lend their functions
the name ``hca-sync`` (a kind without a dataset). Behaviour is chosen by the
job's parameters:

* ``{"mode": "count", "log": path}`` appends the job id to ``log`` (one line per execution);
  with ``"meet": n`` it then waits until ``n`` different worker pids are in ``log``;
* ``{"mode": "loop", "seconds": s}`` reports progress every 20 ms for ``s``
  seconds while writing into an atomic staging folder under the job's scratch;
* ``{"mode": "fail"}`` raises an InputError.

Run as a script (``python _testkinds.py <data_dir> <database_url>``) it is a
job worker process with these functions, polling until killed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bioblocks.errors import InputError
from bioblocks.jobs import JobContext, JobKind, get_kind, install_kinds, register_kind
from bioblocks.pipeline.kinds import register_kinds
from bioblocks.storage import atomic_dir, dataset_dir

KIND = "hca-sync"


def _run(ctx: JobContext) -> dict[str, Any]:
    params = ctx.parameters
    mode = params.get("mode")
    if mode == "count":
        with open(params["log"], "a", encoding="ascii") as handle:
            handle.write(f"{ctx.job_id} {os.getpid()}\n")
        meet = int(params.get("meet", 0))
        while meet and len({line.split()[1] for line in
                            Path(params["log"]).read_text(encoding="ascii").splitlines()}) < meet:
            time.sleep(0.02)  # until `meet` workers have run a job (a rendezvous, not a timer)
        time.sleep(float(params.get("seconds", 0.0)))
        return {"counted": ctx.job_id}
    if mode == "loop":
        final = dataset_dir(ctx.settings.resolved_data_dir, params["dataset"]) / "analyses" / ctx.job_id
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        with atomic_dir(final, data_dir=ctx.scratch) as staging:
            deadline = time.monotonic() + float(params["seconds"])
            step = 0
            while time.monotonic() < deadline:
                (staging / f"part{step}.txt").write_text("x")
                ctx.progress(step / 1000, f"step {step}")
                step += 1
                time.sleep(0.02)
        return {"steps": step}
    if mode == "fail":
        raise InputError("this input is wrong on purpose", field="mode")
    raise InputError(f"unknown test mode {mode!r}", field="mode")


def install() -> JobKind:
    """Install the real kinds, then the test functions under ``KIND``; return the kind they replaced."""
    install_kinds(register_kinds)  # the real kinds first, so ours is the one that stays
    previous = get_kind(KIND)
    register_kind(JobKind(KIND, _run, needs_dataset=False))
    return previous


def main() -> None:
    from bioblocks.config import Settings
    from bioblocks.jobs import work_loop
    from bioblocks.store import open_store

    data_dir, database_url = sys.argv[1], sys.argv[2]
    settings = Settings(data_dir=Path(data_dir), database_url=database_url, job_max_attempts=3)
    install()
    store = open_store(settings)
    work_loop(store, settings, stop=threading.Event(), poll_interval=0.05, recover_every=0.5)


if __name__ == "__main__":
    main()
