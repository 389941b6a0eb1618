"""Serving the page and its assets (HTTP only, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bioblocks import web
from bioblocks.api import page
from bioblocks.api.app import create_app
from bioblocks.config import Settings


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path / "files"))
    if not any(getattr(r, "path", "") == "/ui/" for r in app.routes):
        app.include_router(page.router)
    return TestClient(app)


@pytest.mark.parametrize("path", ["/ui/", "/ui"])
def test_page_is_served_with_a_strict_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/ui/app.js"></script>' in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe" not in policy
    assert response.text == (web.STATIC_DIR / "index.html").read_text()


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("scatter.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
    ],
)
def test_assets_have_their_types(client: TestClient, name: str, media_type: str) -> None:
    response = client.get(f"/ui/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/ui/nope.js", "/ui/..%2f..%2fpyproject.toml", "/ui/%2e%2e/_router.py", "/ui/__init__.py"]
)
def test_anything_else_is_a_404_envelope(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["_status"] == "ERR"


def test_every_module_the_page_imports_exists() -> None:
    import re

    for script in web.STATIC_DIR.glob("*.js"):
        for module in re.findall(r'from "\./([\w.]+)"', script.read_text()):
            assert (web.STATIC_DIR / module).is_file(), (script.name, module)


def test_index_response_for_content_negotiation() -> None:
    app = FastAPI()
    app.add_api_route("/", page.index_response)
    response = TestClient(app).get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.text.startswith("<!doctype html>")
