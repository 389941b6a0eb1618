"""The SPRING viewer's three CGI endpoints against a SPRING analysis of the real HPC data.

Expected answers are computed independently from the raw HPC counts (total-count
normalisation over the analysed cells), not read back from the analysis files.
"""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from bioblocks.api.app import create_app
from bioblocks.config import Settings

# The conftest's fixed ids of the HPC analysis (``hpc_spring``), as the viewer sends them.
BASE = "../datasets/0c9a4f3e-1b2d-4e5f-8a7b-6c5d4e3f2a1b/analyses/5b7e2d1c-3a4f-4b6e-9d8c-7f6e5d4c3b2a"
SUB = f"{BASE}/HPC"


@pytest.fixture(scope="module")
def client(hpc_spring) -> TestClient:
    assert hpc_spring.folder.as_posix().endswith(BASE[2:])
    return TestClient(create_app(Settings(data_dir=hpc_spring.data_dir)))


@pytest.fixture(scope="module")
def normalised(hpc, hpc_spring) -> sp.csr_matrix:
    """Rows of the analysed cells, each scaled to the mean total count of those cells."""
    cells = hpc_spring.result.cell_filter
    counts = hpc.counts[cells].astype(np.float64)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    return sp.diags(totals.mean() / totals) @ counts


def post(client: TestClient, script: str, **fields: str):
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())
    return client.post(f"/spring/cgi-bin/{script}", content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_load_counts_lists_every_hpc_gene(client: TestClient, hpc) -> None:
    response = post(client, "load_counts.py", base_dir=BASE)
    assert response.status_code == 200
    names = response.text.split("\n")[:-1]
    assert len(names) == 28_205
    assert names == list(hpc.genes)


@pytest.mark.parametrize("gene", ["Gata1", "Mpo", "Car1", "Ube2c"])
def test_grab_one_gene_matches_the_normalised_counts(
    client: TestClient, hpc, normalised: sp.csr_matrix, gene: str
) -> None:
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene=gene)
    assert response.status_code == 200
    lines = response.text.split("\n")[:-1]
    want = normalised[:, hpc.genes.index(gene)].toarray().ravel()
    assert len(lines) == 4_790
    got = np.array([float(v) for v in lines])
    assert ((got == 0) == (want == 0)).all()
    np.testing.assert_allclose(got, want, atol=0.051)
    assert want.max() > 0


def test_gene_zscores_match_an_independent_computation(
    client: TestClient, hpc, normalised: sp.csr_matrix
) -> None:
    selected = np.arange(0, 4_790, 7)[:200]
    response = post(client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB,
                    selected_cells=",".join(map(str, selected)), compared_cells="")
    assert response.status_code == 200
    names_part, scores_part = response.text.split("\t")
    got = dict(zip(names_part.split("\n"), map(float, scores_part.split("\n")[:-1]), strict=True))
    mean = np.asarray(normalised.mean(axis=0)).ravel()
    std = np.sqrt(np.asarray(normalised.multiply(normalised).mean(axis=0)).ravel() - mean**2)
    sel_mean = np.asarray(normalised[selected].mean(axis=0)).ravel()
    want = (sel_mean - mean) / (std + 0.02)
    index = {g: i for i, g in enumerate(hpc.genes)}
    top = sorted(got, key=got.get, reverse=True)[:50]
    np.testing.assert_allclose([got[g] for g in top], [want[index[g]] for g in top], atol=2e-3)
    assert np.sort(want)[-1] == pytest.approx(got[top[0]], abs=2e-3)


@pytest.mark.parametrize("gene", ["NoSuchGene", "gata1", "../cell_ix/Gata1"])
def test_missing_genes_are_404_naming_them(client: TestClient, gene: str) -> None:
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene=gene)
    assert response.status_code == 404
    assert gene in response.json()["_error"]["message"]


@pytest.mark.parametrize(
    "base_dir",
    [f"{BASE}/../../../../..", "../../../../etc", "/etc", f"{BASE}/%2e%2e/%2e%2e/%2e%2e", "..%2f..%2f"],
)
def test_traversal_out_of_the_data_directory_is_refused(client: TestClient, base_dir: str) -> None:
    response = post(client, "load_counts.py", base_dir=base_dir)
    assert response.status_code in (400, 404)
    assert "root:" not in response.text
