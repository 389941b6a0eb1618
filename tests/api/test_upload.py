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
    multi = client.put(url, files=files, headers={**auth, "If-Match": body["_etag"]})

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
    auth = {**auth, "If-Match": before["_etag"]}

    truncated = client.put(f"{url}?filename=cut.tsv.gz", content=_tsv_gz(30, 40, seed=1)[:300],
                           headers=auth)
    assert truncated.status_code == 422
    issues = truncated.json()["_issues"]
    assert list(issues) == ["cut.tsv.gz"] and issues["cut.tsv.gz"]

    too_big = client.put(f"{url}?filename=big.tsv.gz", content=b"x" * 200_001, headers=auth)
    assert too_big.status_code == 413
    assert "BIOBLOCKS_MAX_UPLOAD_BYTES" in too_big.json()["_error"]["message"]

    assert client.put(url, content=b"", headers=auth).status_code == 422
    assert client.put(url, content=b"1", headers={"If-Match": before["_etag"]}).status_code == 401
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


def test_replacing_a_matrix_needs_if_match(
    api: tuple[TestClient, Any, dict[str, str], Settings],
) -> None:
    """A first upload needs no etag; replacing one is 428 without, 412 on a stale one."""
    client, store, auth, settings = api
    dataset = store.insert("dataset", {"name": "uploaded"})
    url = f"/dataset/{dataset['_id']}/matrix?filename=lib.tsv.gz"
    stale = client.put(url, content=_tsv_gz(30, 40, seed=1),
                       headers={**auth, "If-Match": "0" * 40})
    assert stale.status_code == 412  # a sent If-Match is always checked
    first = client.put(url, content=_tsv_gz(30, 40, seed=1), headers=auth)
    assert first.status_code == 200, first.text
    before = store.get("dataset", dataset["_id"])
    matrix = settings.resolved_data_dir / first.json()["matrixLocation"]
    stamp = matrix.stat().st_mtime_ns

    missing = client.put(url, content=_tsv_gz(20, 40, seed=2), headers=auth)
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["_error"]["message"]
    wrong = client.put(url, content=_tsv_gz(20, 40, seed=2),
                       headers={**auth, "If-Match": dataset["_etag"]})
    assert wrong.status_code == 412
    assert store.get("dataset", dataset["_id"]) == before
    assert matrix.stat().st_mtime_ns == stamp
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []

    right = client.put(url, content=_tsv_gz(20, 40, seed=2),
                       headers={**auth, "If-Match": f'"{before["_etag"]}"'})
    assert right.status_code == 200, right.text
    assert right.json()["matrixInfo"]["cells"] == 20


# ---- issue 14: hostile matrices, memory amplification, a full disk ----------------------------

_MTX = "%%MatrixMarket matrix coordinate integer general\n"
#: issue 14.2: this 59-byte file made the server segfault
_SYMMETRIC_ARRAY = b"%%MatrixMarket matrix array real symmetric\n3 3\n1\n2\n3\n4\n5\n6\n"


def test_symmetric_array_upload_is_refused_and_the_server_lives(
    api: tuple[TestClient, Any, dict[str, str], Settings],
) -> None:
    client, store, auth, settings = api
    dataset = store.insert("dataset", {"name": "hostile"})
    url = f"/dataset/{dataset['_id']}/matrix?filename=m.mtx"

    refused = client.put(url, content=_SYMMETRIC_ARRAY, headers=auth)

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["_status"] == "ERR" and "'symmetric' matrix" in body["_issues"]["m.mtx"]
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []
    good = client.put(url, content=_tsv_gz(30, 40, seed=1), headers=auth)
    assert good.status_code == 200, good.text


