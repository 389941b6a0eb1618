"""API latency while analysis jobs run, beside the same API idle, in one run.

    .venv/bin/python -m benchmarks.jobs [--quick] [--postgres [URL]] [--cells N]

Runs the metadata API benchmark (:mod:`benchmarks.api`) twice on the same kind
of store: first idle (the baseline), then while two SPRING analysis jobs of a
synthetic dataset run in local job worker processes on the same store and
files. Prints the API benchmark's own tables, then one table with item-GET
(and the other request kinds') p50/p99 latency and req/s idle vs. while the
jobs run, with the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import api
from benchmarks._common import print_table


@contextlib.contextmanager
def two_spring_jobs(settings: Any, *, cells: int) -> Iterator[dict[str, Any]]:
    """Import a synthetic dataset into ``settings``' store and keep two SPRING jobs running.

    Yields a dict that receives ``running`` (how many jobs were running when the
    measurement ended). The jobs are long (many layout iterations) so they
    outlast the measurement; they are cancelled on exit.
    """
    from bioblocks.ingest import make_example_dataset
    from bioblocks.jobs import LocalWorkers, cancel_job, install_kinds, submit_job, wait_for
    from bioblocks.pipeline.kinds import register_kinds
    from bioblocks.pipeline.operations import import_dataset
    from bioblocks.store import find_docs, open_store

    install_kinds(register_kinds)  # this benchmark is its own composition root
    store = open_store(settings)
    state: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        example = make_example_dataset(Path(tmp) / "ex", n_cells=cells, seed=0)
        dataset = import_dataset(store, settings, [example / "lib1", example / "lib2"],
                                 name="bench")
    jobs = [submit_job(store, settings, "SPRING", dataset_id=dataset["_id"],
                       parameters={"n_force_iter": 100_000, "seed": seed})
            for seed in (1, 2)]
    pool = LocalWorkers(settings, processes=2).start()
    try:
        deadline = time.monotonic() + 120
        while len(find_docs(store, "job", {"state": "running"})) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the two SPRING jobs did not start within 120 s")
            time.sleep(0.2)
        yield state
        state["running"] = len(find_docs(store, "job", {"state": "running"}))
    finally:
        for job in jobs:
            with contextlib.suppress(Exception):
                cancel_job(store, job["_id"])
        with contextlib.suppress(TimeoutError):
            wait_for(store, [j["_id"] for j in jobs], timeout=60)
        pool.stop()
        store.close()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the API benchmark's quick mode")
    parser.add_argument("--postgres", nargs="?", const=api.DEFAULT_POSTGRES, default=None,
                        metavar="URL", help="use PostgreSQL")
    parser.add_argument("--concurrency", default=None, help="comma-separated levels")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--cells", type=int, default=3000,
                        help="cells of the synthetic dataset the jobs analyse (default 3000)")
    args = parser.parse_args(argv)

    print("== idle (baseline) ==", flush=True)
    idle = api.run(args)
    print("== while two SPRING jobs run ==", flush=True)
    state: dict[str, Any] = {}

    @contextlib.contextmanager
    def background(settings: Any) -> Iterator[None]:
        with two_spring_jobs(settings, cells=args.cells) as jobs_state:
            yield
        state.update(jobs_state)

    busy = api.run(args, background=background)
    rows = []
    for quiet, loaded in zip(idle, busy, strict=True):
        a, b = quiet["api"], loaded["api"]
        rows.append([quiet["kind"], quiet["concurrency"], a["rps"], b["rps"],
                     a["p50"], b["p50"], a["p99"], b["p99"],
                     b["p99"] / a["p99"] if a["p99"] else None])
    print_table(
        ["request", "conc", "idle req/s", "jobs req/s", "idle p50 ms", "jobs p50 ms",
         "idle p99 ms", "jobs p99 ms", "p99 jobs/idle"],
        rows,
        title=(f"API while two SPRING jobs ({args.cells} cells) run in local workers vs idle; "
               f"{state.get('running', '?')} jobs still running at the end"),
    )


if __name__ == "__main__":
    main()
