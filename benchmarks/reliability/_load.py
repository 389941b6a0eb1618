"""Load: many concurrent clients reading metadata and files while analyses run.

The clients run in a separate process (``python -m benchmarks.reliability._load
URL SECONDS CLIENTS PATH...``) that prints one JSON line: requests, errors,
p50 and p99 latency in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import httpx

from ._row import Row
from ._server import REPO, Server


async def _client_run(url: str, seconds: float, clients: int, paths: list[str]) -> dict[str, float]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker(k: int) -> None:
            i = k
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                i += 1
                headers = {"Range": "bytes=0-65535"} if path.startswith("/datasets/") else {}
                start = time.perf_counter()
                try:
                    resp = await client.get(path, headers=headers)
                    await resp.aread()
                    ok = resp.status_code in (200, 206)
                    key = str(resp.status_code)
                except httpx.HTTPError as exc:
                    ok, key = False, type(exc).__name__
                latencies.append(time.perf_counter() - start)
                if not ok:
                    errors[key] = errors.get(key, 0) + 1

        await asyncio.gather(*(worker(k) for k in range(clients)))
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "p50_ms": 1000 * latencies[n // 2] if n else 0.0,
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        "seconds": seconds,
    }


def load(server: Server, dataset_id: str, *, clients: int, seconds: float) -> Row:
    """Run the client process against ``server`` while two SPRING jobs run; return the row.

    Held: every request answered 200/206 (tried = requests sent).
    """
    while server.serve_job_workers + len(server.job_procs) < 2:  # one process per job, so both analyses run at once
        server.start_job_workers(1)
    http = httpx.Client(base_url=server.url, timeout=30, headers=server.auth)
    try:
        jobs = []
        for seed in (101, 102):
            resp = http.post("/job", json={"kind": "SPRING", "dataset": dataset_id,
                                           "parameters": {"seed": seed}})
            resp.raise_for_status()
            jobs.append(resp.json()["_id"])
        dataset = http.get(f"/dataset/{dataset_id}").json()
        paths = ["/dataset", f"/dataset/{dataset_id}", "/analysis", "/job?max_results=5",
                 f"/datasets/{dataset['matrixLocation'].split('datasets/', 1)[-1]}",
                 f"/job/{jobs[0]}"]
        cmd = [sys.executable, "-m", "benchmarks.reliability._load", server.url, str(seconds),
               str(clients), *paths]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                              timeout=seconds + 120, check=False)
        if proc.returncode != 0:
            return Row("load", 0, 0, error=proc.stderr[-300:])
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        states = [http.get(f"/job/{j}").json().get("state") for j in jobs]
    finally:
        http.close()
    n, bad = int(result["requests"]), int(result["errors"])
    notes = (f"{clients} clients x {seconds:.0f} s, {n / seconds:,.0f} req/s, "
             f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
             f"{bad} errors {result['error_kinds'] or ''}; jobs during load: "
             f"{', '.join(str(s) for s in states)}").rstrip()
    return Row("load (reads while 2 analyses run)", n, n - bad, notes)


if __name__ == "__main__":
    _url, _seconds, _clients, *_paths = sys.argv[1:]
    print(json.dumps(asyncio.run(_client_run(_url, float(_seconds), int(_clients), _paths))))
