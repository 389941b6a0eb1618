"""Gene sets (issue 16): the ``geneset`` collection and ``GET /analysis/{id}/score``.

The analysis folder is the small one of tests/api/test_spring_viewer.py (a known
matrix); every score is checked against numpy on that matrix.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_spring_viewer import ANALYSIS, DATASET, GENES, SUBPLOT, write_spring_folder

URL = f"/analysis/{ANALYSIS}/score"


@pytest.fixture
def matrix(api_app: FastAPI) -> tuple[np.ndarray, np.ndarray]:
    """The known matrix and cell filter, written as the analysis's folder."""
    dense, cell_filter = write_spring_folder(Path(api_app.state.settings.resolved_data_dir))
    store = api_app.state.store
    store.insert("dataset", {"_id": DATASET, "name": SUBPLOT})
    store.insert("analysis", {"_id": ANALYSIS, "name": "small", "processType": "SPRING",
                              "dataset": DATASET})  # fmt: skip
    return dense, cell_filter


def expected(dense: np.ndarray, cell_filter: np.ndarray, genes: list[str]) -> np.ndarray:
    """Mean over ``genes`` of (x - mean) / (std + 0.02), stats over the subplot's cells."""
    sub = dense[cell_filter]
    cols = [GENES.index(g) for g in genes]
    z = (sub[:, cols] - sub[:, cols].mean(0)) / (sub[:, cols].std(0) + 0.02)
    return z.mean(1)


def test_a_geneset_is_an_eve_document_with_the_token_as_author(client: TestClient) -> None:
    created = client.post("/geneset", json={"name": "housekeeping", "genes": ["Actb", "Gapdh"],
                                            "species": "mouse"})  # fmt: skip
    assert created.status_code == 201 and len(created.json()["_etag"]) == 40
    doc = client.get(f"/geneset/{created.json()['_id']}").json()
    assert (doc["name"], doc["genes"], doc["species"], doc["author"]) == (
        "housekeeping", ["Actb", "Gapdh"], "mouse", "tests")
    forged = client.post("/geneset", json={"name": "x", "genes": ["Actb"], "author": "me"})
    assert forged.status_code == 422 and forged.json()["_issues"] == {
        "author": "field is read-only"}
    empty = client.post("/geneset", json={"name": "x", "genes": []})
    assert empty.status_code == 422 and "genes" in empty.json()["_issues"]
    replaced = client.put(f"/geneset/{doc['_id']}", json={"name": "hk", "genes": ["Actb"]},
                          headers={"If-Match": doc["_etag"]})  # fmt: skip
    assert replaced.status_code == 200
    assert client.get(f"/geneset/{doc['_id']}").json()["author"] == "tests"  # kept by a PUT
    stale = client.patch(f"/geneset/{doc['_id']}", json={"name": "late"},
                         headers={"If-Match": doc["_etag"]})  # fmt: skip
    assert stale.status_code == 412


def test_score_of_a_geneset_matches_numpy(client: TestClient, matrix) -> None:
    dense, cell_filter = matrix
    genes = ["Actb", "Mki67", "Cd34"]
    geneset = client.post("/geneset", json={"name": "three", "genes": genes}).json()["_id"]
    body = client.get(URL, params={"geneset": geneset}).json()
    assert (body["genes"], body["unknown"]) == (genes, [])
    assert len(body["scores"]) == cell_filter.size
    np.testing.assert_allclose(body["scores"], expected(dense, cell_filter, genes), rtol=1e-6,
                               atol=1e-6)  # fmt: skip


def test_unknown_genes_are_listed_and_binary_is_float32(client: TestClient, matrix) -> None:
    dense, cell_filter = matrix
    body = client.get(URL, params={"genes": "Gapdh,Nope,Hba-a1,Gapdh"}).json()
    assert (body["genes"], body["unknown"]) == (["Gapdh", "Hba-a1"], ["Nope"])
    want = expected(dense, cell_filter, ["Gapdh", "Hba-a1"])
    np.testing.assert_allclose(body["scores"], want, rtol=1e-6, atol=1e-6)
    for kwargs in ({"params": {"genes": "Gapdh,Nope,Hba-a1", "format": "f32"}},
                   {"params": {"genes": "Gapdh,Nope,Hba-a1"},
                    "headers": {"Accept": "application/octet-stream"}}):
        raw = client.get(URL, **kwargs)
        assert raw.headers["content-type"] == "application/octet-stream"
        np.testing.assert_array_equal(np.frombuffer(raw.content, dtype="<f4"),
                                      want.astype(np.float32))  # fmt: skip
        assert raw.headers["x-unknown-genes"] == "Nope"
        assert [unquote(g) for g in raw.headers["x-genes"].split(",")] == ["Gapdh", "Hba-a1"]


@pytest.mark.parametrize(("params", "field"), [
    ({"genes": "Nope,Missing"}, "genes"),
    ({}, "genes"),
    ({"genes": "Actb", "geneset": "x"}, "genes"),
    ({"geneset": "0b1c2d3e-0000-4000-8000-000000000000"}, "geneset"),
    ({"genes": "Actb", "format": "png"}, "format"),
])  # fmt: skip
def test_bad_score_requests_are_422_naming_the_field(client: TestClient, matrix,
                                                     params: dict[str, str], field: str) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == 422, response.text
    assert list(response.json()["_issues"]) == [field]
