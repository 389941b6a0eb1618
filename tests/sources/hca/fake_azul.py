"""A fake Azul service speaking real HTTP on 127.0.0.1, for tests of the HCA import.

It replays ``/work/shared/spec/hca-fixtures/`` with the Azul and Google Storage host
prefixes rewritten to itself, and serves the matrix files a test registers with
:meth:`FakeAzul.serve_file` at fake "signed" URLs. Faults are scripted per test.

Use it from any test module::

    from tests.sources.hca.fake_azul import FakeAzul, fake_azul, make_h5ad_bytes  # noqa: F401

    def test_something(fake_azul: FakeAzul) -> None:
        fake_azul.serve_file(KIDNEY_H5AD, make_h5ad_bytes(n_cells=50, n_genes=30))
        settings = get_settings(hca_url=fake_azul.base_url, hca_requests_per_second=0)

(``tests`` is a package: the test modules import each other as ``tests.<area>.<module>``.)

Endpoints: ``GET /index/catalogs``; ``GET /index/projects`` (two pages, the second
matched by the fixture's ``search_after``; ``project``/``projectId``/``genusSpecies``/
``organ``/``fileFormat`` filters narrow to one page); ``GET /index/projects/{id}``;
``GET [/fetch]/repository/files/{uuid}``; the signed storage URLs (``Range`` honoured).
Unknown query parameters answer 400 and unknown catalogs 404, as Azul does.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import socket
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "hca-fixtures"
AZUL_PREFIX = "https://service.azul.data.humancellatlas.org"
GCS_PREFIX = "https://storage.googleapis.com"

#: Ids of the fixture projects and their matrix files.
KIDNEY_PROJECT = "0f1e2d3c-4b5a-4968-7766-554433221100"
RETINA_PROJECT = "a1b2c3d4-e5f6-4708-9a1b-2c3d4e5f6071"
KIDNEY_LOOM = "5d2c7e10-91ab-5c3f-8e44-7b0d1a2f3c4e"
KIDNEY_H5AD = "c41f0b7a-2e3d-5a69-b8c7-d6e5f4a3b2c1"
RETINA_LOOM = "9e8d7c6b-5a49-5382-a716-05f4e3d2c1b0"
RETINA_MTX_ZIP = "2b3c4d5e-6f70-5819-8a2b-3c4d5e6f7081"
PAGE2_SEARCH_AFTER = (
    '["A single-cell atlas of the fictional human kidney cortex", '
    '"0f1e2d3c-4b5a-4968-7766-554433221100"]'
)

_INDEX_PARAMS = {"catalog", "filters", "size", "sort", "order", "search_after", "search_before"}
_FILE_PARAMS = {"catalog", "version", "fileName", "wait", "replica", "requestIndex", "token"}


@dataclass
class Recorded:
    """One request the fake server received."""

    method: str
    path: str
    query: str
    params: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class _Fault:
    path_prefix: str
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _walk_leaves(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, list):
        yield from (leaf for leaf in tree if isinstance(leaf, dict))
    elif isinstance(tree, dict):
        for sub in tree.values():
            yield from _walk_leaves(sub)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, cut-off tests) are expected; stay quiet about them."""


