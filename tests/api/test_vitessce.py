"""``/analysis/{id}/vitessce.json``, ``/analysis/{id}/vitessce/adata.zarr/<path>`` and the
``/vitessce/`` page over the HPC SPRING analysis with a t-SNE and a UMAP of it
(``hpc_family``): the store read back from what the server sends equals the store on disk,
byte ranges and ETags as for every file, paths confined to the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anndata
import numpy as np
import pytest
from fastapi.testclient import TestClient

import bioblocks.api.vitessce as api_vitessce
from bioblocks.api import create_app
from bioblocks.config import Settings
from bioblocks.pipeline.vitessce import vitessce_store
from bioblocks.store import get_doc


@pytest.fixture(scope="module")
def client(hpc_family: Any) -> Iterator[TestClient]:
    """The application over the family's data folder (a store of its own on the same files)."""
    with TestClient(create_app(hpc_family.settings)) as client:
        yield client


@pytest.fixture(scope="module")
def store_dir(hpc_family: Any) -> Path:
    return vitessce_store(hpc_family.store, hpc_family.settings, hpc_family.spring_id)


def _zarr_url(analysis_id: str) -> str:
    return f"/analysis/{analysis_id}/vitessce/adata.zarr"


def test_configuration_names_the_store_on_this_server(hpc_family: Any, client: TestClient) -> None:
    answer = client.get(f"/analysis/{hpc_family.tsne_id}/vitessce.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    config = answer.json()
    (file,) = config["datasets"][0]["files"]
    assert file["url"] == f"http://testserver{_zarr_url(hpc_family.tsne_id)}"
    assert file["options"]["obsEmbedding"][0]["path"] == "obsm/X_tsne"
    assert config["name"] == get_doc(hpc_family.store, "analysis", hpc_family.tsne_id)["name"]
    assert "4,790 cells, 28,205 genes" in config["description"]
    missing = client.get("/analysis/no-such-analysis/vitessce.json")
    assert missing.status_code == 404 and "does not exist" in missing.json()["_error"]["message"]


def test_every_store_file_served_reads_back_equal(
    hpc_family: Any, client: TestClient, store_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "served.zarr"
    files = [p for p in store_dir.rglob("*") if p.is_file()]
    assert any(p.name == ".zmetadata" for p in files) and len(files) > 20
    for path in files:
        rel = path.relative_to(store_dir).as_posix()
        answer = client.get(f"{_zarr_url(hpc_family.umap_id)}/{rel}")
        assert answer.status_code == 200, rel
        assert answer.headers["accept-ranges"] == "bytes"
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(answer.content)
    served, local = anndata.read_zarr(copy), anndata.read_zarr(store_dir)
    assert list(served.obs_names) == list(local.obs_names) and served.n_obs == 4_790
    for key in ("X_spring", "X_tsne", "X_umap", "X_pca"):
        np.testing.assert_array_equal(served.obsm[key], local.obsm[key])
    assert (served.X != local.X).nnz == 0 and served.X.nnz == local.X.nnz > 0
    assert list(served.obs["Louvain cluster"]) == list(local.obs["Louvain cluster"])


def test_ranges_etags_and_head(hpc_family: Any, client: TestClient, store_dir: Path) -> None:
    chunk = max((store_dir / "X" / "data").iterdir(), key=lambda p: p.stat().st_size)
    assert chunk.name != ".zarray" and chunk.stat().st_size > 15
    url = f"{_zarr_url(hpc_family.spring_id)}/X/data/{chunk.name}"
    part = client.get(url, headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == chunk.read_bytes()[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{chunk.stat().st_size}"
    whole = client.get(url)
    again = client.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304
    head = client.head(f"{_zarr_url(hpc_family.spring_id)}/.zmetadata")
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == (store_dir / ".zmetadata").stat().st_size


@pytest.mark.parametrize("path", [
    "..%2F..%2Fgenes.txt", "%2e%2e/%2e%2e/genes.txt", "X", "X/nope/.zarray", "a%00b",
    "..%252F..%252Fgenes.txt",
])
def test_paths_outside_the_store_or_missing_are_404(
    hpc_family: Any, client: TestClient, store_dir: Path, path: str
) -> None:
    assert (store_dir.parent.parent / "genes.txt").is_file()  # what a traversal would reach
    answer = client.get(f"{_zarr_url(hpc_family.spring_id)}/{path}")
    assert answer.status_code == 404, answer.text
    assert answer.json()["_status"] == "ERR"


def test_files_answer_links_vitessce(
    hpc_family: Any, client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(api_vitessce, "VITESSCE_DIST", tmp_path / "not-built")
    links = client.get(f"/analysis/{hpc_family.umap_id}/files").json()["_links"]
    config = f"analysis/{hpc_family.umap_id}/vitessce.json"
    assert [link["title"] for link in links["visualization"]] == [
        "Vitessce configuration", "Vitessce (vitessce.io)"]
    assert links["visualization"][0]["href"] == config
    app_link = links["visualization"][1]["href"]
    assert app_link.startswith("https://vitessce.io/#?url=")
    assert unquote(app_link.split("url=", 1)[1]) == f"http://testserver/{config}"
    built = tmp_path / "dist"
    built.mkdir()
    (built / "entry.js").write_text("export {};\n")
    monkeypatch.setattr(api_vitessce, "VITESSCE_DIST", built)
    links = client.get(f"/analysis/{hpc_family.spring_id}/files").json()["_links"]
    page = links["visualization"][1]
    assert page == {"title": "Vitessce on this server",
                    "href": f"vitessce/?config=/analysis/{hpc_family.spring_id}/vitessce.json"}


def test_page_served_with_its_policy_or_says_how_to_build_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(api_vitessce, "VITESSCE_DIST", tmp_path / "not-built")
    missing = client.get("/vitessce/")
    assert missing.status_code == 404 and "build.sh" in missing.json()["_error"]["message"]
    built = tmp_path / "dist"
    built.mkdir()
    (built / "entry.js").write_text("export const built = 1;\n")
    (built / "chunk.py").write_text("print(1)\n")
    monkeypatch.setattr(api_vitessce, "VITESSCE_DIST", built)
    page = client.get("/vitessce/?config=/analysis/x/vitessce.json")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self'" in policy and "script-src 'self' 'unsafe-eval';" in policy
    assert '<script type="module" src="/vitessce/entry.js">' in page.text
    script = client.get("/vitessce/entry.js")
    assert script.status_code == 200 and script.text == "export const built = 1;\n"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/vitessce/page.css").headers["content-type"].startswith("text/css")
    for name in ("chunk.py", "..%2F__init__.py", "nope.js", "package.json"):
        assert client.get(f"/vitessce/{name}").status_code == 404, name


def test_private_reads_need_a_token(hpc_family: Any) -> None:
    settings = Settings(data_dir=hpc_family.settings.data_dir, public_reads=False)
    with TestClient(create_app(settings)) as anon:
        for url in (f"/analysis/{hpc_family.spring_id}/vitessce.json",
                    f"{_zarr_url(hpc_family.spring_id)}/.zmetadata"):
            assert anon.get(url).status_code == 401, url
        token = anon.app.state.store.create_token("vitessce test")  # type: ignore[attr-defined]
        answer = anon.get(f"{_zarr_url(hpc_family.spring_id)}/.zmetadata",
                          headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and "metadata" in json.loads(answer.content)
