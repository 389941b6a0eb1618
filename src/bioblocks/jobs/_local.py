"""The embedded executor: worker processes that poll the store for queued jobs.

``bioblocks serve`` starts :class:`LocalWorkers` (``Settings.job_workers``
processes) when no broker is configured; ``bioblocks worker`` without a broker
runs the same pool in the foreground. Each process loops: sweep for jobs of
dead workers now and then, claim the oldest queued job (compare-and-swap, so
a job runs once however many processes poll), run it, repeat. The pool
restarts a process that died; the job it was running is recovered by the
sweep.

A worker never outlives the process that started it: on Linux it asks the
kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and on
every platform its poll loop stops once its parent's pid is no longer its
parent's (``parent_pid``), so orphaned workers never claim jobs for the next
server.

The pool's processes are spawned, so they start with an empty registry of job
kinds: each one first runs the kind installers of its parent
(:func:`bioblocks.jobs.kind_installers`, recorded when the pool is made).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._model import KindInstaller, install_kinds, kind_installers, require_kinds
from ._presence import Presence
from ._recovery import recover_stale_jobs
from ._runner import claim_next, run_claimed, worker_name

if TYPE_CHECKING:
    from ..config import Settings
    from ..store import Store

log = logging.getLogger(__name__)

Event = threading.Event | multiprocessing.synchronize.Event


def work_loop(
    store: Store,
    settings: Settings,
    *,
    stop: Event,
    poll_interval: float = 0.5,
    recover_every: float = 5.0,
    max_jobs: int | None = None,
    kinds: list[str] | None = None,
    parent_pid: int | None = None,
) -> int:
    """Claim and run queued jobs until ``stop`` is set (or ``max_jobs`` ran); return how many ran.

    With ``parent_pid`` the loop also stops as soon as this process's parent
    is no longer that process (it died and this one was re-parented). While it
    runs, the process's presence file is kept fresh (:class:`._presence.Presence`).
    Raises RuntimeError when no job kind is registered in this process.
    """
    require_kinds()
    with Presence(settings):  # `job submit --wait` can see that someone polls
        return _poll(store, settings, stop=stop, poll_interval=poll_interval,
                     recover_every=recover_every, max_jobs=max_jobs, kinds=kinds,
                     parent_pid=parent_pid)


def _poll(
    store: Store, settings: Settings, *, stop: Event, poll_interval: float, recover_every: float,
    max_jobs: int | None, kinds: list[str] | None, parent_pid: int | None,
) -> int:
    ran = 0
    last_sweep = 0.0
    while not stop.is_set() and (max_jobs is None or ran < max_jobs):
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("job worker %s: parent %s is gone; stopping", worker_name(), parent_pid)
            break
        if time.monotonic() - last_sweep >= recover_every:
            last_sweep = time.monotonic()
            try:
                recover_stale_jobs(store, settings)
            except Exception:
                log.exception("recovery sweep failed")
        try:
            job = claim_next(store, worker=worker_name(), kinds=kinds)
        except Exception:
            log.exception("could not poll for jobs")
            job = None
        if job is None:
            stop.wait(poll_interval)
            continue
        run_claimed(store, settings, job, worker=worker_name())
        ran += 1
    return ran


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; return whether it took.

    A no-op returning False where ``prctl`` is not available (not Linux).
    """
    if os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _child_main(settings: Settings, stop: multiprocessing.synchronize.Event,
                parent_pid: int | None = None,
                installers: Sequence[KindInstaller] = ()) -> None:
    from ..store import open_store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    die_with_parent()
    if parent_pid is not None and os.getppid() != parent_pid:
        return  # the parent died before the death signal was armed
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    for installer in installers:
        install_kinds(installer)
    store = open_store(settings, migrate=False)  # the pool's parent migrated
    log.info("job worker %s started", worker_name())
    work_loop(store, settings, stop=stop, parent_pid=parent_pid)


class LocalWorkers:
    """A pool of ``processes`` job worker processes (``spawn``ed, so no state is shared).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Each
    process registers the job kinds of ``installers`` (default: those installed
    in this process so far, :func:`bioblocks.jobs.kind_installers`).
    """

    def __init__(
        self, settings: Settings, *, processes: int | None = None,
        installers: Sequence[KindInstaller] | None = None,
    ) -> None:
        self.settings = settings
        self.processes = max(1, processes if processes is not None else settings.job_workers)
        self.installers = tuple(kind_installers() if installers is None else installers)
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._children: list[multiprocessing.process.BaseProcess] = []
        self._supervisor: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()  # no restart while stop() starts stopping

    def _spawn(self) -> multiprocessing.process.BaseProcess:
        child = self._ctx.Process(
            target=_child_main,
            args=(self.settings, self._stop, os.getpid(), self.installers),
            name="bioblocks-job-worker",
            daemon=False,
        )
        child.start()
        return child

    def start(self) -> LocalWorkers:
        """Start the worker processes and a thread that restarts any that die; return self.

        Raises RuntimeError when the pool has no kind installers (its workers could run no job).
        """
        from ..store import open_store

        if not self.installers:
            raise RuntimeError(
                "the job workers would know no job kind: call bioblocks.jobs.install_kinds"
                "(bioblocks.pipeline.kinds.register_kinds) before starting them"
            )

        open_store(self.settings).close()  # apply migrations once, before the children start
        self._children = [self._spawn() for _ in range(self.processes)]
        self._supervisor = threading.Thread(target=self._supervise, name="job-pool", daemon=True)
        self._supervisor.start()
        log.info("started %d job worker processes", self.processes)
        return self

    def _supervise(self) -> None:
        while not self._halt.wait(1.0):
            with self._lock:
                for index, child in enumerate(self._children):
                    if not child.is_alive() and not self._stop.is_set():
                        log.warning("job worker pid %s exited (%s); starting another",
                                    child.pid, child.exitcode)
                        self._children[index] = self._spawn()

    @property
    def pids(self) -> list[int]:
        """Process ids of the current worker processes."""
        return [child.pid for child in self._children if child.pid is not None]

    def stop(self, *, grace: float = 10.0) -> None:
        """Ask the workers to stop after their current job; terminate them after ``grace`` s.

        A job interrupted by the termination is recovered (retried) by the next sweep.
        The supervising thread stops last: a worker it restarted gets its death
        signal when that thread ends (``PR_SET_PDEATHSIG`` follows the thread).
        """
        with self._lock:
            self._stop.set()
        deadline = time.monotonic() + grace
        for child in self._children:
            child.join(timeout=max(0.0, deadline - time.monotonic()))
        for child in self._children:
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
        self._halt.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)

    def __enter__(self) -> LocalWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until interrupted (SIGINT/SIGTERM), then stop the pool."""
        stopping = threading.Event()

        def handler(signum: int, frame: object) -> None:  # noqa: ARG001
            stopping.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping.wait(1.0):
                pass
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            self.stop()