def _amplification_inputs(folder: Path) -> dict[str, bytes]:
    """Inputs under 1 MB whose headers announce far more than they hold."""
    import io
    import zipfile

    wide_zip = io.BytesIO()
    with zipfile.ZipFile(wide_zip, "w") as zf:  # 3 genes named, 50 million unnamed cells
        zf.writestr("m/matrix.mtx", f"{_MTX}3 50000000 1\n1 1 1\n")
        zf.writestr("m/genes.tsv", "a\nb\nc\n")
    genes = [f"G{k}" for k in range(100_000)]
    wide_table = ("cell," + ",".join(genes) + "\n" + "c1," + ",".join(["0"] * 99_999) + ",7\n")
    inputs = {
        "sym59.mtx": _SYMMETRIC_ARRAY,
        "dims.mtx": f"{_MTX}100000000 100000000 1\n1 1 1\n".encode(),
        "nnz.mtx": f"{_MTX}3 3 1099511627776\n1 1 1\n".encode(),
        "array.mtx": b"%%MatrixMarket matrix array real general\n1000000 1000000\n1\n",
        "dims.mtx.gz": gzip.compress(f"{_MTX}60000000 60000000 2\n1 1 1\n2 2 1\n".encode()),
        "wide.zip": wide_zip.getvalue(),
        "wide.csv": wide_table.encode(),  # accepted: 100,000 genes are real data here
    }
    for name, data in inputs.items():
        assert len(data) < 1024**2
        (folder / name).write_bytes(data)
    return inputs


_MEMORY_PROBE = r"""
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from bioblocks.api.app import create_app
from bioblocks.config import Settings

def peak():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

data, inputs = Path(sys.argv[1]), Path(sys.argv[2])
app = create_app(Settings(data_dir=data, job_workers=0))
auth = {"Authorization": "Bearer " + app.state.store.create_token("curator")}
out = {}
with TestClient(app) as client:
    def put(name, content):
        dataset = app.state.store.insert("dataset", {"name": name})
        return client.put(f"/dataset/{dataset['_id']}/matrix?filename={name}",
                          content=content, headers=auth).status_code
    warm = f"%%MatrixMarket matrix coordinate integer general\n3 2 2\n1 1 1\n3 2 5\n".encode()
    out["warm-up"] = [put("warm.mtx", warm), 0]
    base = peak()
    for path in sorted(inputs.iterdir()):
        status = put(path.name, path.read_bytes())
        out[path.name] = [status, peak() - base]
print(json.dumps(out))
"""


def test_memory_growth_for_amplification_inputs_stays_bounded(tmp_path: Path) -> None:
    """Each input is < 1 MB; the API process's peak memory grows < 256 MB over all of them."""
    import json
    import subprocess
    import sys

    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc/self/status (Linux) to read the process's peak memory")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    _amplification_inputs(inputs)
    run = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(tmp_path / "files"),
                          str(inputs)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]  # a segfault is -11
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result.pop("warm-up")[0] == 200
    statuses = {name: status for name, (status, _) in result.items()}
    assert statuses.pop("wide.csv") == 200
    assert set(statuses.values()) <= {413, 422}, statuses
    growth = max(g for _, g in result.values())
    assert growth < 256 * 1024**2, result


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root: CI runs as root, so there it always runs)."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the full-disk test needs root (CI runs as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs as root: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_is_507_and_leaves_nothing_behind(small_disk: Path) -> None:
    settings = Settings(data_dir=small_disk / "files", job_workers=0)
    app = create_app(settings)
    token = app.state.store.create_token("curator")
    auth = {"Authorization": f"Bearer {token}"}
    tmp = settings.resolved_data_dir / "tmp"
    with TestClient(app) as client:
        dataset = app.state.store.insert("dataset", {"name": "big"})
        url = f"/dataset/{dataset['_id']}/matrix?filename=big.tsv.gz"
        big = _tsv_gz(3000, 300, seed=4)  # ~1 MB compressed; its canonical matrix ~7 MB
        assert len(big) < 2 * 1024**2

        full = client.put(url, content=big, headers=auth)

        assert full.status_code == 507, full.text
        error = full.json()
        assert error["_status"] == "ERR" and error["_error"]["code"] == 507
        assert "Insufficient Storage" in error["_error"]["message"]
        assert list(tmp.iterdir()) == []
        assert "matrixInfo" not in app.state.store.get("dataset", dataset["_id"])

        # an upload larger than the disk fails while it is received: 507 too, nothing kept
        flood = client.put(url, content=np.random.default_rng(0).bytes(5 * 1024**2),
                           headers=auth)
        assert flood.status_code == 507, flood.text
        assert list(tmp.iterdir()) == []

        assert client.get(f"/dataset/{dataset['_id']}").status_code == 200  # alive
        small = client.put(f"/dataset/{dataset['_id']}/matrix?filename=small.tsv.gz",
                           content=_tsv_gz(30, 40, seed=1), headers=auth)
        assert small.status_code == 200, small.text
        assert small.json()["matrixInfo"]["cells"] == 30
        assert list(tmp.iterdir()) == []
