"""``GET /analysis/{id}/export``: the HPC SPRING + t-SNE + UMAP analyses (``hpc_family``)
downloaded as ``.h5ad`` and as a zipped AnnData-Zarr store."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import anndata
import pytest
from fastapi.testclient import TestClient

from bioblocks.api import create_app
from bioblocks.storage import analysis_dir
from tests._cellxgene import cellxgene_problems

URL = "/analysis/{}/export"


@pytest.fixture(scope="module")
def client(hpc_family: Any) -> TestClient:
    return TestClient(create_app(hpc_family.settings, store=hpc_family.store))


def _exports(family: Any) -> Path:
    return analysis_dir(family.settings.resolved_data_dir, family.dataset_id, family.spring_id) / "exports"


def test_h5ad_download_is_the_analysis_with_its_embeddings(
    client: TestClient, hpc_family: Any, tmp_path: Path
) -> None:
    response = client.get(URL.format(hpc_family.umap_id), params={"format": "h5ad"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="HPC.h5ad"'
    assert response.headers["content-type"] == "application/x-hdf5"
    assert response.content[:8] == b"\x89HDF\r\n\x1a\n"
    (tmp_path / "hpc.h5ad").write_bytes(response.content)
    adata = anndata.read_h5ad(tmp_path / "hpc.h5ad")
    assert adata.shape == (4_790, 28_205)
    assert list(adata.obsm) == ["X_pca", "X_spring", "X_tsne", "X_umap"]
    assert list(adata.obs_names[:2]) == list(hpc_family.barcodes[:2])
    assert cellxgene_problems(adata) == []
    (cached,) = _exports(hpc_family).glob("*.h5ad")
    assert cached.stat().st_size == len(response.content)

    again = client.get(URL.format(hpc_family.spring_id))  # h5ad by default, the same family
    assert again.status_code == 200 and again.headers["etag"] == response.headers["etag"]
    part = client.get(URL.format(hpc_family.spring_id), headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == b"\x89HDF\r\n\x1a\n"
    assert part.headers["content-disposition"] == 'attachment; filename="HPC.h5ad"'


def test_zarr_download_is_a_zip_of_the_store(
    client: TestClient, hpc_family: Any, tmp_path: Path
) -> None:
    response = client.get(URL.format(hpc_family.tsne_id), params={"format": "zarr"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == 'attachment; filename="HPC.zarr.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        zf.extractall(tmp_path / "store")
    adata = anndata.read_zarr(tmp_path / "store")
    assert adata.shape == (4_790, 28_205) and "counts" in adata.layers
    assert list(adata.obs_names) == list(hpc_family.barcodes)


def test_unknown_analysis_is_404_and_bad_format_422(client: TestClient, hpc_family: Any) -> None:
    missing = client.get(URL.format("5b7e2d1c-0000-4b6e-9d8c-7f6e5d4c3b2a"))
    assert missing.status_code == 404
    assert missing.json()["_status"] == "ERR" and "does not exist" in missing.json()["_error"]["message"]
    bad = client.get(URL.format(hpc_family.spring_id), params={"format": "loom"})
    assert bad.status_code == 422
    assert "h5ad, zarr" in bad.json()["_issues"]["format"]


def test_a_changed_analysis_is_exported_again(
    client: TestClient, hpc_family: Any, tmp_path: Path
) -> None:
    first = client.get(URL.format(hpc_family.spring_id))
    (before,) = _exports(hpc_family).glob("*.h5ad")
    doc = hpc_family.store.get("analysis", hpc_family.tsne_id)
    hpc_family.store.patch("analysis", hpc_family.tsne_id, {"name": "HPC - t-SNE (renamed)"},
                           etag=doc["_etag"])
    second = client.get(URL.format(hpc_family.spring_id))
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    (after,) = _exports(hpc_family).glob("*.h5ad")
    assert after != before and not before.exists()
    (tmp_path / "renamed.h5ad").write_bytes(second.content)
    adata = anndata.read_h5ad(tmp_path / "renamed.h5ad")
    assert adata.uns["tsne"]["name"] == "HPC - t-SNE (renamed)"
