"""Downloads of http(s) matrix locations: streaming, resume with Range, limits, errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits, fetch_url

PAYLOAD = bytes(range(256)) * 4000


def _server(
    *, support_range: bool = True, cut_first: int | None = None
) -> tuple[httpx.MockTransport, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))
        if request.url.path.endswith("/missing"):
            return httpx.Response(404)
        rng = request.headers.get("range")
        if rng and support_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            body = PAYLOAD[start:]
            return httpx.Response(
                206,
                content=body,
                headers={"Content-Range": f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"},
            )
        if cut_first is not None and len(seen) == 1:
            # the first answer promises everything but delivers a part
            return httpx.Response(
                200, content=PAYLOAD[:cut_first], headers={"Content-Length": str(len(PAYLOAD))}
            )
        return httpx.Response(200, content=PAYLOAD)

    return httpx.MockTransport(handler), seen


def test_download_to_a_folder(tmp_path: Path) -> None:
    transport, _ = _server()
    out = fetch_url(
        "https://example.org/files/m%20x.mtx.gz?sig=1",
        tmp_path,
        limits=ImportLimits(),
        transport=transport,
    )
    assert out == tmp_path / "m_x.mtx.gz"
    assert out.read_bytes() == PAYLOAD
    assert not (tmp_path / "m_x.mtx.gz.part").exists()


def test_resume_with_range(tmp_path: Path) -> None:
    transport, seen = _server()
    dest = tmp_path / "m.bin"
    (tmp_path / "m.bin.part").write_bytes(PAYLOAD[:1000])
    fetch_url("http://example.org/m", dest, limits=ImportLimits(), transport=transport)
    assert dest.read_bytes() == PAYLOAD
    assert seen[0]["range"] == "bytes=1000-"


def test_interrupted_transfer_resumes(tmp_path: Path) -> None:
    transport, seen = _server(cut_first=5000)
    dest = fetch_url(
        "http://example.org/m", tmp_path / "m.bin", limits=ImportLimits(), transport=transport
    )
    assert dest.read_bytes() == PAYLOAD
    assert seen[1]["range"] == "bytes=5000-"


def test_server_without_range_starts_over(tmp_path: Path) -> None:
    transport, _ = _server(support_range=False)
    (tmp_path / "m.bin.part").write_bytes(b"stale")
    dest = fetch_url(
        "http://example.org/m", tmp_path / "m.bin", limits=ImportLimits(), transport=transport
    )
    assert dest.read_bytes() == PAYLOAD


def test_size_limit(tmp_path: Path) -> None:
    transport, _ = _server()
    with pytest.raises(IngestError, match="above the limit") as info:
        fetch_url(
            "http://example.org/m",
            tmp_path / "m",
            limits=ImportLimits(max_download_bytes=1000),
            transport=transport,
        )
    assert info.value.field == "matrixLocation"
    assert not (tmp_path / "m").exists()


def test_http_error_and_bad_scheme(tmp_path: Path) -> None:
    transport, _ = _server()
    with pytest.raises(IngestError, match="HTTP 404"):
        fetch_url(
            "http://example.org/missing", tmp_path / "m", limits=ImportLimits(), transport=transport
        )
    with pytest.raises(IngestError, match="only http"):
        fetch_url("file:///etc/passwd", tmp_path / "m", limits=ImportLimits())
