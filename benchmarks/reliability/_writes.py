"""Credentials on every write endpoint, and concurrent writers on one document."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Any

import httpx

from ._row import Row
from ._server import Server

RESOURCES = ("dataset", "analysis", "job", "vignette", "visualization")
_WRITE_METHODS = ("post", "put", "patch", "delete")


#: Files that move without any document or data file changing: the SQLite database and its
#: journals (their bytes move with checkpoints after any write, the checked ones included) and
#: the job workers' presence files (refreshed while they run).
_VOLATILE = re.compile(r"(^|/)bioblocks\.sqlite3(-wal|-shm|-journal)?$|\.db(-wal|-shm|-journal)?$"
                       r"|^workers/[^/]+\.alive$")


def snapshot(server: Server) -> dict[str, str]:
    """Return every document (id → etag), media id and file under the data dir (path → size
    and modification time), leaving out the files of :data:`_VOLATILE`."""
    from bioblocks.store import open_store

    state: dict[str, str] = {}
    store = open_store(server.settings(), migrate=False)
    try:
        for resource in RESOURCES:
            for doc in store.find(resource, None, sort=[("_id", 1)]):
                state[f"{resource}/{doc['_id']}"] = str(doc.get("_etag"))
    finally:
        store.close()
    for path in sorted(server.data_dir.rglob("*")):
        relative = path.relative_to(server.data_dir).as_posix()
        if path.is_dir() or _VOLATILE.search(relative):
            continue
        st = path.lstat()
        state[f"file {relative}"] = f"{st.st_size}:{st.st_mtime_ns}"
    return state


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Return what differs between two snapshots: added, removed and changed keys."""
    return ([f"+{k}" for k in sorted(after.keys() - before.keys())]
            + [f"-{k}" for k in sorted(before.keys() - after.keys())]
            + [f"~{k}" for k in sorted(k for k in before.keys() & after.keys()
                                       if before[k] != after[k])])


def _ids(server: Server) -> dict[str, str]:
    """One existing id per resource (a made-up one where the resource is empty)."""
    from bioblocks.store import open_store

    store = open_store(server.settings(), migrate=False)
    try:
        out = {}
        for resource in RESOURCES:
            docs = store.find(resource, None, limit=1)
            out[resource] = docs[0]["_id"] if docs else str(uuid.uuid4())
        return out
    finally:
        store.close()


def write_operations(schema: dict[str, Any], ids: dict[str, str], *,
                     reads: bool = False) -> list[tuple[str, str]]:
    """Return ``(METHOD, concrete path)`` for every write operation in the OpenAPI ``schema``
    (with ``reads``: only the POSTs that merely read, marked ``x-bioblocks-reads``)."""
    ops = []
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _WRITE_METHODS:
                continue
            if bool(operation.get("x-bioblocks-reads")) != reads:
                continue
            resource = path.strip("/").split("/")[0]
            concrete = re.sub(r"\{[^}]+\}", ids.get(resource, "0123456789abcdef01234567"), path)
            ops.append((method.upper(), concrete))
    return sorted(ops)


