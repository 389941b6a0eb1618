"""Running one job: claim it, report progress, honour cancellation, record the outcome.

Both executors (local worker processes and Celery) call :func:`execute`, so a
job behaves the same wherever it runs.

*Exactly once.* A worker owns a job only after :func:`claim` changed it from
``queued`` to ``running`` with a compare-and-swap on the document's ``_etag``:
of any number of workers trying at once, one wins and the others see a
conflict and move on.

*Progress and cancellation.* The job function gets a progress callback that
writes ``progress``/``message`` at most once a second and, on each write,
reads the document back: when a client has set ``state`` to ``cancelled`` the
callback raises :class:`bioblocks.errors.Cancelled`, which unwinds the job
function through its atomic writers (nothing half-written stays).

*Heartbeat.* While a job runs, a thread touches its document every
``HEARTBEAT_SECONDS`` even when the job function is silent, so the crash
recovery (:mod:`._recovery`) can tell a slow job from a dead worker.

*Test hold.* With ``BIOBLOCKS_TEST_HOLD=<fraction>:<folder>`` in a worker's
environment (tests only), the first progress report of a job at or beyond
``fraction`` is written to the store, then the worker creates
``<folder>/<job id>.held`` (holding its pid) and waits until
``<folder>/<job id>.release`` exists. While ``<folder>/all.release`` exists no
job holds and a holding one goes on. A test can so act on a job that is
provably mid-run (kill its worker, cancel it) instead of racing the job's speed.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BioblocksError, Cancelled, ConflictError, InputError, NotFoundError
from ..progress import Progress
from ..resources.job import ACTIVE_STATES, FINAL_STATES, OLD_STATUS
from ..store import Doc, Store, find_docs, get_doc, patch_doc, update_with_retry
from ._model import get_kind, now, require_kinds, scratch_dir

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
PROGRESS_INTERVAL = 1.0
HOLD_ENV = "BIOBLOCKS_TEST_HOLD"
RELEASE_ALL = "all.release"


def _hold_point() -> tuple[float, Path] | None:
    """Return the test hold (fraction, folder) from ``BIOBLOCKS_TEST_HOLD``, or None when unset."""
    value = os.environ.get(HOLD_ENV)
    if not value:
        return None
    fraction, _, folder = value.partition(":")
    return float(fraction), Path(folder)


def _hold(folder: Path, job_id: str) -> None:
    """Create ``<folder>/<job_id>.held``, then block until ``<folder>/<job_id>.release`` or
    ``<folder>/all.release`` exists; return at once while ``all.release`` exists."""
    release, release_all = folder / f"{job_id}.release", folder / RELEASE_ALL
    if release_all.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job_id}.held").write_text(f"{os.getpid()}\n", encoding="ascii")
    log.warning("test hold: job %s waits for %s.release in %s", job_id, job_id, folder)
    while not release.exists() and not release_all.exists():
        time.sleep(0.05)


def worker_name() -> str:
    """Return this process's worker name, ``<hostname>:<pid>`` (recorded on the jobs it runs)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobContext:
    """What a job function gets: the store, the settings, its job and a progress callback.

    ``scratch`` is the job's private staging root (see :func:`bioblocks.jobs.scratch_dir`).
    """

    store: Store
    settings: Settings
    job: Doc
    progress: Progress
    scratch: Path
    worker: str = field(default_factory=worker_name)

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.job["_id"]

    @property
    def parameters(self) -> dict[str, Any]:
        """The job's (validated) parameters."""
        return dict(self.job.get("parameters") or {})

    @property
    def dataset_id(self) -> str | None:
        """The id of the job's dataset, if it has one."""
        associated = self.job.get("associatedDataset") or {}
        return associated.get("dataset")


