"""``PUT /dataset/<id>/matrix`` streams a matrix into a dataset; ``DELETE /dataset/<id>``
removes its files."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bioblocks.api.app import create_app
from bioblocks.config import Settings


def _tsv_gz(n_cells: int, n_genes: int, *, seed: int, prefix: str = "c") -> bytes:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(1.0, size=(n_cells, n_genes))
    lines = ["barcode\t" + "\t".join(f"Gene{g}" for g in range(n_genes))]
    lines += [f"{prefix}{i}\t" + "\t".join(map(str, row)) for i, row in enumerate(counts)]
    return gzip.compress(("\n".join(lines) + "\n").encode())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str], Settings]]:
    settings = Settings(data_dir=tmp_path / "files", job_workers=0, max_upload_bytes=200_000)
    app = create_app(settings)
    token = app.state.store.create_token("curator")
    with TestClient(app) as client:
        yield client, app.state.store, {"Authorization": f"Bearer {token}"}, settings


def test_raw_and_multipart_uploads_import_the_matrix(
    api: tuple[TestClient, Any, dict[str, str], Settings],
) -> None:
    client, store, auth, settings = api
    dataset = store.insert("dataset", {"name": "uploaded"})
    url = f"/dataset/{dataset['_id']}/matrix"

    raw = client.put(f"{url}?filename=lib.tsv.gz", content=_tsv_gz(30, 40, seed=1),
                     headers={**auth, "Content-Type": "application/octet-stream"})

    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["_status"] == "OK" and body["matrixInfo"]["cells"] == 30
    assert body["matrixInfo"]["genes"] == 40 and body["matrixInfo"]["sourceFormat"] == "tsv.gz"
    assert (settings.resolved_data_dir / body["matrixLocation"]).is_file()
    assert raw.headers["ETag"] == f'"{store.get("dataset", dataset["_id"])["_etag"]}"'

    files = [("file", ("a.tsv.gz", _tsv_gz(20, 40, seed=2, prefix="a"))),
             ("file", ("b.tsv.gz", _tsv_gz(25, 40, seed=3, prefix="b")))]
    multi = client.put(url, files=files, headers=auth)

    assert multi.status_code == 200, multi.text
    assert multi.json()["matrixInfo"]["cells"] == 45
    assert "library" in store.get("dataset", dataset["_id"])["cellMetadata"]
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []


def test_bad_uploads_are_refused_and_change_nothing(
    api: tuple[TestClient, Any, dict[str, str], Settings],
) -> None:
    client, store, auth, settings = api
    dataset = store.insert("dataset", {"name": "uploaded"})
    url = f"/dataset/{dataset['_id']}/matrix"
    good = client.put(f"{url}?filename=lib.tsv.gz", content=_tsv_gz(30, 40, seed=1),
                      headers=auth)
    before = store.get("dataset", dataset["_id"])
    matrix = settings.resolved_data_dir / good.json()["matrixLocation"]
    stamp = matrix.stat().st_mtime_ns

    truncated = client.put(f"{url}?filename=cut.tsv.gz", content=_tsv_gz(30, 40, seed=1)[:300],
                           headers=auth)
    assert truncated.status_code == 422
    issues = truncated.json()["_issues"]
    assert list(issues) == ["cut.tsv.gz"] and issues["cut.tsv.gz"]

    too_big = client.put(f"{url}?filename=big.tsv.gz", content=b"x" * 200_001, headers=auth)
    assert too_big.status_code == 413
    assert "BIOBLOCKS_MAX_UPLOAD_BYTES" in too_big.json()["_error"]["message"]

    assert client.put(url, content=b"", headers=auth).status_code == 422
    assert client.put(url, content=b"1", headers={}).status_code == 401
    missing = "/dataset/0d6c1c54-5d0c-4a57-9d43-1d1bb3c0b5a1/matrix"
    assert client.put(missing, content=b"1", headers=auth).status_code == 404

    assert store.get("dataset", dataset["_id"]) == before
    assert matrix.stat().st_mtime_ns == stamp
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []


def test_deleting_a_dataset_removes_its_folder_and_analyses(
    api: tuple[TestClient, Any, dict[str, str], Settings],
) -> None:
    client, store, auth, settings = api
    dataset = store.insert("dataset", {"name": "gone"})
    client.put(f"/dataset/{dataset['_id']}/matrix?filename=lib.tsv.gz",
               content=_tsv_gz(10, 20, seed=4), headers=auth)
    analysis = store.insert("analysis", {"name": "a", "processType": "SPRING"})
    current = store.patch("dataset", dataset["_id"], {"analyses": [analysis["_id"]]})
    folder = settings.resolved_data_dir / "datasets" / dataset["_id"]
    assert folder.is_dir()

    assert client.delete(f"/dataset/{dataset['_id']}", headers=auth).status_code == 428
    response = client.delete(f"/dataset/{dataset['_id']}",
                             headers={**auth, "If-Match": current["_etag"]})

    assert response.status_code == 204
    assert store.get("dataset", dataset["_id"]) is None
    assert store.get("analysis", analysis["_id"]) is None
    assert not folder.exists()