def credentials(server: Server) -> Row:
    """Every write operation without a token, with a revoked one, with a malformed header.

    Each must answer 401; the store and the files tree must be unchanged afterwards.
    """
    schema = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    ids = _ids(server)
    # POSTs that only read answer without a token where reads need none; a bad one is 401
    ops = [(m, p, False) for m, p in write_operations(schema, ids)]
    ops += [(m, p, True) for m, p in write_operations(schema, ids, reads=True)]
    variants: dict[str, dict[str, str]] = {
        "none": {},
        "revoked": {"Authorization": f"Bearer {server.revoked_token}"},
        "malformed": {"Authorization": f"Bearer{server.token}"},
        "basic": {"Authorization": f"Basic {server.token}"},
        "empty bearer": {"Authorization": "Bearer"},
        "bad token": {"Authorization": f"Bearer {server.token}x"},
    }
    before = snapshot(server)
    tried = held = 0
    wrong: list[str] = []
    body = b'{"name": "credential check", "kind": "SPRING", "parameters": {}}'
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, read in ops:
            for label, headers in variants.items():
                if read and label == "none":
                    continue
                tried += 1
                resp = client.request(method, path, content=body,
                                      headers={**headers, "Content-Type": "application/json"})
                if resp.status_code == 401 and resp.json().get("_status") == "ERR":
                    held += 1
                elif len(wrong) < 6:
                    wrong.append(f"{method} {path} [{label}] -> {resp.status_code}")
    after = snapshot(server)
    notes = (f"{sum(not r for *_, r in ops)} write operations x {len(variants)} header variants, "
             f"{sum(r for *_, r in ops)} reading POSTs x {len(variants) - 1} bad credentials")
    if wrong:
        notes += "; not 401: " + ", ".join(wrong)
    if before != after:
        notes += "; STATE CHANGED: " + ", ".join(_changes(before, after)[:6])
        held = min(held, tried - 1)
    else:
        notes += "; store and files unchanged"
    return Row("credentials (401, nothing changed)", tried, held, notes)


async def _race(server: Server, requests: list[tuple[str, str, dict[str, str], bytes]]) -> list[int]:
    """Send all ``requests`` at once, each on its own connection; return the status codes."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        gate = asyncio.Event()

        async def one(method: str, path: str, headers: dict[str, str], body: bytes) -> int:
            await gate.wait()
            try:
                resp = await client.request(method, path, headers=headers, content=body)
            except httpx.HTTPError:
                return -1
            return resp.status_code

        tasks = [asyncio.create_task(one(*r)) for r in requests]
        await asyncio.sleep(0.2)
        gate.set()
        return await asyncio.gather(*tasks)


def concurrency(server: Server, *, label: str, n: int = 64, rounds: int = 3) -> Row:
    """``n`` PATCHes with one ETag (exactly one 200) and ``n`` POSTs of one ``_id`` (one 201).

    Repeated ``rounds`` times each; every round is one tried item.
    """
    headers = {**server.auth, "Content-Type": "application/json"}
    tried = held = 0
    notes: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
        for r in range(rounds):
            resp = client.post("/dataset", json={"name": f"race {r} {os.getpid()}"})
            resp.raise_for_status()
            doc_id, etag = resp.json()["_id"], resp.json()["_etag"]
            reqs = [("PATCH", f"/dataset/{doc_id}", {**headers, "If-Match": etag},
                     f'{{"name": "writer {i}"}}'.encode()) for i in range(n)]
            codes = asyncio.run(_race(server, reqs))
            wins = codes.count(200)
            final = client.get(f"/dataset/{doc_id}").json()
            others = {c for c in codes if c != 200}
            tried += 1
            if wins == 1 and others <= {412} and final["_etag"] != etag:
                held += 1
            else:
                notes.append(f"PATCH round {r}: {wins} x 200, others {sorted(others)}")
            new_id = str(uuid.uuid4())
            reqs = [("POST", "/dataset", headers,
                     f'{{"_id": "{new_id}", "name": "poster {i}"}}'.encode()) for i in range(n)]
            codes = asyncio.run(_race(server, reqs))
            created = codes.count(201)
            others = {c for c in codes if c != 201}
            tried += 1
            if created == 1 and all(400 <= c < 500 for c in others):
                held += 1
            else:
                notes.append(f"POST round {r}: {created} x 201, others {sorted(others)}")
    summary = (f"{rounds} rounds x ({n} PATCH same ETag + {n} POST same _id), "
               f"serve --workers {server.workers}")
    return Row(f"concurrency ({label})", tried, held, "; ".join([summary, *notes]))


def data_usage(data_dir: Path) -> int:
    """Return the bytes of every file under ``data_dir`` except those of :data:`_VOLATILE`
    (the SQLite database and its journals, the workers' presence files)."""
    total = 0
    for path in data_dir.rglob("*"):
        if path.is_file() and not _VOLATILE.search(path.relative_to(data_dir).as_posix()):
            total += path.lstat().st_size
    return total
