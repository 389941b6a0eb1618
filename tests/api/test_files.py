"""``/datasets/...`` file serving: ranges, conditional requests, types, gzip, confinement."""

from __future__ import annotations

import asyncio
import gzip
import os
from email.utils import formatdate
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bioblocks.api.files import content_type, router
from bioblocks.config import Settings

CSV = ("gene,value\n" + "".join(f"g{k},{k}\n" for k in range(400))).encode()
BINARY = bytes(range(256)) * 64


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    folder = root / "datasets" / "abc" / "analyses" / "x1"
    folder.mkdir(parents=True)
    (folder / "coordinates.txt").write_bytes(b"0,1.5,2.5\n1,3.0,4.0\n")
    (folder / "counts.csv").write_bytes(CSV)
    (folder / "run_info.json").write_bytes(b'{"seed": 0}')
    (folder / "edges.npz").write_bytes(BINARY)
    (folder / "page.html").write_bytes(b"<script>alert(1)</script>")
    (folder / "script.js").write_bytes(b"alert(1)")
    (root / "bioblocks.sqlite3").write_bytes(b"secret database")
    (tmp_path / "outside.txt").write_bytes(b"outside")
    os.symlink(tmp_path / "outside.txt", folder / "escape.txt")
    os.symlink(folder / "counts.csv", folder / "inside.csv")
    return root


@pytest.fixture
def client(data_dir: Path) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.settings = Settings(data_dir=data_dir)
    return TestClient(app)


BASE = "/datasets/abc/analyses/x1"


def test_get_whole_file_with_validators(client: TestClient) -> None:
    r = client.get(f"{BASE}/edges.npz")
    assert r.status_code == 200
    assert r.content == BINARY
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-length"] == str(len(BINARY))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith("GMT")


def test_spring_alias_serves_the_same_file(client: TestClient) -> None:
    a = client.get(f"{BASE}/coordinates.txt")
    b = client.get(f"/spring{BASE}/coordinates.txt")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content == b"0,1.5,2.5\n1,3.0,4.0\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("coordinates.txt", "text/plain; charset=utf-8"),
        ("counts.csv", "text/plain; charset=utf-8"),
        ("run_info.json", "application/json"),
        ("edges.npz", "application/octet-stream"),
        ("page.html", "application/octet-stream"),
        ("script.js", "application/octet-stream"),
    ],
)
def test_content_types(client: TestClient, name: str, expected: str) -> None:
    r = client.get(f"{BASE}/{name}", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == expected
    assert content_type(name) == expected


def test_head(client: TestClient) -> None:
    r = client.head(f"{BASE}/edges.npz")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(BINARY))


