"""SIGKILL job workers mid-SPRING-job and the server once; check nothing partial is visible."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

from ._row import Row
from ._server import Server

FINAL = ("complete", "error", "cancelled")


def prepare_dataset(settings: Any, store: Any, *, n_cells: int, workdir: Path) -> str:
    """Import the synthetic two-library example dataset (``n_cells`` cells); return its id."""
    from bioblocks.ingest._example import make_example_dataset
    from bioblocks.pipeline.operations import import_dataset

    src = make_example_dataset(workdir / "example", n_cells=n_cells, seed=0)
    doc = import_dataset(store, settings, [src / "lib1", src / "lib2"],
                         name="reliability example", labels=["lib1", "lib2"])
    return str(doc["_id"])


def _ancestors(pid: int) -> list[int]:
    chain = []
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        if pid <= 1:
            break
        chain.append(pid)
    return chain


def _ours(server: Server, pid: int) -> bool:
    roots = {p.pid for p in server.job_procs} | ({server.proc.pid} if server.proc else set())
    return bool(roots & set(_ancestors(pid)))


def consistency(server: Server) -> list[str]:
    """Return the partial analyses visible now: documents without folders and folders without documents."""
    from bioblocks.storage import analysis_dir
    from bioblocks.store import open_store

    store = open_store(server.settings(), migrate=False)
    try:
        docs = store.find("analysis", None)
    finally:
        store.close()
    problems = []
    known = set()
    for doc in docs:
        dataset = doc.get("dataset")
        if not isinstance(dataset, str):
            continue
        folder = analysis_dir(server.data_dir, dataset, doc["_id"])
        known.add(folder)
        if not folder.is_dir():
            problems.append(f"analysis {doc['_id']} has no folder")
    for folder in (server.data_dir / "datasets").glob("*/analyses/*"):
        if folder not in known:
            problems.append(f"folder {folder.relative_to(server.data_dir)} has no document")
    return problems


def _tmp_left(data_dir: Path) -> list[str]:
    tmp = data_dir / "tmp"
    if not tmp.is_dir():
        return []
    return [str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()]


def hold_env(hold: Path) -> dict[str, str]:
    """Return the server environment that lets :func:`crashes` hold SPRING jobs near their end.

    Jobs reaching 90 % wait there (``BIOBLOCKS_TEST_HOLD``, see
    :mod:`bioblocks.jobs._runner`) only while ``crashes`` runs: outside it
    ``<hold>/all.release`` exists, so the other checks' jobs never wait.
    """
    from bioblocks.jobs._runner import HOLD_ENV, RELEASE_ALL

    hold.mkdir(parents=True, exist_ok=True)
    (hold / RELEASE_ALL).write_text("", encoding="ascii")
    return {HOLD_ENV: f"{HOLD_FRACTION}:{hold}"}


HOLD_FRACTION = 0.9


def _wait_for_kill_point(hold: Path, job_id: str, pid: int, seconds: float) -> None:
    """Return after ``seconds`` or as soon as worker ``pid`` holds job ``job_id``, whichever comes first.

    A job cannot pass the hold point (90 %) while the suite holds it, so the
    worker is still running the job when this returns: the kill lands at a
    random moment of the run, or at the latest just before the job commits.
    """
    marker = hold / f"{job_id}.held"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if marker.read_text(encoding="ascii").strip() == str(pid):
                return
        except OSError:
            pass
        time.sleep(0.05)


def crashes(server: Server, dataset_id: str, *, kills: int, deadline_s: float, hold: Path) -> Row:
    """Kill the worker of a running SPRING job ``kills`` times and the server once (midway).

    The job workers are those ``bioblocks serve`` starts (its children); when
    it starts none, one ``bioblocks worker`` process is started. The server
    runs with :func:`hold_env` (``hold``), so a job waits at 90 % while this
    check runs and every kill lands mid-run (no race with the job's speed).
    After each kill the job must go back to ``queued`` (retried) or ``error``,
    and :func:`consistency` must find nothing; at the end (jobs released)
    every job must be final and ``tmp/`` hold no file.
    Returns the row (tried: each kill, the server kill, each job's ending).
    """
    from bioblocks.jobs._runner import RELEASE_ALL

    rng = random.Random(8)
    deadline = time.monotonic() + deadline_s
    if server.serve_job_workers == 0 and not server.job_procs:
        server.start_job_workers(1)
    jobs: list[str] = []
    tried = held = 0
    problems: list[str] = []
    done = 0
    server_killed = False
    states: dict[str, str] = {}
    (hold / RELEASE_ALL).unlink(missing_ok=True)

    def client() -> httpx.Client:
        return httpx.Client(base_url=server.url, timeout=30, headers=server.auth)

    def job_doc(c: httpx.Client, job_id: str) -> dict[str, Any]:
        return c.get(f"/job/{job_id}").json()

    http = client()
    try:
        while done < kills and time.monotonic() < deadline:
            active = [j for j in jobs if job_doc(http, j).get("state") not in FINAL]
            if not active:
                resp = http.post("/job", json={"kind": "SPRING", "dataset": dataset_id,
                                               "parameters": {"seed": len(jobs)}})
                resp.raise_for_status()
                jobs.append(resp.json()["_id"])
                active = [jobs[-1]]
            job_id = active[0]
            doc = job_doc(http, job_id)
            while doc.get("state") != "running" and doc.get("state") not in FINAL \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
                doc = job_doc(http, job_id)
            pid_text = str(doc.get("worker") or "").rpartition(":")[2]
            if doc.get("state") != "running" or not pid_text.isdigit():
                continue
            pid = int(pid_text)
            if not _ours(server, pid):
                problems.append(f"worker pid {pid} is not a process this suite started")
                break
            _wait_for_kill_point(hold, job_id, pid, rng.uniform(0.5, 3.0))
            os.kill(pid, 9)
            done += 1
            tried += 1
            # recovery: the job leaves `running` under the dead worker (requeued or error)
            while time.monotonic() < deadline:
                after = job_doc(http, job_id)
                if after.get("state") != "running" or after.get("worker") != doc.get("worker"):
                    break
                time.sleep(0.3)
            partial = consistency(server)
            if after.get("state") in ("queued", "running", "error", "complete") and not partial:
                held += 1
            else:
                problems.append(f"kill {done}: job {after.get('state')}, {partial[:2]}")
            if not server_killed and done >= max(1, kills // 2):
                server_killed = True
                tried += 1
                server.kill()
                http.close()
                server.start()
                http = client()
                partial = consistency(server)
                if http.get("/dataset").status_code == 200 and not partial:
                    held += 1
                else:
                    problems.append(f"after server kill: {partial[:2]}")
        # release the held jobs: every job must now end (a bound, not a race: they run to the end)
        (hold / RELEASE_ALL).write_text("", encoding="ascii")
        end = time.monotonic() + 180
        while time.monotonic() < end:
            states = {j: job_doc(http, j).get("state", "?") for j in jobs}
            if all(s in FINAL for s in states.values()):
                break
            time.sleep(1.0)
        for job_id in jobs:
            tried += 1
            if states.get(job_id) in ("complete", "error"):
                held += 1
            else:
                problems.append(f"job {job_id} ended {states.get(job_id)}")
        time.sleep(6.0)  # one recovery sweep
        partial = consistency(server)
        left = _tmp_left(server.data_dir)
        tried += 1
        if not partial and not left:
            held += 1
        else:
            problems.append(f"at the end: {partial[:3]} tmp/ files {left[:3]}")
    finally:
        (hold / RELEASE_ALL).write_text("", encoding="ascii")
        http.close()
    counts = {s: list(states.values()).count(s) for s in sorted(set(states.values()))}
    notes = (f"{done} worker kills + {int(server_killed)} server kill, {len(jobs)} SPRING jobs "
             f"ended {counts}; no partial analysis, tmp/ empty")
    if done < kills:
        problems.append(f"only {done} of {kills} kills before the deadline")
        tried += 1
    if problems:
        notes += "; " + "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
    return Row("crashes (SIGKILL mid-job)", tried, held, notes)
