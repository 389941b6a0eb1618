"""Metadata API throughput and latency, beside a minimal ASGI app returning the same bytes.

    .venv/bin/python -m benchmarks.api [--quick] [--postgres [URL]] [--concurrency 1,16]

What it does, all in one run:

1. Builds a fresh store (SQLite in a temporary folder, or a fresh schema on
   PostgreSQL with ``--postgres``), loads the example metadata with
   :func:`bioblocks.metadata.populate`, adds 30 datasets that each reference two
   analyses, and bulk-loads 100,000 analysis documents straight through the
   store (10,000 with ``--quick``).
2. Starts the real API (``create_app``) under uvicorn in a subprocess, records
   one response of each request kind, and starts the *baseline*: a minimal ASGI
   app that answers each kind with exactly those recorded bytes and headers,
   under the same uvicorn settings.
3. From a separate client process (httpx, asyncio, one connection per
   concurrent worker) measures requests/second and p50/p99 latency for each
   kind, at each concurrency level, against both servers; prints one table with
   the ratio API/baseline.

Request kinds: collection GET with ``embedded`` (25 datasets, analyses
embedded), item GET, POST (a new analysis), PATCH (each worker its own
document, with If-Match), and collection GET with a ``where`` on the
100,000-document ``analysis`` collection: on ``name`` (1 hit), on
``processType`` (1/3 of the documents: first page of 25 and the total) and on
``processType`` plus the nested ``parameters.seed`` (1/30 of them).

:func:`run` takes a ``background`` context-manager factory so another benchmark
can keep work running on the same store while the API is measured (the jobs
benchmark's ``--while-jobs``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import queue as queue_module
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from benchmarks._common import PeakMemorySampler, format_bytes, machine_line, print_table
from bioblocks.store import scratch_schema

REPO = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES = os.environ.get(
    "BIOBLOCKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BASE_URL_HOST = "127.0.0.1"
UVICORN_OPTIONS = [
    "--host", BASE_URL_HOST, "--log-level", "warning", "--no-access-log",
    "--loop", "uvloop", "--http", "httptools", "--workers", "1",
]
EMBED = '{"analyses":1}'
KINDS = (
    "collection GET embedded", "item GET embedded", "POST", "PATCH",
    "where 1 hit", "where 1/3 hit", "where nested",
)


# ---- apps served by uvicorn (factories: uvicorn --factory benchmarks.api:...) ---------------


def app_factory() -> Any:
    """The real API, configured from ``BIOBLOCKS_*`` environment variables."""
    from bioblocks.api import create_app
    from bioblocks.config import get_settings

    return create_app(get_settings())


def baseline_factory() -> Any:
    """A minimal ASGI app replaying recorded responses, chosen by the ``X-Bench-Case`` header.

    Reads ``BENCH_BASELINE_FILE`` (JSON: case → status, headers, base64 body).
    """
    table = json.loads(Path(os.environ["BENCH_BASELINE_FILE"]).read_text())
    replies: dict[bytes, tuple[int, list[tuple[bytes, bytes]], bytes]] = {
        case.encode(): (
            entry["status"],
            [(k.encode(), v.encode()) for k, v in entry["headers"]],
            base64.b64decode(entry["body"]),
        )
        for case, entry in table.items()
    }
    missing = (404, [(b"content-type", b"application/json")], b"{}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        case = next((v for k, v in scope["headers"] if k == b"x-bench-case"), b"")
        status, headers, body = replies.get(case, missing)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


# ---- setup -------------------------------------------------------------------------------


@dataclass
class Fixture:
    """What the client needs to know about the loaded store."""

    token: str
    dataset_id: str
    analysis_ids: list[str]
    selective_name: str
    n_bulk: int


def _bulk_analyses(n: int, dataset_ids: list[str]) -> Iterator[dict[str, Any]]:
    kinds = ("SPRING", "TSNE", "UMAP")
    for i in range(n):
        yield {
            "_id": str(uuid.UUID(int=(0xB0 << 120) | i)),
            "name": f"bulk analysis {i:06d}",
            "processType": kinds[i % 3],
            "parameters": {"seed": i % 10, "perplexity": 30, "n_neighbors": 5 + i % 7},
            "dataset": dataset_ids[i % len(dataset_ids)],
        }


def load_store(settings: Any, *, n_bulk: int) -> Fixture:
    """Populate the example, add 30 datasets and ``n_bulk`` analyses; return the fixture."""
    from bioblocks.metadata import populate
    from bioblocks.store import open_store

    populate(settings)
    store = open_store(settings)
    try:
        example = [d["_id"] for d in store.find("analysis")]
        datasets = [
            {
                "_id": str(uuid.UUID(int=(0xD0 << 120) | i)),
                "name": f"bench dataset {i:02d}",
                "authors": ["Bench Mark"],
                "species": "mus_musculus",
                "analyses": [example[i % len(example)], example[(i + 1) % len(example)]],
                "derivedFrom": [],
                "matrixInfo": {"rowCount": 1000 + i, "colCount": 20000},
            }
            for i in range(30)
        ]
        store.insert_many("dataset", datasets, validate=False)
        dataset_ids = [d["_id"] for d in datasets]
        batch: list[dict[str, Any]] = []
        for doc in _bulk_analyses(n_bulk, dataset_ids):
            batch.append(doc)
            if len(batch) == 10_000:
                store.insert_many("analysis", batch, validate=False)
                batch = []
        if batch:
            store.insert_many("analysis", batch, validate=False)
        token = store.create_token("benchmark")
        return Fixture(
            token=token,
            dataset_id=dataset_ids[0],
            analysis_ids=[str(uuid.UUID(int=(0xB0 << 120) | i))
                          for i in range(0, n_bulk, n_bulk // 64)],
            selective_name=f"bulk analysis {n_bulk // 2:06d}",
            n_bulk=n_bulk,
        )
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((BASE_URL_HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(factory: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``uvicorn --factory benchmarks.api:<factory>``; yield (base URL, process)."""
    import httpx

    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if k != "BIOBLOCKS_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"benchmarks.api:{factory}",
         "--port", str(port), *UVICORN_OPTIONS],
        cwd=REPO, env={**environ, **env},
    )
    url = f"http://{BASE_URL_HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{factory} server exited with code {proc.returncode}")
            try:
                httpx.get(url + "/", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} server did not start in 60 s") from None
                time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- requests ----------------------------------------------------------------------------


