"""``bioblocks serve --workers 4`` on PostgreSQL: of many concurrent PATCHes with the same
If-Match, across the server processes, exactly one wins."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bioblocks.config import Settings
from bioblocks.store import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_exactly_one_concurrent_patch_wins_across_four_server_processes(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    settings = Settings(data_dir=tmp_path / "files", database_url=postgres_schema_url)
    store = open_store(settings)
    token = store.create_token("race")
    port = _free_port()
    env = {**os.environ, "BIOBLOCKS_DATA_DIR": str(settings.data_dir),
           "BIOBLOCKS_DATABASE_URL": postgres_schema_url, "BIOBLOCKS_JOB_WORKERS": "0",
           "BIOBLOCKS_LOG_LEVEL": "WARNING"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "bioblocks"), "serve", "--port", str(port),
         "--workers", "4"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
                time.sleep(0.2)
            for round_ in range(3):
                job = client.post("/job", json={"kind": "pipeline"}, headers=auth).json()
                headers = {**auth, "If-Match": job["_etag"]}

                def attempt(index: int, job_id: str = job["_id"],
                            headers: dict[str, str] = headers) -> int:
                    with httpx.Client(base_url=base, timeout=30) as own:
                        return own.patch(f"/job/{job_id}", json={"message": f"writer {index}"},
                                         headers=headers).status_code

                with ThreadPoolExecutor(max_workers=16) as pool:
                    codes = list(pool.map(attempt, range(16)))
                assert sorted(codes) == [200] + [412] * 15, (round_, codes)
                final = client.get(f"/job/{job['_id']}").json()
                assert final["message"].startswith("writer ")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        store.close()