def claim(store: Store, job_id: str, *, worker: str) -> Doc | None:
    """Take the queued job ``job_id`` for ``worker``; return the running job, or None.

    None means the job is not queued any more (another worker won the
    compare-and-swap, it was cancelled, or it is gone). Raises RuntimeError when no
    job kind is registered in this process (:func:`bioblocks.jobs.install_kinds`).
    """
    require_kinds()
    job = get_doc(store, "job", job_id)
    if job is None or job.get("state") != "queued":
        return None
    changes = {
        "state": "running",
        "status": OLD_STATUS["running"],
        "worker": worker,
        "attempts": int(job.get("attempts") or 0) + 1,
        "startedAt": now(),
        "progress": 0.0,
        "message": "starting",
    }
    try:
        return patch_doc(store, "job", job_id, changes, etag=job["_etag"])
    except (ConflictError, NotFoundError):
        return None


def claim_next(store: Store, *, worker: str, kinds: list[str] | None = None) -> Doc | None:
    """Claim the oldest queued job (of ``kinds``, if given); return it, or None if none is free."""
    where: dict[str, Any] = {"state": "queued"}
    if kinds:
        where["kind"] = {"$in": list(kinds)}
    for job in find_docs(store, "job", where, sort=[("createdAt", 1)], limit=20):
        claimed = claim(store, job["_id"], worker=worker)
        if claimed is not None:
            return claimed
    return None


class _Reporter:
    """The progress callback of one running job (throttled writes, cancellation, heartbeat)."""

    def __init__(self, store: Store, job: Doc, *, worker: str) -> None:
        self.store = store
        self.job_id = job["_id"]
        self.worker = worker
        self.lock = threading.Lock()
        self.cancelled = threading.Event()
        self.stop = threading.Event()
        self.last_write = float("-inf")  # the first report is written at once
        self.fraction = 0.0
        self.message = "starting"
        self.thread = threading.Thread(target=self._heartbeat, name=f"heartbeat-{self.job_id}", daemon=True)
        self.hold = _hold_point()

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def __call__(self, fraction: float, message: str) -> None:
        if self.cancelled.is_set():
            raise Cancelled(f"job {self.job_id} was cancelled")
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message
        if time.monotonic() - self.last_write >= PROGRESS_INTERVAL:
            self._write()
        if self.hold is not None and self.fraction >= self.hold[0]:
            folder, self.hold = self.hold[1], None
            self._write()
            _hold(folder, self.job_id)
        if self.cancelled.is_set():
            raise Cancelled(f"job {self.job_id} was cancelled")

    def _write(self) -> None:
        with self.lock:
            self.last_write = time.monotonic()

            def change(doc: Doc) -> Doc | None:
                if doc.get("state") == "cancelled":
                    self.cancelled.set()
                    return None
                if doc.get("state") != "running" or doc.get("worker") != self.worker:
                    # The job was taken from this worker (recovered as dead): stop as well.
                    self.cancelled.set()
                    return None
                return {"progress": round(self.fraction, 4), "message": self.message[:1024]}

            try:
                update_with_retry(self.store, "job", self.job_id, change)
            except NotFoundError:
                self.cancelled.set()
            except Exception:  # a store hiccup must not kill the job; the next write retries
                log.warning("could not record progress of job %s", self.job_id, exc_info=True)

    def _heartbeat(self) -> None:
        while not self.stop.wait(0.5):
            if time.monotonic() - self.last_write >= HEARTBEAT_SECONDS:
                self._write()


def _finish(store: Store, job_id: str, worker: str, changes: Doc, *, keep_cancelled: bool) -> Doc:
    def change(doc: Doc) -> Doc | None:
        if doc.get("worker") != worker or doc.get("state") not in ("running", "cancelled"):
            return None
        if doc.get("state") == "cancelled" and keep_cancelled:
            return {"finishedAt": now(), "message": "cancelled", "status": OLD_STATUS["cancelled"]}
        return changes

    updated = update_with_retry(store, "job", job_id, change)
    return updated if updated is not None else get_doc(store, "job", job_id) or {}


