"""The gene-expression endpoints against the real application, store and expression store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from bioblocks.analysis import ExpressionStore
from bioblocks.api.app import create_app
from bioblocks.api.expression import MAX_GENES_PER_REQUEST, StoreCache
from bioblocks.config import Settings
from bioblocks.storage import analysis_dir

DATASET = "11111111-2222-3333-4444-555555555555"
SPRING = "aaaaaaaa-0000-0000-0000-000000000001"
TSNE = "aaaaaaaa-0000-0000-0000-000000000002"
ORPHAN = "aaaaaaaa-0000-0000-0000-000000000003"
PENDING = "aaaaaaaa-0000-0000-0000-000000000004"
GENES = ["Actb", "ACTG1", "Gapdh", "Mki67", "Cd34", "Hba-a1", "Xist", "Ly6a"]
N_CELLS = 300


def make_matrix() -> np.ndarray:
    rng = np.random.default_rng(3)
    dense = (rng.poisson(0.6, size=(N_CELLS, len(GENES))) * rng.gamma(2.0, 0.7, size=(1, len(GENES))))
    dense[:, GENES.index("Xist")] = 0.0
    return dense.astype(np.float32)


@pytest.fixture
def site(tmp_path: Path):
    """An application with a SPRING analysis (expression store on disk) and a t-SNE of it."""
    settings = Settings(data_dir=tmp_path / "files")
    app = create_app(settings)
    store = app.state.store
    dense = make_matrix()
    store.insert("dataset", {"_id": DATASET, "name": "Example"})
    store.insert("analysis", {
        "_id": SPRING, "name": "Example", "processType": "SPRING", "dataset": DATASET,
    })
    store.insert("analysis", {
        "_id": TSNE, "name": "Example - t-SNE", "processType": "TSNE", "dataset": DATASET,
        "parameters": {"springAnalysis": SPRING, "perplexity": 30},
    })
    store.insert("analysis", {"_id": ORPHAN, "name": "no link", "processType": "UMAP",
                              "dataset": DATASET, "parameters": {}})
    store.insert("analysis", {"_id": PENDING, "name": "not written", "processType": "SPRING",
                              "dataset": DATASET})
    folder = analysis_dir(settings.resolved_data_dir, DATASET, SPRING)
    folder.mkdir(parents=True)
    ExpressionStore.write(folder, sp.csc_matrix(dense), GENES)
    with TestClient(app) as client:
        yield client, dense, folder


def test_gene_names_all_and_by_prefix(site) -> None:
    client, _, _ = site
    assert client.get(f"/analysis/{SPRING}/genes").json() == {"genes": GENES}
    assert client.get(f"/analysis/{SPRING}/genes?prefix=ac").json() == {"genes": ["Actb", "ACTG1"]}
    assert client.get(f"/analysis/{SPRING}/genes?prefix=AC&limit=1").json() == {"genes": ["Actb"]}
    assert client.get(f"/analysis/{SPRING}/genes?prefix=zz").json() == {"genes": []}
    assert client.get(f"/analysis/{TSNE}/genes?prefix=ly").json() == {"genes": ["Ly6a"]}


@pytest.mark.parametrize("limit", ["0", "-3", "x", "1001"])
def test_gene_names_bad_limit(site, limit: str) -> None:
    client, _, _ = site
    response = client.get(f"/analysis/{SPRING}/genes?limit={limit}")
    assert response.status_code == 400
    assert response.json()["_error"]["message"].startswith("query.limit: ")


def test_expression_json(site) -> None:
    client, dense, _ = site
    response = client.get(f"/analysis/{SPRING}/expression?genes=Gapdh,Xist")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["Gapdh", "Xist"]
    np.testing.assert_array_equal(np.float32(body["Gapdh"]), dense[:, GENES.index("Gapdh")])
    assert body["Xist"] == [0.0] * N_CELLS


def test_expression_binary_float32_little_endian(site) -> None:
    client, dense, _ = site
    response = client.get(
        f"/analysis/{SPRING}/expression?genes=Mki67,Actb,Hba-a1",
        headers={"Accept": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-cells"] == str(N_CELLS)
    assert response.headers["x-value-type"] == "float32-le"
    assert [unquote(g) for g in response.headers["x-genes"].split(",")] == ["Mki67", "Actb", "Hba-a1"]
    assert len(response.content) == 3 * N_CELLS * 4
    values = np.frombuffer(response.content, dtype="<f4").reshape(3, N_CELLS)
    want = dense[:, [GENES.index("Mki67"), GENES.index("Actb"), GENES.index("Hba-a1")]].T
    np.testing.assert_array_equal(values, want)


def test_tsne_reads_its_spring_analysis(site) -> None:
    client, dense, _ = site
    body = client.get(f"/analysis/{TSNE}/expression?genes=Cd34").json()
    np.testing.assert_array_equal(np.float32(body["Cd34"]), dense[:, GENES.index("Cd34")])


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (f"/analysis/{SPRING}/expression?genes=Actb,Nope", 404, "Gene 'Nope' is not in this analysis."),
        (f"/analysis/{SPRING}/expression?genes=actb", 404, "Gene 'actb' is not in this analysis."),
        ("/analysis/bbbbbbbb-0000-0000-0000-000000000009/expression?genes=Actb", 404,
         "Analysis 'bbbbbbbb-0000-0000-0000-000000000009' does not exist."),
        ("/analysis/bbbbbbbb-0000-0000-0000-000000000009/genes", 404,
         "Analysis 'bbbbbbbb-0000-0000-0000-000000000009' does not exist."),
        (f"/analysis/{ORPHAN}/expression?genes=Actb", 404,
         f"Analysis {ORPHAN!r} names no SPRING analysis to read expression from."),
        (f"/analysis/{PENDING}/genes", 404,
         f"Analysis {PENDING!r} has no expression data yet (is it still running?)."),
        (f"/analysis/{SPRING}/expression", 400, "Give the genes to read, e.g. ?genes=Actb,Gapdh."),
        (f"/analysis/{SPRING}/expression?genes=,,", 400,
         "Give the genes to read, e.g. ?genes=Actb,Gapdh."),
    ],
)
def test_expression_errors_are_envelopes(site, url: str, status: int, message: str) -> None:
    client, _, _ = site
    response = client.get(url, headers={"Accept": "application/octet-stream"})
    assert response.status_code == status
    assert response.json() == {"_status": "ERR", "_error": {"code": status, "message": message}}


def test_too_many_genes(site) -> None:
    client, _, _ = site
    genes = ",".join(f"G{i}" for i in range(MAX_GENES_PER_REQUEST + 1))
    response = client.get(f"/analysis/{SPRING}/expression?genes={genes}")
    assert response.status_code == 400
    assert f"At most {MAX_GENES_PER_REQUEST} genes" in response.json()["_error"]["message"]


def test_folder_without_store_is_404(site) -> None:
    client, _, folder = site
    for name in os.listdir(folder):
        os.remove(folder / name)
    client.app.state.expression_stores = StoreCache()
    response = client.get(f"/analysis/{SPRING}/genes")
    assert response.status_code == 404
    assert "has no expression store" in response.json()["_error"]["message"]


def test_reads_need_a_token_when_reads_are_private(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "files", public_reads=False))
    with TestClient(app) as client:
        assert client.get(f"/analysis/{SPRING}/genes").status_code == 401
        token = app.state.store.create_token("reader")
        response = client.get(
            f"/analysis/{SPRING}/genes", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 404  # past the credential check


def test_store_cache_reuses_and_reopens(tmp_path: Path) -> None:
    dense = make_matrix()
    folders = []
    for i in range(3):
        folder = tmp_path / f"a{i}"
        folder.mkdir()
        ExpressionStore.write(folder, sp.csc_matrix(dense * (i + 1)), GENES)
        folders.append(folder)
    cache = StoreCache(size=2)
    first = cache.open(folders[0])
    assert cache.open(folders[0]) is first
    cache.open(folders[1])
    cache.open(folders[2])  # evicts folders[0]
    assert cache.open(folders[0]) is not first
    # A folder replaced in place (as atomic_dir does) is a new store.
    replacement = tmp_path / "new"
    replacement.mkdir()
    ExpressionStore.write(replacement, sp.csc_matrix(dense * 10), GENES)
    before = cache.open(folders[1])
    shutil.rmtree(folders[1])
    os.replace(replacement, folders[1])
    after = cache.open(folders[1])
    assert after is not before
    np.testing.assert_allclose(after.values("Actb"), dense[:, 0] * 10)