def request_for(
    kind: str, fixture: Fixture, worker: int, etags: dict[str, str]
) -> tuple[str, str, dict[str, str], bytes | None, str | None]:
    """Return ``(method, path, headers, body, patched id)`` of one request of ``kind``."""
    auth = {"Authorization": f"Bearer {fixture.token}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    if kind == "collection GET embedded":
        return "GET", f"/dataset?embedded={EMBED}", {}, None, None
    if kind == "item GET embedded":
        return "GET", f"/dataset/{fixture.dataset_id}?embedded={EMBED}", {}, None, None
    if kind == "POST":
        body = {"name": f"posted {uuid.uuid4().hex[:12]}", "processType": "UMAP",
                "parameters": {"seed": 1}}
        return "POST", "/analysis", json_headers, json.dumps(body).encode(), None
    if kind == "PATCH":
        doc_id = fixture.analysis_ids[worker % len(fixture.analysis_ids)]
        headers = {**json_headers, "If-Match": f'"{etags.get(doc_id, "")}"'}
        body = json.dumps({"parameters": {"seed": worker}}).encode()
        return "PATCH", f"/analysis/{doc_id}", headers, body, doc_id
    if kind == "where 1 hit":
        where = json.dumps({"name": fixture.selective_name})
        return "GET", f"/analysis?where={where}", {}, None, None
    if kind == "where 1/3 hit":
        where = json.dumps({"processType": "UMAP"})
        return "GET", f"/analysis?where={where}", {}, None, None
    if kind == "where nested":
        where = json.dumps({"processType": "UMAP", "parameters.seed": 7})
        return "GET", f"/analysis?where={where}", {}, None, None
    raise ValueError(kind)


EXPECTED = {"POST": 201}


def record_baseline(url: str, fixture: Fixture, path: Path) -> dict[str, int]:
    """Make one request of each kind to the real API; write the replies for the baseline.

    Returns the size in bytes of each reply body.
    """
    import httpx

    keep = ("content-type", "etag", "location", "x-total-count", "last-modified")
    table: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        etags = _fetch_etags(client, fixture.analysis_ids[:1])
        for kind in KINDS:
            method, target, headers, body, _ = request_for(kind, fixture, 0, etags)
            response = client.request(method, target, headers=headers, content=body)
            if response.status_code != EXPECTED.get(kind, 200):
                raise RuntimeError(
                    f"{kind}: the API answered {response.status_code}: {response.text[:300]}"
                )
            table[kind] = {
                "status": response.status_code,
                "headers": [(k, v) for k, v in response.headers.items() if k.lower() in keep],
                "body": base64.b64encode(response.content).decode(),
            }
            sizes[kind] = len(response.content)
    path.write_text(json.dumps(table))
    return sizes


def _fetch_etags(client: Any, ids: list[str]) -> dict[str, str]:
    out = {}
    for doc_id in ids:
        response = client.get(f"/analysis/{doc_id}")
        response.raise_for_status()
        out[doc_id] = response.json()["_etag"]
    return out


# ---- the client process ------------------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one HTTP/1.1 request on a kept-alive connection; return status, headers, body."""
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(b":")
            headers[key.strip().lower()] = value.strip()
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = b""
    return status, headers, body


def _payload(
    host: str, method: str, target: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    lines = [f"{method} {quote(target, safe='/?=&')} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _measure(
    url: str, kind: str, fixture: Fixture, concurrency: int, duration: float, warmup: float
) -> dict[str, float]:
    """Drive ``concurrency`` kept-alive connections for ``warmup + duration`` seconds.

    A minimal raw HTTP/1.1 client (asyncio streams), so that the client costs
    far less CPU per request than the servers it measures.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or BASE_URL_HOST, parts.port or 80
    latencies: list[float] = []
    errors = 0
    etags: dict[str, str] = {}
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    if kind == "PATCH":
        for worker in range(concurrency):
            doc_id = fixture.analysis_ids[worker % len(fixture.analysis_ids)]
            reader, writer = connections[worker]
            status, _, body = await _exchange(
                reader, writer, _payload(parts.netloc, "GET", f"/analysis/{doc_id}", {}, None)
            )
            if status == 200:
                etags[doc_id] = json.loads(body)["_etag"]
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def worker_loop(worker: int) -> None:
        nonlocal errors
        reader, writer = connections[worker]
        while True:
            method, target, headers, body, patched = request_for(kind, fixture, worker, etags)
            payload = _payload(parts.netloc, method, target, {**headers, "X-Bench-Case": kind},
                               body)
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            status, response_headers, _ = await _exchange(reader, writer, payload)
            t1 = time.perf_counter()
            if status != EXPECTED.get(kind, 200):
                if t0 >= measure_from:
                    errors += 1
            elif patched is not None and b"etag" in response_headers:
                etags[patched] = response_headers[b"etag"].decode().strip('"')
            if t0 >= measure_from:
                latencies.append(t1 - t0)

    await asyncio.gather(*(worker_loop(w) for w in range(concurrency)))
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    for _, writer in connections:
        writer.close()
    latencies.sort()
    if not latencies:
        return {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": errors}
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": p99 * 1000,
        "errors": errors,
    }


def _client_main(
    queue: Any, targets: dict[str, str], fixture: Fixture, concurrencies: list[int],
    duration: float, warmup: float,
) -> None:
    """Entry point of the client process: measure every kind × concurrency × target."""
    try:
        import uvloop

        run_loop: Callable[..., Any] = uvloop.run
    except ImportError:
        run_loop = asyncio.run
    results = []
    for kind in KINDS:
        for concurrency in concurrencies:
            row = {"kind": kind, "concurrency": concurrency}
            for name, url in targets.items():
                row[name] = run_loop(
                    _measure(url, kind, fixture, concurrency, duration, warmup)
                )
            results.append(row)
    queue.put(results)


def measure_in_client_process(
    targets: dict[str, str], fixture: Fixture, concurrencies: list[int],
    duration: float, warmup: float,
) -> list[dict[str, Any]]:
    """Run the measurements in a separate (spawned) process; return its rows."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_client_main,
        args=(queue, targets, fixture, concurrencies, duration, warmup),
    )
    proc.start()
    while True:
        try:
            results = queue.get(timeout=1.0)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(
                    f"the client process died with exit code {proc.exitcode}"
                ) from None
    proc.join()
    return results


# ---- main --------------------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    *,
    background: Callable[[Any], AbstractContextManager[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Set up, serve, measure and print the table; return the measured rows.

    ``background(settings)``, when given, is entered after the store is loaded
    and left after the measurements (work that runs alongside the API).
    """
    from bioblocks.config import Settings

    n_bulk = 10_000 if args.quick else 100_000
    duration = 1.0 if args.quick else args.duration
    warmup = 0.2 if args.quick else 0.5
    concurrencies = [16] if args.quick and args.concurrency is None else (
        [int(c) for c in (args.concurrency or "1,16").split(",")]
    )
    print(machine_line(), flush=True)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        database_url = (
            stack.enter_context(scratch_schema(args.postgres, prefix="bench")) if args.postgres else None
        )
        settings = Settings(data_dir=tmp / "files", database_url=database_url,
                            log_level="WARNING")
        t0 = time.perf_counter()
        fixture = load_store(settings, n_bulk=n_bulk)
        load_s = time.perf_counter() - t0
        env = {"BIOBLOCKS_DATA_DIR": str(settings.data_dir), "BIOBLOCKS_LOG_LEVEL": "WARNING",
               "BENCH_BASELINE_FILE": str(tmp / "baseline.json")}
        if database_url:
            env["BIOBLOCKS_DATABASE_URL"] = database_url
        if background is not None:
            stack.enter_context(background(settings))
        api_url, api_proc = stack.enter_context(serve("app_factory", env))
        sizes = record_baseline(api_url, fixture, tmp / "baseline.json")
        base_url, _ = stack.enter_context(serve("baseline_factory", env))
        with PeakMemorySampler(api_proc.pid) as memory:
            rows = measure_in_client_process(
                {"api": api_url, "baseline": base_url}, fixture, concurrencies,
                duration, warmup,
            )
    store_name = "PostgreSQL" if args.postgres else "SQLite"
    table = []
    for row in rows:
        api, base = row["api"], row["baseline"]
        table.append([
            row["kind"], sizes[row["kind"]], row["concurrency"],
            api["rps"], api["p50"], api["p99"],
            base["rps"], base["p50"], base["p99"],
            api["rps"] / base["rps"] if base["rps"] else None,
            int(api["errors"]),
        ])
    print_table(
        ["request", "bytes", "conc", "API req/s", "p50 ms", "p99 ms",
         "base req/s", "p50 ms", "p99 ms", "API/base", "errors"],
        table,
        title=(
            f"metadata API ({store_name}, uvicorn 1 worker) vs minimal ASGI app with the same "
            f"bytes; {duration:g} s per cell; 'where' on {n_bulk:,} analyses "
            f"(loaded in {load_s:.1f} s); API peak RSS {format_bytes(memory.peak_bytes)}"
        ),
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10,000 bulk documents, 1 s per cell, concurrency 16 only")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None,
                        metavar="URL", help=f"use PostgreSQL (default URL {DEFAULT_POSTGRES})")
    parser.add_argument("--concurrency", default=None,
                        help="comma-separated concurrency levels (default 1,16)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds measured per cell (default 5)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
