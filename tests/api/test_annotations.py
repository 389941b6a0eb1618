"""Saved annotations (issue 16): Eve's wire rules, versions, labels files, tracks.

A small SPRING subplot (10 cells, two tracks) is written here; every answer is checked
against what the test sent. The concurrency test runs a real uvicorn server, on SQLite
and on PostgreSQL, as tests/api/test_concurrency.py does.
"""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bioblocks import documents
from bioblocks.api.app import create_app
from bioblocks.config import Settings
from bioblocks.resources import RESOURCES
from tests.api.test_concurrency import server_url  # noqa: F401 - the fixture
from tests.conftest import HPC_ANALYSIS_ID, HPC_DATASET_ID

DATASET = "1a2b3c4d-0000-4000-8000-000000000001"
ANALYSIS = "1a2b3c4d-0000-4000-8000-000000000002"
TSNE = "1a2b3c4d-0000-4000-8000-000000000003"
N_CELLS = 10
CLUSTERS = ["a", "a", "b", "b", "b", "c", "c", "a", "b", "c"]
CATEGORIES = [{"name": "T cells", "color": "#ff0000"}, {"name": "B cells", "color": "#00ff00"},
              {"name": "NK", "color": "#0000ff"}]  # fmt: skip
CELLS = {"T cells": [0, 1, 7], "B cells": [2, 3]}
CATEGORICAL = {
    "Default": {"label_colors": {"All cells": "#808080"}, "label_list": ["All cells"] * N_CELLS},
    "cluster": {"label_colors": {"a": "#111111", "b": "#222222", "c": "#333333"},
                "label_list": CLUSTERS},
}


def _subplot(data_dir: Path) -> Path:
    return data_dir / "datasets" / DATASET / "analyses" / ANALYSIS / "tiny"


def _write_analysis(app: FastAPI) -> Path:
    """Write the SPRING subplot and the dataset, SPRING and t-SNE documents; return the
    subplot folder."""
    data_dir = Path(app.state.settings.resolved_data_dir)
    sub = _subplot(data_dir)
    sub.mkdir(parents=True)
    np.save(sub / "cell_filter.npy", np.arange(N_CELLS, dtype=np.int64))
    (sub / "categorical_coloring_data.json").write_text(json.dumps(CATEGORICAL))
    store = app.state.store
    store.insert("dataset", {"_id": DATASET, "name": "tiny"})
    store.insert("analysis", {"_id": ANALYSIS, "name": "tiny SPRING", "processType": "SPRING",
                              "dataset": DATASET})  # fmt: skip
    store.insert("analysis", {"_id": TSNE, "name": "tiny t-SNE", "processType": "TSNE",
                              "dataset": DATASET, "parameters": {"springAnalysis": ANALYSIS}})
    return sub


@pytest.fixture
def sub(api_app: FastAPI) -> Path:
    return _write_analysis(api_app)


def _body(**changes: object) -> dict[str, object]:
    return {"analysis": ANALYSIS, "name": "cell types", "categories": CATEGORIES,
            "cells": CELLS, **changes}  # fmt: skip


def _codes(cells: dict[str, list[int]], categories: list[dict[str, str]]) -> np.ndarray:
    """The int16 labels the server should store: independent of its encoder."""
    codes = np.full(N_CELLS, -1, dtype=np.int16)
    names = [c["name"] for c in categories]
    for name, members in cells.items():
        codes[members] = names.index(name)
    return codes


def _label_files(sub: Path) -> list[Path]:
    return sorted((sub.parent / "annotations").rglob("*.npy"))


