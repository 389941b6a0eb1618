"""``/media/<id>``: what a stored media file is served as (ranges etc.: tests/api/test_files.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bioblocks.api.files import content_type


@pytest.mark.parametrize(
    ("declared", "served"),
    [("image/png", "image/png"), ("image/jpeg", "image/jpeg"), ("application/pdf", "application/pdf"),
     ("text/html", "application/octet-stream"), ("image/svg+xml", "application/octet-stream"),
     ("application/xhtml+xml", "application/octet-stream"),
     ("text/javascript", "application/octet-stream"), ("TEXT/HTML; charset=utf-8", "application/octet-stream")],
)
def test_media_is_never_served_as_a_page_or_a_script(
    client: TestClient, declared: str, served: str
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    info = store.put_media(filename="x", content_type=declared, data=b"<script>alert(1)</script>")
    r = client.get(f"/media/{info.id}")
    assert r.status_code == 200 and r.content == b"<script>alert(1)</script>"
    assert r.headers["content-type"] == served
    assert r.headers["x-content-type-options"] == "nosniff"
    assert content_type("x.html", declared) == served


def test_media_last_modified_is_the_upload_time(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    info = store.put_media(filename="i.png", content_type="image/png", data=b"png")
    r = client.get(f"/media/{info.id}")
    stamp = info.uploaded.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert r.headers["last-modified"] == stamp
    assert client.get(f"/media/{info.id}", headers={"If-Modified-Since": stamp}).status_code == 304


def test_media_whose_file_is_gone_is_404(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    info = store.put_media(filename="i.png", content_type="image/png", data=b"png")
    info.path.unlink()
    r = client.get(f"/media/{info.id}")
    assert r.status_code == 404 and r.json()["_status"] == "ERR"
