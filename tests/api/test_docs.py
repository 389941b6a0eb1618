"""``/docs`` (Swagger UI) and ``/redoc`` work offline: every asset is served by the project."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from bioblocks.api.docs import ASSETS, ASSETS_URL

_REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in _REFERENCE.findall(html)]


@pytest.mark.parametrize(("page", "needed"), [
    ("/docs", {f"{ASSETS_URL}/swagger-ui-bundle.js", f"{ASSETS_URL}/swagger-ui.css",
               "/openapi.json"}),
    ("/redoc", {f"{ASSETS_URL}/redoc.standalone.js", "/openapi.json"}),
])
def test_docs_pages_reference_only_assets_the_server_serves(
    anon: TestClient, page: str, needed: set[str]
) -> None:
    response = anon.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = set(_references(response.text))
    assert needed <= references, references
    assert not re.search(r"https?://", response.text), "the page names another host"
    for url in references:
        assert url.startswith("/"), url
        asset = anon.get(url)
        assert asset.status_code == 200, url
        expected = "application/json" if url == "/openapi.json" else ASSETS[url.rsplit("/", 1)[1]]
        assert asset.headers["content-type"] == expected, url
        assert len(asset.content) > 1000, url


def test_docs_assets_are_the_real_libraries(anon: TestClient) -> None:
    bundle = anon.get(f"{ASSETS_URL}/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    assert "Redoc" in anon.get(f"{ASSETS_URL}/redoc.standalone.js").text


def test_an_unknown_docs_asset_is_a_404_envelope(anon: TestClient) -> None:
    for name in ("nope.js", "..%2Fcore.py"):
        response = anon.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 404
        assert response.json()["_status"] == "ERR"
    message = anon.get(f"{ASSETS_URL}/nope.js").json()["_error"]["message"]
    assert "nope.js" in message and "swagger-ui-bundle.js" in message


def test_swagger_ui_renders_the_operations_with_other_hosts_blocked(tmp_path: object) -> None:
    from pathlib import Path

    from tests.web._browser import launch_browser, new_page, require_chromium, serve

    require_chromium()
    outside: list[str] = []
    with serve(Path(str(tmp_path)) / "files") as base_url, launch_browser() as browser, \
            new_page(browser) as page:
        def route(request_route: object) -> None:
            url = request_route.request.url  # type: ignore[attr-defined]
            if url.startswith(base_url):
                request_route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(url)
                request_route.abort()  # type: ignore[attr-defined]

        page.route("**/*", route)
        page.goto(f"{base_url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        swagger_errors = list(page.errors)
        page.goto(f"{base_url}/redoc")
        page.wait_for_selector("h1:has-text('Bioblocks Server')", timeout=30_000)
        redoc_errors = page.errors[len(swagger_errors):]
    assert any("/dataset" in p for p in paths), paths
    assert swagger_errors == []
    # ReDoc's own logo (from its maker's CDN) is refused by the page's policy, never fetched.
    assert [e for e in redoc_errors if "Content Security Policy" not in e] == []
    assert outside == []