def _create(client: TestClient, **changes: object) -> dict[str, object]:
    response = client.post("/annotation", json=_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def test_create_then_read_the_document_and_its_labels(client: TestClient, sub: Path) -> None:
    created = _create(client)
    assert created["_status"] == "OK" and len(created["_etag"]) == 40
    item = client.get(f"/annotation/{created['_id']}")
    assert item.status_code == 200
    doc = item.json()
    assert item.headers["etag"] == f'"{created["_etag"]}"'
    assert (doc["analysis"], doc["name"], doc["categories"]) == (ANALYSIS, "cell types",
                                                                 CATEGORIES)  # fmt: skip
    assert (doc["author"], doc["version"], doc["cellCount"], doc["history"]) == (
        "tests", 1, N_CELLS, [])
    assert "cells" not in doc  # the labels are not in the document
    labels = client.get(f"/annotation/{created['_id']}/labels").json()
    assert labels["cells"] == {"T cells": [0, 1, 7], "B cells": [2, 3], "NK": []}
    assert labels["cellCount"] == N_CELLS and labels["version"] == 1
    raw = client.get(f"/annotation/{created['_id']}/labels",
                     headers={"Accept": "application/octet-stream"})
    assert raw.headers["content-type"] == "application/octet-stream"
    np.testing.assert_array_equal(np.frombuffer(raw.content, dtype="<i2"),
                                  _codes(CELLS, CATEGORIES))  # fmt: skip
    files = _label_files(sub)
    assert len(files) == 1 and doc["labelsFile"].endswith(files[0].name)
    np.testing.assert_array_equal(np.load(files[0]), _codes(CELLS, CATEGORIES))
    listed = client.get("/annotation", params={"where": json.dumps({"analysis": ANALYSIS})})
    assert [d["_id"] for d in listed.json()["_items"]] == [created["_id"]]


@pytest.mark.parametrize(("changes", "field", "text"), [
    ({"author": "someone"}, "author", "read-only"),
    ({"cells": None}, "cells", "required"),
    ({"cells": {"Macrophages": [1]}}, "cells.Macrophages", "unknown category"),
    ({"cells": {"NK": [10]}}, "cells.NK", "out of range"),
    ({"cells": {"NK": [1], "T cells": [1]}}, "cells.T cells", "also in 'NK'"),
    ({"categories": [{"name": "x", "color": "red"}], "cells": {}}, "categories", "regex"),
    ({"name": "cluster"}, "name", "has a track 'cluster'"),
    ({"analysis": "1a2b3c4d-0000-4000-8000-00000000ffff"}, "analysis", "must exist"),
])  # fmt: skip
def test_bad_annotations_are_422_naming_the_field(
    client: TestClient, sub: Path, changes: dict[str, object], field: str, text: str
) -> None:
    body = {k: v for k, v in _body(**changes).items() if v is not None}
    response = client.post("/annotation", json=body)
    assert response.status_code == 422, response.text
    assert text in json.dumps(response.json()["_issues"][field])
    assert _label_files(sub) == []  # nothing half-written


def test_updates_need_if_match_and_a_stale_one_loses_nothing(client: TestClient,
                                                             sub: Path) -> None:
    created = _create(client)
    url = f"/annotation/{created['_id']}"
    missing = client.patch(url, json={"name": "renamed"})
    assert missing.status_code == 428
    first = client.patch(url, json={"cells": {"NK": [9]}},
                         headers={"If-Match": created["_etag"]})
    assert first.status_code == 200 and first.json()["version"] == 2
    before = client.get(url).json()
    stale = client.patch(url, json={"name": "lost", "cells": {"NK": [4]}},
                         headers={"If-Match": created["_etag"]})
    assert stale.status_code == 412
    assert client.get(url).json() == before
    assert len(_label_files(sub)) == 2  # versions 1 and 2, nothing from the stale write
    assert client.put(url, json=_body()).status_code == 405


def test_every_version_stays_retrievable(client: TestClient, sub: Path) -> None:
    created = _create(client)
    url = f"/annotation/{created['_id']}"
    v2_cells = {"NK": [5, 6, 9], "T cells": [0]}
    v2 = client.patch(url, json={"name": "cell types v2", "cells": v2_cells},
                      headers={"If-Match": f'"{created["_etag"]}"'}).json()
    renamed = [{**CATEGORIES[0], "name": "CD4 T"}, *CATEGORIES[1:]]
    v3 = client.patch(url, json={"categories": renamed}, headers={"If-Match": v2["_etag"]})
    assert v3.status_code == 200, v3.text
    old = client.get(url, params={"version": 1}).json()
    assert (old["name"], old["version"], old["_etag"]) == ("cell types", 1, created["_etag"])
    assert client.get(url, params={"version": 2}).json()["_etag"] == v2["_etag"]
    current = client.get(url).json()
    assert (current["version"], current["categories"][0]["name"]) == (3, "CD4 T")
    assert client.get(f"{url}/labels", params={"version": 1}).json()["cells"]["T cells"] == [
        0, 1, 7]
    assert client.get(f"{url}/labels", params={"version": 2}).json()["cells"]["NK"] == [5, 6, 9]
    # a rename of categories keeps the labels (by position)
    assert client.get(f"{url}/labels").json()["cells"]["CD4 T"] == [0]
    versions = client.get(f"{url}/history").json()["_items"]
    assert [(v["version"], v["_etag"], v["author"]) for v in versions] == [
        (1, created["_etag"], "tests"), (2, v2["_etag"], "tests"), (3, v3.json()["_etag"], "tests")]
    assert all(v["_updated"].endswith(" GMT") for v in versions)
    assert client.get(url, params={"version": 4}).status_code == 404
    dropped = client.patch(url, json={"categories": CATEGORIES[:1]},
                           headers={"If-Match": v3.json()["_etag"]})
    assert dropped.status_code == 422 and "cells" in dropped.json()["_issues"]


def _categorical(client: TestClient, prefix: str = "", **headers: str) -> httpx.Response:
    path = f"{prefix}/datasets/{DATASET}/analyses/{ANALYSIS}/tiny/categorical_coloring_data.json"
    return client.get(path, headers=headers)


def test_the_viewer_file_is_served_merged_and_the_folder_untouched(client: TestClient,
                                                                   sub: Path) -> None:
    on_disk = (sub / "categorical_coloring_data.json").read_bytes()
    plain = _categorical(client)
    assert plain.json() == CATEGORICAL and plain.headers["accept-ranges"] == "bytes"
    created = _create(client, analysis=TSNE)  # on the t-SNE: the same cells
    for prefix in ("", "/spring"):
        merged = _categorical(client, prefix)
        assert merged.status_code == 200
        tracks = merged.json()
        assert {k: tracks[k] for k in CATEGORICAL} == CATEGORICAL
        assert tracks["cell types"]["label_list"] == [
            "T cells", "T cells", "B cells", "B cells", "Unlabelled", "Unlabelled",
            "Unlabelled", "T cells", "Unlabelled", "Unlabelled"]
        assert tracks["cell types"]["label_colors"] == {
            "T cells": "#ff0000", "B cells": "#00ff00", "NK": "#0000ff", "Unlabelled": "#d3d3d3"}
    etag = merged.headers["etag"]
    assert etag != plain.headers["etag"]
    assert _categorical(client, **{"If-None-Match": etag}).status_code == 304
    assert _categorical(client, **{"Range": "bytes=0-9"}).status_code == 200
    client.patch(f"/annotation/{created['_id']}", json={"cells": {"NK": list(range(10))}},
                 headers={"If-Match": created["_etag"]})  # fmt: skip
    changed = _categorical(client, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["cell types"]["label_list"] == [
        "NK"] * N_CELLS
    assert (sub / "categorical_coloring_data.json").read_bytes() == on_disk
    files = client.get(f"/analysis/{ANALYSIS}/files").json()["annotations"]
    assert [(a["_id"], a["version"], a["labels"]) for a in files] == [
        (created["_id"], 2, f"annotation/{created['_id']}/labels")]


def test_delete_takes_every_version_and_an_analysis_takes_its_annotations(
    client: TestClient, sub: Path
) -> None:
    first = _create(client)
    url = f"/annotation/{first['_id']}"
    assert client.delete(url).status_code == 428
    v2 = client.patch(url, json={"name": "two"}, headers={"If-Match": first["_etag"]}).json()
    assert client.delete(url, headers={"If-Match": first["_etag"]}).status_code == 412
    assert client.delete(url, headers={"If-Match": v2["_etag"]}).status_code == 204
    assert client.get(url).status_code == 404 and _label_files(sub) == []
    second = _create(client, analysis=TSNE)
    tsne = client.get(f"/analysis/{TSNE}").json()
    assert client.delete(f"/analysis/{TSNE}", headers={"If-Match": tsne["_etag"]}
                         ).status_code == 204  # fmt: skip
    assert client.get(f"/annotation/{second['_id']}").status_code == 404
    assert _label_files(sub) == []
    third = _create(client)  # a deleted dataset (through the document service) takes it too
    app = client.app
    dataset = app.state.store.get("dataset", DATASET)
    documents.delete(app.state.store, RESOURCES["dataset"], DATASET, etag=dataset["_etag"],
                     settings=app.state.settings)  # fmt: skip
    assert client.get(f"/annotation/{third['_id']}").status_code == 404


def test_32_concurrent_updates_one_wins_every_version_retrievable(
    api_app: FastAPI, server_url: str, api_token: str  # noqa: F811 - the fixture
) -> None:
    sub = _write_analysis(api_app)
    headers = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=server_url, headers=headers, timeout=60) as client:
        created = client.post("/annotation", json=_body())
        assert created.status_code == 201, created.text
        doc_id, etag = created.json()["_id"], created.json()["_etag"]
    barrier = threading.Barrier(32)

    def attempt(number: int) -> tuple[int, int]:
        with httpx.Client(base_url=server_url, headers=headers, timeout=60) as client:
            barrier.wait()
            response = client.patch(
                f"/annotation/{doc_id}",
                json={"name": f"writer {number}", "cells": {"NK": [number % N_CELLS]}},
                headers={"If-Match": f'"{etag}"'},
            )
            return number, response.status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(attempt, range(32)))
    assert sorted(status for _, status in results) == [200] + [412] * 31
    winner = next(number for number, status in results if status == 200)
    with httpx.Client(base_url=server_url, timeout=60) as client:
        current = client.get(f"/annotation/{doc_id}").json()
        assert (current["name"], current["version"]) == (f"writer {winner}", 2)
        assert client.get(f"/annotation/{doc_id}/labels").json()["cells"]["NK"] == [
            winner % N_CELLS]
        first = client.get(f"/annotation/{doc_id}", params={"version": 1}).json()
        assert (first["name"], first["_etag"]) == ("cell types", etag)
        old = client.get(f"/annotation/{doc_id}/labels", params={"version": 1}).json()
        assert old["cells"] == {"T cells": [0, 1, 7], "B cells": [2, 3], "NK": []}
        versions = client.get(f"/annotation/{doc_id}/history").json()["_items"]
        assert [v["version"] for v in versions] == [1, 2]
    assert len(_label_files(sub)) == 2  # the 31 losers' files are gone