def run_claimed(store: Store, settings: Settings, job: Doc, *, worker: str) -> Doc:
    """Run a job this worker has claimed; record its outcome and return the final document.

    The job function's return value becomes ``results``. :class:`Cancelled`
    leaves the job ``cancelled``; any other exception marks it ``error`` with
    a readable reason (deliberate input errors are not retried). The job's
    scratch folder is removed in every case, before the outcome is recorded.
    """
    job_id = job["_id"]
    reporter = _Reporter(store, job, worker=worker)
    scratch = scratch_dir(settings, job_id)
    started = time.monotonic()
    reporter.start()
    try:
        kind = get_kind(job["kind"])
        context = JobContext(store, settings, job, reporter, scratch, worker)
        log.info("running %s job %s (attempt %s)", job["kind"], job_id, job.get("attempts"))
        results = kind.run(context) or {}
        reporter.close()
        shutil.rmtree(scratch, ignore_errors=True)  # before the outcome: once final, nothing is left
        final = _finish(
            store,
            job_id,
            worker,
            {
                "state": "complete",
                "status": OLD_STATUS["complete"],
                "progress": 1.0,
                "message": "finished",
                "results": results,
                "finishedAt": now(),
            },
            keep_cancelled=False,
        )
        log.info("finished %s job %s in %.1f s", job["kind"], job_id, time.monotonic() - started)
        return final
    except Cancelled:
        reporter.close()
        shutil.rmtree(scratch, ignore_errors=True)
        log.info("cancelled %s job %s", job["kind"], job_id)
        return _finish(
            store,
            job_id,
            worker,
            {"state": "cancelled", "status": OLD_STATUS["cancelled"], "message": "cancelled",
             "finishedAt": now()},
            keep_cancelled=True,
        )
    except Exception as exc:
        reporter.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if isinstance(exc, InputError | BioblocksError):
            reason = str(exc)
            log.warning("%s job %s failed: %s", job["kind"], job_id, reason)
        else:
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("%s job %s crashed", job["kind"], job_id)
        return _finish(
            store,
            job_id,
            worker,
            {"state": "error", "status": OLD_STATUS["error"], "error": reason,
             "message": "failed", "finishedAt": now()},
            keep_cancelled=True,
        )
    finally:
        reporter.close()
        shutil.rmtree(scratch, ignore_errors=True)


def execute(store: Store, settings: Settings, job_id: str, *, worker: str | None = None) -> Doc | None:
    """Claim and run the job ``job_id``; return its final document, or None if not claimed."""
    name = worker or worker_name()
    job = claim(store, job_id, worker=name)
    if job is None:
        return None
    return run_claimed(store, settings, job, worker=name)


def cancel_job(store: Store, job_id: str) -> Doc:
    """Set a queued or running job to ``cancelled``; return the job.

    A running job stops at its next progress report (within about a second).
    Raises :class:`InputError` when the job has already finished.
    """

    def change(doc: Doc) -> Doc | None:
        state = doc.get("state")
        if state == "cancelled":
            return None
        if state not in ACTIVE_STATES:
            raise InputError(
                f"job is already {state}; only queued or running jobs can be cancelled",
                field="state",
            )
        changes: Doc = {"state": "cancelled", "status": OLD_STATUS["cancelled"], "message": "cancelled"}
        if state == "queued":
            changes["finishedAt"] = now()
        return changes

    updated = update_with_retry(store, "job", job_id, change)
    if updated is None:
        updated = get_doc(store, "job", job_id)
    if updated is None:
        raise NotFoundError(f"job {job_id!r} does not exist")
    return updated


def wait_for(
    store: Store, job_ids: list[str], *, timeout: float | None = None, poll: float = 0.5
) -> list[Doc]:
    """Block until every job in ``job_ids`` is complete, error or cancelled; return them.

    Raises :class:`TimeoutError` after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        docs = [get_doc(store, "job", job_id) or {"_id": job_id, "state": "error"} for job_id in job_ids]
        if all(doc.get("state") in FINAL_STATES for doc in docs):
            return docs
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"jobs still running after {timeout} s")
        time.sleep(poll)
