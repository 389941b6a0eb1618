"""A real ``bioblocks serve`` process on 127.0.0.1 for the reliability checks.

:func:`start_server` makes a data directory (SQLite by default, or a fresh
PostgreSQL schema), creates a valid and a revoked token, starts
``bioblocks serve --workers N`` in its own process group on a free port and
waits until it answers. Job workers (``bioblocks worker``) are started only
when asked. Every outgoing proxy is pointed at a closed local port so nothing
the server does can leave this machine. ``serve`` starts no job worker unless
``BIOBLOCKS_JOB_WORKERS`` is passed in ``env``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
BIOBLOCKS = [sys.executable, "-c", "from bioblocks.cli import main; main()"]
POSTGRES_URL = os.environ.get(
    "BIOBLOCKS_RELIABILITY_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: A local port nothing listens on: proxies and the HCA URL point here.
_DEAD_END = "http://127.0.0.1:9"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_group(proc: subprocess.Popen[bytes] | None, *, sig: int = signal.SIGTERM,
                grace: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class Server:
    """A running server: its URL, data directory, tokens and processes."""

    root: Path
    data_dir: Path
    database_url: str | None
    token: str
    revoked_token: str
    env: dict[str, str]
    workers: int
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    job_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def serve_job_workers(self) -> int:
        """Job worker processes ``bioblocks serve`` starts itself (``BIOBLOCKS_JOB_WORKERS``)."""
        return int(self.env.get("BIOBLOCKS_JOB_WORKERS", "0"))

    @property
    def auth(self) -> dict[str, str]:
        """The valid credential header."""
        return {"Authorization": f"Bearer {self.token}"}

    def settings(self) -> Any:
        """Return the :class:`bioblocks.config.Settings` this server runs with."""
        from bioblocks.config import get_settings

        overrides: dict[str, Any] = {"data_dir": self.data_dir}
        if self.database_url:
            overrides["database_url"] = self.database_url
        return get_settings(**overrides)

    def start(self, *, timeout: float = 90.0) -> None:
        """Start ``bioblocks serve`` (new port) and wait until ``/openapi.json`` answers."""
        self.port = free_port()
        log = (self.root / f"serve-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [*BIOBLOCKS, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bioblocks serve exited with {self.proc.returncode}; "
                                   f"see {self.root}/serve-{self.port}.log")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"bioblocks serve did not answer within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL the whole server process group (master and its uvicorn workers)."""
        _kill_group(self.proc, sig=signal.SIGKILL)

    def start_job_workers(self, count: int = 1) -> subprocess.Popen[bytes]:
        """Start ``bioblocks worker --concurrency count`` (local executor) in its own group."""
        log = (self.root / "worker.log").open("ab")
        proc = subprocess.Popen(
            [*BIOBLOCKS, "worker", "--concurrency", str(count)],
            env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.job_procs.append(proc)
        return proc

    def stop(self) -> None:
        """Stop the server and any job workers (SIGTERM, then SIGKILL)."""
        for proc in self.job_procs:
            _kill_group(proc)
        _kill_group(self.proc)


def _env(data_dir: Path, database_url: str | None, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOBLOCKS_")}
    env.update({
        "BIOBLOCKS_DATA_DIR": str(data_dir),
        "BIOBLOCKS_LOG_LEVEL": "WARNING",
        "BIOBLOCKS_JOB_WORKERS": "0",
        "BIOBLOCKS_HCA_URL": _DEAD_END,
        "HTTP_PROXY": _DEAD_END, "HTTPS_PROXY": _DEAD_END, "ALL_PROXY": _DEAD_END,
        "http_proxy": _DEAD_END, "https_proxy": _DEAD_END, "all_proxy": _DEAD_END,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                     os.environ.get("PYTHONPATH")])),
    })
    if database_url:
        env["BIOBLOCKS_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def postgres_schema(base_url: str = POSTGRES_URL) -> AbstractContextManager[str]:
    """A PostgreSQL URL whose tables live in a fresh schema (dropped afterwards)."""
    from bioblocks.store import scratch_schema

    return scratch_schema(base_url, prefix="rel")


@contextlib.contextmanager
def running_server(
    root: Path,
    *,
    database_url: str | None = None,
    workers: int = 2,
    env: dict[str, str] | None = None,
    prepare: Any = None,
) -> Iterator[Server]:
    """Start a server with its data in ``root/data``; yield it; stop it afterwards.

    ``prepare(settings, store)`` runs before the server starts (load documents,
    import a matrix) on the same store.
    """
    from bioblocks.config import get_settings
    from bioblocks.store import open_store

    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    overrides: dict[str, Any] = {"data_dir": data_dir}
    if database_url:
        overrides["database_url"] = database_url
    settings = get_settings(**overrides)
    store = open_store(settings)
    try:
        token = store.create_token("reliability")
        revoked = store.create_token("reliability-revoked")
        store.revoke_token("reliability-revoked")
        if prepare is not None:
            prepare(settings, store)
    finally:
        store.close()
    server = Server(root=root, data_dir=data_dir, database_url=database_url, token=token,
                    revoked_token=revoked, env=_env(data_dir, database_url, env or {}),
                    workers=workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()
