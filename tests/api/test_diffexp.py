"""POST /analysis/{id}/diffexp and GET /analysis/{id}/markers on the SPRING analysis of the
HPC data, checked against scipy on the analysis's own normalised values."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats

from bioblocks.analysis import ExpressionStore
from bioblocks.analysis.diffexp import PSEUDOCOUNT
from bioblocks.analysis.markers import MARKERS_JSON, read_markers, write_markers
from bioblocks.api.app import create_app
from bioblocks.config import Settings
from tests.conftest import HPC_ANALYSIS_ID, HPC_DATASET_ID

URL = f"/analysis/{HPC_ANALYSIS_ID}/diffexp"
TSNE_ID = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


def _app(data_dir: Path, db: Path, **settings: object):
    app = create_app(Settings(data_dir=data_dir, database_url=f"sqlite:///{db}", **settings))
    store = app.state.store
    store.insert("dataset", {"_id": HPC_DATASET_ID, "name": "HPC"})
    store.insert("analysis", {"_id": HPC_ANALYSIS_ID, "name": "HPC SPRING",
                              "processType": "SPRING", "dataset": HPC_DATASET_ID})  # fmt: skip
    store.insert("analysis", {"_id": TSNE_ID, "name": "HPC t-SNE", "processType": "TSNE",
                              "dataset": HPC_DATASET_ID,
                              "parameters": {"springAnalysis": HPC_ANALYSIS_ID}})  # fmt: skip
    return app


@pytest.fixture(scope="module")
def client(hpc_spring, tmp_path_factory) -> TestClient:
    db = tmp_path_factory.mktemp("diffexp-db") / "store.sqlite3"
    return TestClient(_app(hpc_spring.data_dir, db))


@pytest.fixture(scope="module")
def values(hpc_spring):
    """The analysis's normalised values per cell (coordinate order; every cell is kept)."""
    store = ExpressionStore.open(hpc_spring.folder)
    cells = np.load(hpc_spring.folder / "HPC" / "cell_filter.npy")
    matrix = store.matrix()[cells].tocsc()
    return matrix, store.genes()


@pytest.fixture(scope="module")
def leiden(hpc_spring) -> np.ndarray:
    return np.asarray(hpc_spring.result.clusters["Leiden cluster"]).astype(str)


def _column(values, gene: str) -> np.ndarray:
    matrix, genes = values
    return matrix[:, genes.index(gene)].toarray().ravel().astype(np.float64)


def test_track_label_against_rest_matches_scipy(client, values, leiden) -> None:
    label = leiden[0]
    response = client.post(URL, json={"groups": [{"track": "Leiden cluster", "label": label},
                                                 "rest"], "top": 20})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    a = leiden == label
    assert body["sizes"] == [int(a.sum()), int((~a).sum())]
    assert (body["method"], body["top"], body["pseudocount"]) == ("wilcoxon", 20, PSEUDOCOUNT)
    rows = body["genes"]
    assert len(rows) == 20
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for row in rows:
        x = _column(values, row["gene"])
        ref = stats.mannwhitneyu(x[a], x[~a], method="asymptotic", use_continuity=True)
        assert row["pvalue"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert row["padj"] >= row["pvalue"]
        assert row["frac_a"] == pytest.approx(np.mean(x[a] > 0))
        assert row["mean_b"] == pytest.approx(x[~a].mean(), rel=1e-9)
        assert row["logfoldchange"] == pytest.approx(
            np.log2((x[a].mean() + PSEUDOCOUNT) / (x[~a].mean() + PSEUDOCOUNT)), rel=1e-9)


def test_two_lassoed_groups_t_test_matches_scipy(client, values) -> None:
    n = values[0].shape[0]
    a, b = list(range(0, 400)), list(range(n - 700, n))
    response = client.post(URL, json={"groups": [{"cells": a}, {"cells": b}],
                                      "method": "t-test", "top": 10})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sizes"] == [400, 700] and body["method"] == "t-test"
    for row in body["genes"]:
        x = np.log1p(_column(values, row["gene"]))
        ref = stats.ttest_ind(x[a], x[b], equal_var=False)
        assert row["pvalue"] == pytest.approx(ref.pvalue, rel=1e-8)
        assert row["score"] == pytest.approx(ref.statistic, rel=1e-9)


def test_a_tsne_analysis_uses_its_spring_cells(client) -> None:
    body = {"groups": [{"cells": list(range(50))}, "rest"], "top": 5}
    spring = client.post(URL, json=body).json()
    tsne = client.post(f"/analysis/{TSNE_ID}/diffexp", json=body).json()
    assert tsne["genes"] == spring["genes"] and tsne["sizes"] == spring["sizes"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"groups": [{"cells": []}, "rest"]}, "groups.0.cells"),
        ({"groups": [{"cells": [0, 1, 2]}, {"cells": [2, 3]}]}, "groups.1"),
        ({"groups": [{"cells": [0, 10**6]}, "rest"]}, "groups.0.cells"),
        ({"groups": [{"cells": [0, -1]}, "rest"]}, "groups.0.cells"),
        ({"groups": [{"cells": [0, True]}, "rest"]}, "groups.0.cells"),
        ({"groups": [{"track": "no such track", "label": "1"}, "rest"]}, "groups.0.track"),
        ({"groups": [{"track": "Leiden cluster", "label": "no such label"}, "rest"]},
         "groups.0.label"),
        ({"groups": [{"cells": [0]}, "others"]}, "groups.1"),
        ({"groups": [{"cells": [0]}]}, "groups"),
        ({"groups": [{"cells": [0]}, "rest"], "method": "anova"}, "method"),
        ({"groups": [{"cells": [0]}, "rest"], "top": 0}, "top"),
        ({"groups": [{"cells": [0]}, "rest"], "top": 1001}, "top"),
        ({"groups": [{"cells": [0]}, "rest"], "method": "t-test"}, "groups.0"),
        ({"groups": [{"cells": [0]}, "rest"], "colour": "red"}, "colour"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, body, field) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["_status"] == "ERR" and payload["_error"]["code"] == 422
    assert field in payload["_issues"], payload


