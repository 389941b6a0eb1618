"""Deletes and replacements keep the invariants: nothing dangles, nothing is dropped.

Every way of deleting a dataset or an analysis through the API (item, collection with
``where``) removes its folder and its documents and updates the references; a PUT
replacement keeps the server-managed fields. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient


def _data_dir(client: TestClient) -> Path:
    return client.app.state.settings.resolved_data_dir


def _dataset(client: TestClient, name: str, n_analyses: int,
             process: str = "SPRING") -> tuple[dict[str, Any], list[str]]:
    """A dataset with ``n_analyses`` analyses, each with a folder holding a file."""
    store = client.app.state.store
    dataset = store.insert("dataset", {"name": name, "matrixLocation": "x/matrix.h5ad"})
    ids = []
    for i in range(n_analyses):
        analysis = store.insert("analysis", {"name": f"{name}-{i}", "processType": process,
                                             "dataset": dataset["_id"]})
        folder = _data_dir(client) / "datasets" / dataset["_id"] / "analyses" / analysis["_id"]
        (folder / "My Data").mkdir(parents=True)
        (folder / "My Data" / "coordinates.txt").write_text("0,1.0,2.0\n")
        ids.append(analysis["_id"])
    (_data_dir(client) / "datasets" / dataset["_id"] / "matrix").mkdir(parents=True)
    dataset = store.patch("dataset", dataset["_id"], {"analyses": ids})
    return dataset, ids


def _folder(client: TestClient, dataset_id: str, analysis_id: str | None = None) -> Path:
    path = _data_dir(client) / "datasets" / dataset_id
    return path / "analyses" / analysis_id if analysis_id else path


def test_delete_datasets_by_where_removes_folders_and_analyses(client: TestClient) -> None:
    gone, gone_ids = _dataset(client, "gone", 2)
    kept, kept_ids = _dataset(client, "kept", 1)
    response = client.delete("/dataset", params={"where": json.dumps({"name": "gone"})})
    assert response.status_code == 204
    store = client.app.state.store
    assert store.get("dataset", gone["_id"]) is None
    assert all(store.get("analysis", a) is None for a in gone_ids)
    assert not _folder(client, gone["_id"]).exists()
    assert store.get("dataset", kept["_id"])["analyses"] == kept_ids
    assert store.get("analysis", kept_ids[0]) is not None
    assert _folder(client, kept["_id"], kept_ids[0]).is_dir()


def test_delete_analysis_item_unlinks_it_and_removes_its_folder(client: TestClient) -> None:
    dataset, ids = _dataset(client, "d", 2)
    store = client.app.state.store
    etag = store.get("analysis", ids[0])["_etag"]
    assert client.delete(f"/analysis/{ids[0]}").status_code == 428
    response = client.delete(f"/analysis/{ids[0]}", headers={"If-Match": etag})
    assert response.status_code == 204
    assert store.get("analysis", ids[0]) is None
    assert store.get("dataset", dataset["_id"])["analyses"] == [ids[1]]
    assert not _folder(client, dataset["_id"], ids[0]).exists()
    assert _folder(client, dataset["_id"], ids[1]).is_dir()
    assert list((_data_dir(client) / "tmp").iterdir()) == []


def test_delete_analyses_by_where_unlinks_each(client: TestClient) -> None:
    spring, spring_ids = _dataset(client, "s", 2, "SPRING")
    tsne, tsne_ids = _dataset(client, "t", 2, "TSNE")
    response = client.delete("/analysis", params={"where": json.dumps({"processType": "TSNE"})})
    assert response.status_code == 204
    store = client.app.state.store
    assert store.get("dataset", tsne["_id"])["analyses"] == []
    assert all(not _folder(client, tsne["_id"], a).exists() for a in tsne_ids)
    assert store.get("dataset", spring["_id"])["analyses"] == spring_ids
    assert all(_folder(client, spring["_id"], a).is_dir() for a in spring_ids)


def test_delete_every_analysis_without_where(client: TestClient) -> None:
    dataset, ids = _dataset(client, "d", 3)
    assert client.delete("/analysis").status_code == 204
    assert client.app.state.store.get("dataset", dataset["_id"])["analyses"] == []
    assert list((_folder(client, dataset["_id"]) / "analyses").iterdir()) == []


def test_put_replacement_keeps_server_managed_fields(client: TestClient) -> None:
    dataset, ids = _dataset(client, "d", 1)
    response = client.put(f"/dataset/{dataset['_id']}", json={"name": "renamed"},
                          headers={"If-Match": dataset["_etag"]})
    assert response.status_code == 200, response.text
    stored = client.get(f"/dataset/{dataset['_id']}").json()
    assert stored["name"] == "renamed"
    assert stored["matrixLocation"] == "x/matrix.h5ad"
    assert stored["analyses"] == ids
    # fields the client sends are replaced as before
    again = client.put(f"/dataset/{dataset['_id']}",
                       json={"name": "again", "matrixLocation": "https://example.org/m.h5ad"},
                       headers={"If-Match": stored["_etag"]})
    assert again.status_code == 200
    assert client.get(f"/dataset/{dataset['_id']}").json()["matrixLocation"] == (
        "https://example.org/m.h5ad"
    )


def test_put_replacement_of_an_analysis_keeps_its_dataset(client: TestClient) -> None:
    dataset, ids = _dataset(client, "d", 1)
    current = client.get(f"/analysis/{ids[0]}").json()
    response = client.put(f"/analysis/{ids[0]}", json={"name": "n", "processType": "SPRING"},
                          headers={"If-Match": current["_etag"]})
    assert response.status_code == 200
    assert client.get(f"/analysis/{ids[0]}").json()["dataset"] == dataset["_id"]


def _subplot_dataset(client: TestClient, name: str) -> tuple[dict[str, Any], str]:
    """A dataset named ``name`` with one SPRING analysis whose subplot is ``<name>/``."""
    store = client.app.state.store
    dataset = store.insert("dataset", {"name": name})
    analysis = store.insert("analysis", {"name": f"{name} - 10", "processType": "SPRING",
                                         "dataset": dataset["_id"],
                                         "parameters": {"subplot": name}})
    subplot = _folder(client, dataset["_id"], analysis["_id"]) / name
    subplot.mkdir(parents=True)
    (subplot / "coordinates.txt").write_text("0,1.0,2.0\n")
    (subplot / "run_info.json").write_text(json.dumps({"Subplot": name}))
    (subplot / "mutability.txt").write_text("")
    dataset = store.patch("dataset", dataset["_id"], {"analyses": [analysis["_id"]]})
    return dataset, analysis["_id"]


def test_renaming_a_dataset_renames_its_subplot_folders(client: TestClient) -> None:
    """Spec §10 names the subplot after the dataset, and the portal builds its URL from the
    dataset's current name: a PATCH or PUT of ``name`` moves the folder at once."""
    store = client.app.state.store
    dataset, analysis_id = _subplot_dataset(client, "Old name")
    other, other_id = _subplot_dataset(client, "Other")
    response = client.patch(f"/dataset/{dataset['_id']}", json={"name": "New name"},
                            headers={"If-Match": dataset["_etag"]})
    assert response.status_code == 200, response.text
    folder = _folder(client, dataset["_id"], analysis_id)
    assert sorted(p.name for p in folder.iterdir()) == ["New name"]
    assert store.get("analysis", analysis_id)["parameters"]["subplot"] == "New name"
    url = f"/datasets/{dataset['_id']}/analyses/{analysis_id}/New name/coordinates.txt"
    assert client.get(url).text == "0,1.0,2.0\n"
    assert json.loads((folder / "New name" / "run_info.json").read_text())["Subplot"] == "New name"

    current = store.get("dataset", dataset["_id"])
    response = client.put(f"/dataset/{dataset['_id']}", json={"name": "Third"},
                          headers={"If-Match": current["_etag"]})
    assert response.status_code == 200, response.text
    assert sorted(p.name for p in folder.iterdir()) == ["Third"]
    # The other dataset's subplot is not touched.
    assert (_folder(client, other["_id"], other_id) / "Other").is_dir()
    assert store.get("analysis", other_id)["parameters"]["subplot"] == "Other"
