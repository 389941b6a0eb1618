"""The fake Azul server itself: Azul's own refusals, and the small matrices it serves."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import anndata
import h5py
import httpx
import numpy as np

from .fake_azul import FakeAzul, make_h5ad_bytes, make_loom_bytes, make_mtx_zip_bytes


def test_refuses_like_azul(fake_azul: FakeAzul) -> None:
    with httpx.Client(base_url=fake_azul.base_url) as http:
        unknown = http.get("/index/projects", params={"catalog": "dcp60", "nocache": "1"})
        assert unknown.status_code == 400
        assert unknown.json()["Message"] == "Unknown query parameter `nocache`"
        big = http.get("/index/projects", params={"size": "101"})
        assert big.status_code == 400
        retired = http.get("/index/projects", params={"catalog": "dcp1"})
        assert retired.status_code == 404
        assert retired.json()["Message"].startswith("Catalog name 'dcp1' does not exist")
        redirect = http.get("/repository/files/nope", params={"catalog": "dcp60"})
        assert redirect.status_code == 404
        catalogs = http.get("/index/catalogs").json()
    assert catalogs["default_catalog"] == "dcp60"
    assert "storage.googleapis.com" not in str(fake_azul.pages)
    assert "service.azul.data.humancellatlas.org" not in str(fake_azul.pages)


def test_non_fetch_redirect(fake_azul: FakeAzul) -> None:
    uuid = "9e8d7c6b-5a49-5382-a716-05f4e3d2c1b0"
    fake_azul.serve_file(uuid, b"abc")
    fake_azul.not_ready(uuid, times=1, retry_after=2)
    with httpx.Client() as http:
        first = http.get(fake_azul.leaf(uuid)["url"])
        assert first.status_code == 301 and first.headers["Retry-After"] == "2"
        second = http.get(first.headers["Location"])
        assert second.status_code == 302 and second.content == b""
        assert http.get(second.headers["Location"]).content == b"abc"


def test_generated_matrices_are_readable(tmp_path: Path) -> None:
    h5ad = tmp_path / "m.h5ad"
    h5ad.write_bytes(make_h5ad_bytes(n_cells=12, n_genes=7, seed=1))
    adata = anndata.read_h5ad(h5ad)
    assert adata.shape == (12, 7)
    assert adata.obs_names[0] == "cell_0" and adata.var_names[-1] == "gene_6"

    with h5py.File(io.BytesIO(make_loom_bytes(n_cells=12, n_genes=7, seed=1)), "r") as loom:
        assert loom["matrix"].shape == (7, 12)
        np.testing.assert_array_equal(loom["matrix"][:].T, adata.X.toarray())
        assert loom["col_attrs/CellID"][0] == b"cell_0"

    with zipfile.ZipFile(io.BytesIO(make_mtx_zip_bytes(name="p.mtx", n_cells=12, n_genes=7, seed=1))) as archive:
        assert sorted(archive.namelist()) == ["p.mtx/cells.tsv.gz", "p.mtx/genes.tsv.gz", "p.mtx/matrix.mtx.gz"]
        lines = gzip.decompress(archive.read("p.mtx/matrix.mtx.gz")).decode().splitlines()
    assert lines[0] == "%%MatrixMarket matrix coordinate real general"
    rows, cols, nnz = map(int, lines[1].split())
    assert (rows, cols, nnz) == (7, 12, adata.X.nnz)
    dense = np.zeros((7, 12))
    for line in lines[2:]:
        r, c, v = line.split()
        dense[int(r) - 1, int(c) - 1] = float(v)
    np.testing.assert_array_equal(dense.T, adata.X.toarray())
