"""Compare-and-swap under real concurrency: 32 simultaneous PATCHes with one If-Match.

A real uvicorn server on 127.0.0.1 serves the app (on SQLite and PostgreSQL);
32 threads send their PATCH at the same moment. Exactly one must win (200),
the others must get 412, and the stored document must be the winner's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from fastapi import FastAPI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_url(api_app: FastAPI) -> Iterator[str]:
    """Serve ``api_app`` with uvicorn in a background thread; yield its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(api_app, host="127.0.0.1", port=port, log_level="warning",
                       lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_32_concurrent_patches_one_wins(server_url: str, api_token: str) -> None:
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=server_url, headers=headers, timeout=60) as client:
        created = client.post("/dataset", json={"name": "contended", "authors": []})
        assert created.status_code == 201
        doc_id, etag = created.json()["_id"], created.json()["_etag"]

    barrier = threading.Barrier(32)

    def attempt(number: int) -> tuple[int, int, str]:
        with httpx.Client(base_url=server_url, headers=headers, timeout=60) as client:
            barrier.wait()
            response = client.patch(
                f"/dataset/{doc_id}",
                json={"authors": [f"writer-{number}"]},
                headers={"If-Match": f'"{etag}"'},
            )
            return number, response.status_code, response.json().get("_etag", "")

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(attempt, range(32)))

    statuses = sorted(status for _, status, _ in results)
    assert statuses == [200] + [412] * 31
    winner, _, winner_etag = next(r for r in results if r[1] == 200)
    with httpx.Client(base_url=server_url, timeout=60) as client:
        stored = client.get(f"/dataset/{doc_id}").json()
    assert stored["authors"] == [f"writer-{winner}"]
    assert stored["_etag"] == winner_etag
    assert stored["name"] == "contended"