def test_differential_expression_takes_an_annotation_as_a_track(hpc_spring,
                                                                tmp_path: Path) -> None:
    data_dir = tmp_path / "files"
    shutil.copytree(hpc_spring.folder, data_dir / "datasets" / HPC_DATASET_ID / "analyses"
                    / HPC_ANALYSIS_ID)  # fmt: skip
    app = create_app(Settings(data_dir=data_dir))
    store = app.state.store
    store.insert("dataset", {"_id": HPC_DATASET_ID, "name": "HPC"})
    store.insert("analysis", {"_id": HPC_ANALYSIS_ID, "name": "HPC SPRING",
                              "processType": "SPRING", "dataset": HPC_DATASET_ID})  # fmt: skip
    token = store.create_token("curator")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    leiden = np.asarray(hpc_spring.result.clusters["Leiden cluster"]).astype(str)
    label = leiden[0]
    cells = np.flatnonzero(leiden == label).tolist()
    created = client.post("/annotation", json={
        "analysis": HPC_ANALYSIS_ID, "name": "my cluster",
        "categories": [{"name": "mine", "color": "#123456"}], "cells": {"mine": cells}})
    assert created.status_code == 201, created.text
    assert client.get(f"/annotation/{created.json()['_id']}").json()["author"] == "curator"
    url = f"/analysis/{HPC_ANALYSIS_ID}/diffexp"
    by_annotation = client.post(url, json={"groups": [{"track": "my cluster", "label": "mine"},
                                                      "rest"], "top": 10})  # fmt: skip
    by_cells = client.post(url, json={"groups": [{"cells": cells}, "rest"], "top": 10})
    assert by_annotation.status_code == 200, by_annotation.text
    assert by_annotation.json()["genes"] == by_cells.json()["genes"]
    assert by_annotation.json()["sizes"] == [len(cells), leiden.size - len(cells)]
    markers = client.get(f"/analysis/{HPC_ANALYSIS_ID}/markers", params={"track": "my cluster"})
    assert markers.status_code == 200, markers.text
    mine = markers.json()["tracks"]["my cluster"]["mine"]
    assert mine["size"] == len(cells)
    assert [g["gene"] for g in mine["genes"][:10]] == [g["gene"] for g in by_cells.json()["genes"]]
    app.state.store.close()