def test_unknown_analysis_is_404(client) -> None:
    response = client.post("/analysis/nope/diffexp", json={"groups": [{"cells": [0]}, "rest"]})
    assert response.status_code == 404


def test_above_the_interactive_size_is_413(hpc_spring, tmp_path) -> None:
    small = TestClient(_app(hpc_spring.data_dir, tmp_path / "db.sqlite3",
                            diffexp_max_interactive_cells=1000))  # fmt: skip
    response = small.post(URL, json={"groups": [{"cells": [0, 1]}, "rest"]})
    assert response.status_code == 413
    assert "bioblocks diffexp" in response.json()["_error"]["message"]


def test_markers_computed_for_an_analysis_without_the_file(client, hpc_spring, leiden) -> None:
    assert not (hpc_spring.folder / MARKERS_JSON).exists()
    response = client.get(f"/analysis/{HPC_ANALYSIS_ID}/markers", params={"track": "Leiden cluster"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body["tracks"]) == ["Leiden cluster"]
    labels = body["tracks"]["Leiden cluster"]
    assert set(labels) == set(leiden.tolist())
    label = sorted(labels)[0]
    assert labels[label]["size"] == int(np.sum(leiden == label))
    assert len(labels[label]["genes"]) == 50
    one = client.post(URL, json={"groups": [{"track": "Leiden cluster", "label": label}, "rest"],
                                 "top": 50}).json()  # fmt: skip
    assert labels[label]["genes"] == one["genes"]
    every = client.get(f"/analysis/{HPC_ANALYSIS_ID}/markers").json()
    assert {"Leiden cluster", "Louvain cluster", "library"} <= set(every["tracks"])
    bad = client.get(f"/analysis/{HPC_ANALYSIS_ID}/markers", params={"track": "nope"})
    assert bad.status_code == 422 and "track" in bad.json()["_issues"]


def test_markers_are_served_from_markers_json(hpc_spring, tmp_path) -> None:
    data_dir = tmp_path / "files"
    folder = data_dir / hpc_spring.folder.relative_to(hpc_spring.data_dir)
    shutil.copytree(hpc_spring.folder, folder)
    doc = {"method": "wilcoxon", "top": 1, "pseudocount": PSEUDOCOUNT, "tracks": {"library": {
        "P9A": {"size": 3, "genes": [{"gene": "Gata1", "score": 1.5, "logfoldchange": 0.5,
                                      "pvalue": 0.1, "padj": 0.2, "frac_a": 1.0, "frac_b": 0.5,
                                      "mean_a": 2.0, "mean_b": float("inf")}]}}}}  # fmt: skip
    write_markers(folder, doc)
    assert read_markers(folder)["tracks"]["library"]["P9A"]["genes"][0]["mean_b"] is None
    csv = (folder / "markers.csv").read_text().splitlines()
    assert csv[0].startswith("track,label,label_size,rank,gene,score")
    assert csv[1].startswith("library,P9A,3,1,Gata1,1.5")
    served = TestClient(_app(data_dir, tmp_path / "db.sqlite3"))
    body = served.get(f"/analysis/{HPC_ANALYSIS_ID}/markers").json()
    assert body["tracks"] == read_markers(folder)["tracks"]