class FakeAzul:
    """The fake service; start it with ``with FakeAzul() as fake:`` (or the ``fake_azul`` fixture).

    Attributes a test reads or changes: ``base_url``, ``catalogs`` (the
    ``/index/catalogs`` body), ``pages`` (the two search pages), ``requests``
    (every :class:`Recorded` request).
    """

    def __init__(self, *, fixtures_dir: Path = FIXTURES) -> None:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.catalogs: dict[str, Any] = self._load(fixtures_dir / "index-catalogs.json")
        self.pages: list[dict[str, Any]] = [
            self._load(fixtures_dir / "index-projects-page1.json"),
            self._load(fixtures_dir / "index-projects-page2.json"),
        ]
        fetch = self._load(fixtures_dir / "fetch-repository-files.json")
        self._signed_paths: dict[str, str] = {KIDNEY_LOOM: fetch["Location"]}
        self.contents: dict[str, bytes] = {}
        self.requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._slow: list[list[Any]] = []
        self._not_ready: dict[str, tuple[int, int]] = {}
        self._cut: dict[str, int] = {}
        self._expired: dict[str, int] = {}
        self.lock = threading.Lock()
        self.released = threading.Event()  # ends the waits of slow answers
        self._thread: threading.Thread | None = None

    def _load(self, path: Path) -> Any:
        text = path.read_text(encoding="utf-8")
        text = text.replace(AZUL_PREFIX, self.base_url).replace(GCS_PREFIX, self.base_url)
        return json.loads(text)

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeAzul:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port."""
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAzul:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the index ------------------------------------------------------------------------

    def hits(self) -> list[dict[str, Any]]:
        """Every project hit, page 1 first (live objects: edit them to change answers)."""
        return [hit for page in self.pages for hit in page["hits"]]

    def hit(self, project_id: str) -> dict[str, Any]:
        """The hit of one project."""
        return next(h for h in self.hits() if h["entryId"] == project_id)

    def leaves(self, uuid: str) -> list[dict[str, Any]]:
        """Every leaf object of file ``uuid`` in the matrix trees (live, editable)."""
        found = []
        for hit in self.hits():
            for project in hit["projects"]:
                for key in ("matrices", "contributedAnalyses"):
                    found.extend(leaf for leaf in _walk_leaves(project.get(key)) if leaf.get("uuid") == uuid)
        if not found:
            raise KeyError(uuid)
        return found

    def leaf(self, uuid: str) -> dict[str, Any]:
        """The first leaf object of file ``uuid``."""
        return self.leaves(uuid)[0]

    def serve_file(self, uuid: str, content: bytes, *, index_sha256: str | None = None) -> None:
        """Serve ``content`` as file ``uuid`` and make the index's size and sha256 match it.

        ``index_sha256`` puts another hash in the index (a corrupt-download test).
        """
        self.contents[uuid] = content
        for leaf in self.leaves(uuid):
            leaf["size"] = len(content)
            leaf["sha256"] = index_sha256 or hashlib.sha256(content).hexdigest()

    def new_version(self, uuid: str, version: str) -> None:
        """Publish a new version of file ``uuid`` (its leaves' ``version`` and links change)."""
        for leaf in self.leaves(uuid):
            old = quote(leaf["version"], safe="")
            leaf["version"] = version
            for key in ("url", "azul_url"):
                if leaf.get(key):
                    leaf[key] = leaf[key].replace(f"version={old}", f"version={quote(version, safe='')}")

    # ---- scripted faults --------------------------------------------------------------------

    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path starts with ``path_prefix`` with ``status``."""
        payload = json.dumps(body if body is not None else {"Code": "Fault", "Message": "scripted"})
        self._faults.append(_Fault(path_prefix, status, times, dict(headers or {}), payload.encode()))

    def throttle(self, path_prefix: str, *, times: int = 1, retry_after: int = 0) -> None:
        """Answer 429 with ``Retry-After`` to the next ``times`` matching requests."""
        self.fail(
            path_prefix,
            429,
            times=times,
            headers={"Retry-After": str(retry_after)},
            body={"Code": "TooManyRequestsError", "Message": "Too many requests"},
        )

    def slow(self, path_prefix: str, *, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` (or until the server stops) before answering the next ``times``
        matching requests (timeouts)."""
        self._slow.append([path_prefix, seconds, times])

    def not_ready(self, uuid: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer ``Status: 301`` + ``Retry-After`` ``times`` times before the 302 for ``uuid``."""
        self._not_ready[uuid] = (times, retry_after)

    def cut_off(self, uuid: str, *, after_bytes: int) -> None:
        """Drop the connection after ``after_bytes`` bytes on the next download of ``uuid``."""
        self._cut[uuid] = after_bytes

    def expire(self, uuid: str, *, times: int = 1) -> None:
        """Answer 403 (an expired signature) to the next ``times`` downloads of ``uuid``."""
        self._expired[uuid] = times

    def requests_to(self, path_prefix: str) -> list[Recorded]:
        """The recorded requests whose path starts with ``path_prefix``."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.times > 0 and path.startswith(fault.path_prefix):
                    fault.times -= 1
                    return fault
        return None

    # ---- answers --------------------------------------------------------------------------

    def catalog_names(self) -> list[str]:
        return list(self.catalogs["catalogs"])

    def search(self, params: dict[str, list[str]]) -> tuple[int, Any]:
        """The answer to ``GET /index/projects``."""
        filters_text = params.get("filters", ["{}"])[0]
        try:
            filters = json.loads(filters_text)
            if not isinstance(filters, dict):
                raise ValueError
        except ValueError:
            return 400, {"Code": "BadRequestError", "Message": "The `filters` parameter is not valid JSON"}
        matching = [h for h in self.hits() if _hit_matches(h, filters)]
        if len(matching) < len(self.hits()):
            page = copy.deepcopy(self.pages[0])
            page["hits"] = matching
            page["pagination"].update(count=len(matching), total=len(matching), pages=int(bool(matching)), next=None, previous=None)
            return 200, page
        after = params.get("search_after", [None])[0]
        if after is None:
            return 200, self.pages[0]
        if after == PAGE2_SEARCH_AFTER:
            return 200, self.pages[1]
        return 400, {"Code": "BadRequestError", "Message": f"unexpected search_after {after}"}

    def signed_url(self, uuid: str) -> str:
        """The fake signed storage URL of file ``uuid``."""
        if uuid in self._signed_paths:
            return self._signed_paths[uuid]
        name = self.leaf(uuid)["name"]
        query = urlencode(
            {
                "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
                "X-Goog-Credential": "fake-signer@example.iam.gserviceaccount.com/20260101/auto/storage/goog4_request",
                "X-Goog-Date": "20260101T120000Z",
                "X-Goog-Expires": "900",
                "X-Goog-SignedHeaders": "host",
                "X-Goog-Signature": "00deadbeef00",
            }
        )
        return f"{self.base_url}/datarepo-fake-bucket/{uuid}/{quote(name)}?{query}"


def _hit_matches(hit: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Project-level filter semantics: any aggregated value matches (as Azul does)."""
    project = hit["projects"][0]
    values_of = {
        "project": [project.get("projectShortname")],
        "projectId": [hit.get("entryId")],
        "genusSpecies": [s for d in hit.get("donorOrganisms", []) for s in d.get("genusSpecies", [])],
        "organ": [o for s in hit.get("specimens", []) for o in s.get("organ", [])],
        "fileFormat": [f.get("format") for f in hit.get("fileTypeSummaries", [])],
    }
    for name, relation in filters.items():
        wanted = relation.get("is", []) if isinstance(relation, dict) else []
        if name in values_of and not set(values_of[name]) & set(wanted):
            return False
    return True


def _handler_for(fake: FakeAzul) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Silence the default stderr log."""

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            parts = urlsplit(self.path)
            params = parse_qs(parts.query, keep_blank_values=True)
            fake.requests.append(Recorded("GET", parts.path, parts.query, params, dict(self.headers)))
            with fake.lock:
                delay = next((s for s in fake._slow if s[2] > 0 and parts.path.startswith(s[0])), None)
                if delay is not None:
                    delay[2] -= 1
            if delay is not None:
                fake.released.wait(delay[1])  # set when the server stops
            fault = fake.take_fault(parts.path)
            if fault is not None:
                self._send(fault.status, fault.body, {"Content-Type": "application/json", **fault.headers})
                return
            path = parts.path
            if path == "/index/catalogs":
                self._json(200, fake.catalogs)
            elif path.startswith("/index/projects"):
                self._index(path, params)
            elif path.startswith(("/repository/files/", "/fetch/repository/files/")):
                self._repository(path, parts.query, params)
            elif "X-Goog-Signature" in params:
                self._storage(path)
            else:
                self._json(404, {"Code": "NotFoundError", "Message": f"no route {path}"})

        def _bad_params(self, params: dict[str, list[str]], allowed: set[str]) -> bool:
            unknown = sorted(set(params) - allowed)
            if unknown:
                self._json(400, {"Code": "BadRequestError", "Message": f"Unknown query parameter `{unknown[0]}`"})
                return True
            catalog = params.get("catalog", [None])[0]
            if catalog is not None and catalog not in fake.catalog_names():
                names = ", ".join(repr(n) for n in fake.catalog_names())
                self._json(404, {"Code": "NotFoundError", "Message": f"Catalog name {catalog!r} does not exist. Must be one of {{{names}}}."})
                return True
            return False

        def _index(self, path: str, params: dict[str, list[str]]) -> None:
            if self._bad_params(params, _INDEX_PARAMS):
                return
            size = params.get("size", ["10"])[0]
            if not size.isdigit() or not 1 <= int(size) <= 100:
                self._json(400, {"Code": "BadRequestError", "Message": "Invalid value for parameter `size`, must not be greater than 100"})
                return
            project_id = path.removeprefix("/index/projects").strip("/")
            if project_id:
                try:
                    self._json(200, fake.hit(project_id))
                except StopIteration:
                    self._json(404, {"Code": "NotFoundError", "Message": f"Unable to find project {project_id!r}"})
                return
            status, body = fake.search(params)
            self._json(status, body)

        def _repository(self, path: str, query: str, params: dict[str, list[str]]) -> None:
            if self._bad_params(params, _FILE_PARAMS):
                return
            is_fetch = path.startswith("/fetch/")
            uuid = path.rsplit("/", 1)[-1]
            version = params.get("version", [None])[0]
            try:
                known = fake.leaf(uuid)
            except KeyError:
                known = None
            if known is None or uuid not in fake.contents or (version and version != known.get("version")):
                self._json(404, {"Code": "NotFoundError", "Message": f"File {uuid!r} with version {version!r} not found"})
                return
            with fake.lock:
                times, retry_after = fake._not_ready.get(uuid, (0, 0))
                if times:
                    fake._not_ready[uuid] = (times - 1, retry_after)
            if times:
                index = int(params.get("requestIndex", ["0"])[0]) + 1
                kept = "&".join(p for p in query.split("&") if not p.startswith("requestIndex="))
                location = f"{fake.base_url}{path}?{kept}&requestIndex={index}"
                if is_fetch:
                    self._json(200, {"Status": 301, "Location": location, "Retry-After": retry_after})
                else:
                    self._send(301, headers={"Location": location, "Retry-After": str(retry_after)})
                return
            location = fake.signed_url(uuid)
            if is_fetch:
                self._json(200, {"Status": 302, "Location": location})
            else:
                self._send(302, headers={"Location": location})

        def _storage(self, path: str) -> None:
            uuid = next((u for u in fake.contents if urlsplit(fake.signed_url(u)).path == path), None)
            if uuid is None:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
                return
            with fake.lock:
                expired = fake._expired.get(uuid, 0)
                if expired:
                    fake._expired[uuid] = expired - 1
                cut = fake._cut.pop(uuid, None)
            if expired:
                self._send(403, b"<Error><Code>ExpiredToken</Code></Error>", {"Content-Type": "application/xml"})
                return
            content = fake.contents[uuid]
            start = 0
            status = 200
            headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
            range_header = self.headers.get("Range")
            if range_header and range_header.startswith("bytes=") and range_header.endswith("-"):
                start = int(range_header[len("bytes="):-1])
                if start >= len(content):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(content)}"})
                    return
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            body = content[start:]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    return Handler


# ---- small matrices the tests serve ------------------------------------------------------------


def _counts(n_cells: int, n_genes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(0.7, size=(n_cells, n_genes)).astype(np.float32)


def make_h5ad_bytes(*, n_cells: int = 60, n_genes: int = 40, seed: int = 0) -> bytes:
    """An ``.h5ad`` of Poisson counts (cells × genes, CSR), cells ``cell_<i>``, genes ``gene_<j>``."""
    import anndata
    import pandas as pd
    import scipy.sparse as sp

    adata = anndata.AnnData(
        X=sp.csr_matrix(_counts(n_cells, n_genes, seed)),
        obs=pd.DataFrame(index=[f"cell_{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"gene_{j}" for j in range(n_genes)]),
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "matrix.h5ad"
        adata.write_h5ad(path)
        return path.read_bytes()


def make_loom_bytes(*, n_cells: int = 60, n_genes: int = 40, seed: int = 0) -> bytes:
    """A Loom file (``/matrix`` genes × cells, ``row_attrs/Gene``, ``col_attrs/CellID``)."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_dataset("matrix", data=_counts(n_cells, n_genes, seed).T)
        handle.create_dataset("row_attrs/Gene", data=np.array([f"gene_{j}" for j in range(n_genes)], dtype="S"))
        handle.create_dataset("col_attrs/CellID", data=np.array([f"cell_{i}" for i in range(n_cells)], dtype="S"))
        handle.create_group("layers")
        handle.create_group("row_graphs")
        handle.create_group("col_graphs")
        handle.attrs["LOOM_SPEC_VERSION"] = "3.0.0"
    return buffer.getvalue()


def make_mtx_zip_bytes(
    *, name: str = "matrix.mtx", n_cells: int = 60, n_genes: int = 40, seed: int = 0
) -> bytes:
    """A DCP/1 Matrix Service ``.mtx.zip``: one top folder, gzipped members (genes × cells)."""
    counts = _counts(n_cells, n_genes, seed)
    rows, cols = np.nonzero(counts.T)
    lines = [
        "%%MatrixMarket matrix coordinate real general",
        f"{n_genes} {n_cells} {len(rows)}",
        *(f"{r + 1} {c + 1} {counts[c, r]:g}" for r, c in zip(rows, cols, strict=True)),
    ]
    genes = ["featurekey\tfeaturename"] + [f"ENSG{j:011d}\tgene_{j}" for j in range(n_genes)]
    cells = ["cellkey\tgenes_detected"] + [
        f"cell_{i}\t{int((counts[i] > 0).sum())}" for i in range(n_cells)
    ]
    members = {
        "matrix.mtx.gz": "\n".join(lines) + "\n",
        "genes.tsv.gz": "\n".join(genes) + "\n",
        "cells.tsv.gz": "\n".join(cells) + "\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for member, text in members.items():
            archive.writestr(f"{name}/{member}", gzip.compress(text.encode(), mtime=0))
    return buffer.getvalue()


@pytest.fixture
def fake_azul() -> Iterator[FakeAzul]:
    """A started :class:`FakeAzul`, stopped after the test."""
    with FakeAzul() as server:
        yield server
