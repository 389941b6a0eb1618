"""``PUT /dataset/<id>/matrix`` refuses HDF5 files that point outside themselves (422),
and never shows what lies outside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from fastapi.testclient import TestClient

from bioblocks.api.app import create_app
from bioblocks.config import Settings
from tests.ingest._formats import reference
from tests.ingest.test_hdf5_sealed import ATTACKS, CANARY, FORMATS, hostile_file


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str], Settings]]:
    settings = Settings(data_dir=tmp_path / "files", job_workers=0)
    app = create_app(settings)
    token = app.state.store.create_token("curator")
    with TestClient(app) as client:
        yield client, app.state.store, {"Authorization": f"Bearer {token}"}, settings


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("kind", list(FORMATS))
def test_hostile_hdf5_upload_is_a_422_and_the_canary_stays_outside(
    kind: str,
    attack: str,
    api: tuple[TestClient, Any, dict[str, str], Settings],
    tmp_path: Path,
) -> None:
    client, store, auth, settings = api
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_bytes(CANARY.encode() * 64)
    with h5py.File(outside / "canary.h5", "w") as f:
        f["names"] = np.array([CANARY] * 6, dtype="S16")
    path, obj = hostile_file(kind, attack, where="used", ref=reference(),
                             folder=tmp_path / "in", outside=outside)
    dataset = store.insert("dataset", {"name": "target"})
    before = store.get("dataset", dataset["_id"])

    resp = client.put(f"/dataset/{dataset['_id']}/matrix", params={"filename": path.name},
                      content=path.read_bytes(),
                      headers={**auth, "Content-Type": "application/octet-stream"})

    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["_status"] == "ERR"
    assert list(body["_issues"]) == [f"{path.name}:{obj}"]
    assert CANARY not in resp.text
    assert store.get("dataset", dataset["_id"])["_etag"] == before["_etag"]
    files = [p for p in settings.resolved_data_dir.rglob("*") if p.is_file()]
    assert all(CANARY.encode() not in p.read_bytes() for p in files)
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []


def test_renamed_columns_are_listed_in_the_dataset_document(
    api: tuple[TestClient, Any, dict[str, str], Settings], tmp_path: Path
) -> None:
    import anndata
    import pandas as pd

    ref = reference()
    for name, obs in (("own", {"library": ["L1"] * 9}), ("plain", {"batch": ["b"] * 9})):
        anndata.AnnData(X=ref.counts.astype(np.float32),
                        obs=pd.DataFrame(obs, index=ref.barcodes),
                        var=pd.DataFrame(index=ref.genes)).write_h5ad(tmp_path / f"{name}.h5ad")
    client, store, auth, _settings = api
    dataset = store.insert("dataset", {"name": "two"})
    files = [("file", (f"{n}.h5ad", (tmp_path / f"{n}.h5ad").read_bytes()))
             for n in ("own", "plain")]

    resp = client.put(f"/dataset/{dataset['_id']}/matrix", files=files, headers=auth)

    assert resp.status_code == 200, resp.text
    renamed = [{"column": "library", "as": "library_file",
                "reason": "the file labels; an input has its own library column"}]
    assert resp.json()["matrixInfo"]["renamed"] == renamed
    doc = client.get(f"/dataset/{dataset['_id']}").json()
    assert doc["matrixInfo"]["renamed"] == renamed
    assert {"library", "library_file", "batch"} <= set(doc["cellMetadata"])
