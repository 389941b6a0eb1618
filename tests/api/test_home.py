"""The home URL: JSON links for API clients, the built-in page for browsers."""

from __future__ import annotations

from fastapi.testclient import TestClient

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_api_clients_get_the_eve_home(anon: TestClient) -> None:
    for accept in (None, "*/*", "application/json"):
        headers = {"accept": accept} if accept else {}
        response = anon.get("/", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        hrefs = [link["href"] for link in response.json()["_links"]["child"]]
        assert hrefs == ["dataset", "analysis", "job", "vignette", "visualization",
                         "annotation", "geneset"]


def test_browsers_get_the_page_at_root(anon: TestClient) -> None:
    response = anon.get("/", headers={"accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text


def test_collections_stay_json_for_browsers(anon: TestClient) -> None:
    response = anon.get("/dataset", headers={"accept": BROWSER_ACCEPT})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["_meta"]["total"] == 0