def test_ranges(client: TestClient) -> None:
    r = client.get(f"{BASE}/edges.npz", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == BINARY[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(BINARY)}"
    assert r.headers["content-length"] == "10"
    r = client.get(f"{BASE}/edges.npz", headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == BINARY[-5:]
    r = client.get(f"{BASE}/edges.npz", headers={"Range": f"bytes={len(BINARY) - 3}-"})
    assert r.status_code == 206 and r.content == BINARY[-3:]
    r = client.get(f"{BASE}/edges.npz", headers={"Range": "bytes=0-999999"})
    assert r.status_code == 206 and r.content == BINARY


def test_range_on_text_is_not_gzipped(client: TestClient) -> None:
    r = client.get(f"{BASE}/counts.csv", headers={"Range": "bytes=0-9", "Accept-Encoding": "gzip"})
    assert r.status_code == 206
    assert "content-encoding" not in r.headers
    assert r.content == CSV[:10]


def test_unsatisfiable_range(client: TestClient) -> None:
    r = client.get(f"{BASE}/edges.npz", headers={"Range": f"bytes={len(BINARY)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(BINARY)}"
    assert r.json()["_status"] == "ERR" and r.json()["_error"]["code"] == 416


def test_malformed_ranges_send_the_whole_file(client: TestClient) -> None:
    for header in ("bytes=5-2", "items=0-1"):
        r = client.get(f"{BASE}/edges.npz", headers={"Range": header})
        assert r.status_code == 200 and r.content == BINARY


def test_if_range_with_old_validator_ignores_range(client: TestClient) -> None:
    r = client.get(f"{BASE}/edges.npz", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert r.status_code == 200 and r.content == BINARY
    etag = client.get(f"{BASE}/edges.npz").headers["etag"]
    r = client.get(f"{BASE}/edges.npz", headers={"Range": "bytes=0-1", "If-Range": etag})
    assert r.status_code == 206


def test_not_modified(client: TestClient, data_dir: Path) -> None:
    first = client.get(f"{BASE}/edges.npz")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    r = client.get(f"{BASE}/edges.npz", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = client.get(f"{BASE}/edges.npz", headers={"If-None-Match": f'"x", W/{etag}'})
    assert r.status_code == 304
    r = client.get(f"{BASE}/edges.npz", headers={"If-Modified-Since": modified})
    assert r.status_code == 304
    r = client.get(f"{BASE}/edges.npz", headers={"If-Modified-Since": formatdate(0, usegmt=True)})
    assert r.status_code == 200
    r = client.get(f"{BASE}/edges.npz", headers={"If-None-Match": '"other"'})
    assert r.status_code == 200
    # a rewritten file gets a new validator
    path = data_dir / "datasets/abc/analyses/x1/edges.npz"
    path.write_bytes(BINARY + b"!")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    r = client.get(f"{BASE}/edges.npz", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag


def test_gzip_for_text_only_when_accepted(client: TestClient) -> None:
    r = client.get(f"{BASE}/counts.csv", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.content == CSV  # httpx decodes
    raw = client.get(f"{BASE}/counts.csv", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["etag"].endswith('-gz"')
    plain = client.get(f"{BASE}/counts.csv", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == CSV
    refused = client.get(f"{BASE}/counts.csv", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    binary = client.get(f"{BASE}/edges.npz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in binary.headers
    assert gzip.decompress(gzip.compress(CSV)) == CSV


@pytest.mark.parametrize(
    "path",
    [
        "/datasets/abc/analyses/x1/missing.txt",
        "/datasets/abc/analyses/x1",
        "/datasets/abc",
        "/datasets/",
        "/datasets/abc/analyses/x1/escape.txt",
        "/datasets/%2e%2e/bioblocks.sqlite3",
        "/datasets/abc/%2e%2e/%2e%2e/bioblocks.sqlite3",
        "/datasets/abc/%252e%252e/%252e%252e/bioblocks.sqlite3",
        "/datasets/abc/..%2f..%2fbioblocks.sqlite3",
        "/datasets/abc/..%5c..%5cbioblocks.sqlite3",
        "/datasets/%2fetc%2fpasswd",
        "/datasets//etc/passwd",
        "/datasets/abc%00.txt",
        "/spring/datasets/%2e%2e/bioblocks.sqlite3",
    ],
)
def test_not_found_and_traversal(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, path
    assert r.headers["content-type"] == "application/json"
    assert r.json()["_status"] == "ERR" and r.json()["_error"]["code"] == 404


def test_symlink_inside_the_tree_is_served(client: TestClient) -> None:
    assert client.get(f"{BASE}/inside.csv", headers={"Accept-Encoding": "identity"}).content == CSV


def _raw_get(app: FastAPI, path: str) -> int:
    """Send a request with an unnormalised path straight to the ASGI app; return the status."""
    status: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[arg-type]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "app": app,
    }
    asyncio.run(app(scope, receive, send))
    return status[0]


@pytest.mark.parametrize(
    "path",
    [
        "/datasets/../bioblocks.sqlite3",
        "/datasets/abc/../../bioblocks.sqlite3",
        "/datasets/abc/analyses/x1/../../../../outside.txt",
        "/spring/datasets/../bioblocks.sqlite3",
        "/datasets/abc\\..\\..\\bioblocks.sqlite3",
    ],
)
def test_literal_dot_dot_is_refused(client: TestClient, path: str) -> None:
    assert _raw_get(client.app, path) == 404  # type: ignore[arg-type]


# -- one HTTP layer: the same answers for a dataset file and a media file -------------------

DATA = bytes(range(65, 91)) * 40  # 1,040 bytes of letters, no CR/LF inside the parts


def _url(app: FastAPI, kind: str, data: bytes) -> str:
    """Store ``data`` as a dataset file or as a media file of ``app``; return its URL."""
    if kind == "media":
        info = app.state.store.put_media(filename="i.png", content_type="image/png", data=data)
        return f"/media/{info.id}"
    folder = app.state.settings.resolved_data_dir / "datasets" / "abc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"blob{len(data)}.bin").write_bytes(data)
    return f"/{kind}/abc/blob{len(data)}.bin"


ENDPOINTS = ["datasets", "spring/datasets", "media"]


@pytest.fixture
def full(api_app: FastAPI, api_token: str) -> TestClient:
    """A client of the whole application (files and media routers, middleware)."""
    return TestClient(api_app, headers={"Authorization": f"Bearer {api_token}"})


@pytest.mark.parametrize("kind", ENDPOINTS)
@pytest.mark.parametrize(
    ("header", "span"),
    [("bytes=0-0", (0, 0)), ("bytes=5-", (5, len(DATA) - 1)), ("bytes=-20", (len(DATA) - 20, len(DATA) - 1)),
     ("bytes=-5000", (0, len(DATA) - 1)), ("bytes=10-99999", (10, len(DATA) - 1))],
)
def test_single_ranges(full: TestClient, kind: str, header: str, span: tuple[int, int]) -> None:
    r = full.get(_url(full.app, kind, DATA), headers={"Range": header})  # type: ignore[arg-type]
    first, last = span
    assert r.status_code == 206 and r.content == DATA[first:last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("kind", ENDPOINTS)
@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=3-1", "items=0-1", "bytes=-", "bytes=x-y", "bytes"])
def test_malformed_range_is_ignored_everywhere(full: TestClient, kind: str, header: str) -> None:
    """RFC 9110 §14.2: an invalid Range (``last < first`` included) is ignored: 200, whole file."""
    r = full.get(_url(full.app, kind, DATA), headers={"Range": header})  # type: ignore[arg-type]
    assert r.status_code == 200 and r.content == DATA
    assert "content-range" not in r.headers


@pytest.mark.parametrize("kind", ENDPOINTS)
@pytest.mark.parametrize(("header", "data"), [(f"bytes={len(DATA)}-", DATA), ("bytes=-0", DATA),
                                              ("bytes=0-1", b"")])
def test_unsatisfiable_range_is_a_416_envelope(
    full: TestClient, kind: str, header: str, data: bytes
) -> None:
    r = full.get(_url(full.app, kind, data), headers={"Range": header})  # type: ignore[arg-type]
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert r.json()["_status"] == "ERR" and r.json()["_error"]["code"] == 416


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_several_ranges_are_multipart_byteranges(full: TestClient, kind: str) -> None:
    r = full.get(_url(full.app, kind, DATA), headers={"Range": "bytes=0-1, 10-14,-3"})  # type: ignore[arg-type]
    assert r.status_code == 206
    media, _, boundary = r.headers["content-type"].partition("; boundary=")
    assert media == "multipart/byteranges" and boundary
    assert r.headers["content-length"] == str(len(r.content))
    parts = r.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--"
    got = []
    for part in parts[1:-1]:
        head, _, body = part.partition(b"\r\n\r\n")
        got.append((head.split(b"Content-Range: ")[1].decode(), body.removesuffix(b"\r\n")))
    n = len(DATA)
    assert got == [(f"bytes 0-1/{n}", DATA[0:2]), (f"bytes 10-14/{n}", DATA[10:15]),
                   (f"bytes {n - 3}-{n - 1}/{n}", DATA[-3:])]


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_if_range(full: TestClient, kind: str) -> None:
    url = _url(full.app, kind, DATA)  # type: ignore[arg-type]
    whole = full.get(url)
    etag, modified = whole.headers["etag"], whole.headers["last-modified"]
    for validator in (etag, modified):
        r = full.get(url, headers={"Range": "bytes=0-3", "If-Range": validator})
        assert r.status_code == 206 and r.content == DATA[:4], validator
    for stale in ('"old"', f"W/{etag}", "Thu, 01 Jan 1970 00:00:00 GMT"):
        r = full.get(url, headers={"Range": "bytes=0-3", "If-Range": stale})
        assert r.status_code == 200 and r.content == DATA, stale
    # a stale If-Range also turns an unsatisfiable range into the whole file
    r = full.get(url, headers={"Range": f"bytes={len(DATA)}-", "If-Range": '"old"'})
    assert r.status_code == 200 and r.content == DATA


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_validators_and_304(full: TestClient, kind: str) -> None:
    url = _url(full.app, kind, DATA)  # type: ignore[arg-type]
    whole = full.get(url)
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-length"] == str(len(DATA))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["x-content-type-options"] == "nosniff"
    etag = whole.headers["etag"]
    r = full.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = full.get(url, headers={"If-Modified-Since": whole.headers["last-modified"]})
    assert r.status_code == 304
    assert full.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    head = full.head(url, headers={"Range": "bytes=2-5"})
    assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "4"


@pytest.mark.parametrize("kind", ENDPOINTS)
def test_files_larger_than_a_chunk(full: TestClient, kind: str) -> None:
    """Whole files and ranges across the 256 KiB chunk boundaries come back byte for byte."""
    big = bytes(range(256)) * 2400  # 614,400 bytes: three chunks
    url = _url(full.app, kind, big)  # type: ignore[arg-type]
    assert full.get(url).content == big
    r = full.get(url, headers={"Range": "bytes=262000-524400"})
    assert r.status_code == 206 and r.content == big[262000:524401]
    r = full.get(url, headers={"Range": "bytes=100-200,262100-262200"})
    assert r.status_code == 206 and big[262100:262201] in r.content
