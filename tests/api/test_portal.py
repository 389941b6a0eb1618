"""A client doing exactly what the data portal does, on example metadata made here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from bioblocks.api import create_app
from bioblocks.config import Settings
from bioblocks.ingest import make_example_dataset
from bioblocks.pipeline.operations import import_dataset
from bioblocks.pipeline.steps import run_pipeline

PNG = b"\x89PNG\r\n\x1a\n" + b"portal-icon"


def _load_example(client: TestClient) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name, kind in (("HPC SPRING 2000", "SPRING"), ("HPC t-SNE", "TSNE")):
        response = client.post("/analysis", json={"name": name, "processType": kind,
                                                  "parameters": {"subsample": 2000}})
        assert response.status_code == 201
        ids[name] = response.json()["_id"]
    response = client.post("/dataset", json=[
        {"name": "hpc/P9A", "species": "mus_musculus", "authors": ["Nestorowa"],
         "analyses": [ids["HPC SPRING 2000"], ids["HPC t-SNE"]],
         "matrixInfo": {"colCount": 28205, "rowCount": 1920}},
        {"name": "tabula_muris", "species": "mus_musculus"},
    ])
    assert response.status_code == 201
    ids["hpc"], ids["tm"] = (item["_id"] for item in response.json()["_items"])
    response = client.post("/visualization", data={
        "name": "SPRING", "authors": json.dumps(["Weinreb", "Wagner"]),
        "citations": json.dumps([{"fullCitation": "Weinreb et al. 2018", "link": "https://x"}]),
        "compatibleData": json.dumps(["spring"]), "exampleDataset": "hpc",
        "isOriginal": "true", "summary": "Force-directed kNN graph layouts",
        "repo": json.dumps({"lastUpdate": "2018-01-01", "link": "https://github.com/x",
                            "version": "1.0"}),
        "version": "1.0.0",
    }, files={"icon": ("spring.png", PNG, "image/png")})
    assert response.status_code == 201, response.text
    ids["spring"] = response.json()["_id"]
    response = client.post("/vignette", data={
        "name": "HPC in SPRING", "authors": json.dumps(["Bioblocks"]),
        "dataset": ids["hpc"], "visualizations": json.dumps([ids["spring"]]),
        "summary": "Haematopoietic progenitors",
    }, files={"icon": ("vignette.png", PNG[::-1], "image/png")})
    assert response.status_code == 201, response.text
    return ids


def test_portal_flow(client: TestClient, anon: TestClient) -> None:
    ids = _load_example(client)
    listing = anon.get('/dataset?embedded={"analyses":1}')
    assert listing.status_code == 200
    hpc = next(d for d in listing.json()["_items"] if d["name"] == "hpc/P9A")
    assert [a["name"] for a in hpc["analyses"]] == ["HPC SPRING 2000", "HPC t-SNE"]
    assert hpc["analyses"][0]["parameters"] == {"subsample": 2000}
    one = anon.get(f'/dataset/{ids["hpc"]}?embedded={{"analyses":1}}')
    assert one.status_code == 200
    assert [a["processType"] for a in one.json()["analyses"]] == ["SPRING", "TSNE"]
    assert one.json()["matrixInfo"] == {"colCount": 28205, "rowCount": 1920}
    vignettes = anon.get("/vignette").json()["_items"]
    visualizations = anon.get("/visualization").json()["_items"]
    assert [v["name"] for v in vignettes] == ["HPC in SPRING"]
    assert vignettes[0]["visualizations"] == [ids["spring"]]
    assert visualizations[0]["authors"] == ["Weinreb", "Wagner"]
    icons = {vignettes[0]["icon"]: PNG[::-1], visualizations[0]["icon"]: PNG}
    for url, content in icons.items():
        response = anon.get(url)
        assert response.status_code == 200 and response.content == content
        assert response.headers["content-type"] == "image/png"


# ---- the portal and the SPRING viewer on what the pipeline made -------------------------

#: A dataset name with spaces and brackets, as the old examples had
#: ("Hematopoietic Progenitor Cells"): the portal puts it in URLs as it is.
PORTAL_DATASET = "Mouse HSPC (2 libraries)"
#: Below 1,000 cells the pipeline makes one SPRING analysis (spec §9): a fast fixture.
PORTAL_CELLS = 600
SPRING_FILES = ("categorical_coloring_data.json", "coordinates.txt", "pca.csv", "edges.csv",
                "color_stats.json")


def _url_path(text: str) -> str:
    """``text`` as ``fetch()`` puts it in a URL path (WHATWG path percent-encode set)."""
    return quote(text, safe="!$&'()*+,;=:@[]/")


@pytest.fixture(scope="module")
def pipeline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """The README's main job on the synthetic example: import, then the pipeline's SPRING,
    t-SNE and UMAP steps; return an anonymous client of the app and the dataset id."""
    root = tmp_path_factory.mktemp("portal")
    example = make_example_dataset(root / "example", n_cells=PORTAL_CELLS, seed=3)
    settings = Settings(data_dir=root / "files", job_workers=1)
    app = create_app(settings)
    store = app.state.store
    try:
        dataset = import_dataset(store, settings, [example / "lib1", example / "lib2"],
                                 name=PORTAL_DATASET, species="mus_musculus")
        reports = run_pipeline(store, settings, steps=["spring", "tsne", "umap"], run_here=True,
                               params={"SPRING": {"n_force_iter": 20}, "TSNE": {"n_iter": 250}})
        assert [(r.step, r.done, r.failed) for r in reports] == [
            ("spring", 1, 0), ("tsne", 1, 0), ("umap", 1, 0)], reports
        yield TestClient(app), dataset["_id"]
    finally:
        store.close()


def test_portal_walk_finds_every_analysis_the_pipeline_made(
    pipeline_server: tuple[TestClient, str],
) -> None:
    """What bioblocks-portal's DynamicsPage fetches: the datasets with their analyses
    embedded, then each SPRING analysis's files under ``…/<aid>/<dataset name>/`` and each
    t-SNE's ``tsne_output.csv``/``tsne_matrix.csv`` (UMAP: ``umap_output.csv``)."""
    anon, dataset_id = pipeline_server
    listing = anon.get('/dataset?embedded={"analyses":1}')
    assert listing.status_code == 200
    (dataset,) = listing.json()["_items"]
    analyses: list[dict[str, Any]] = dataset["analyses"]
    kinds = sorted(a["processType"] for a in analyses)
    assert kinds == ["SPRING", "TSNE", "UMAP"]
    for analysis in analyses:
        location = f"/datasets/{dataset['_id']}/analyses/{analysis['_id']}"
        if analysis["processType"] == "SPRING":
            for name in SPRING_FILES:
                response = anon.get(f"{location}/{_url_path(dataset['name'])}/{name}")
                assert response.status_code == 200, (analysis["name"], name, response.text)
                assert response.content
            categorical = anon.get(
                f"{location}/{_url_path(dataset['name'])}/categorical_coloring_data.json").json()
            assert len(categorical["Default"]["label_list"]) == analysis["subsample"]
        else:
            files = {"TSNE": ("tsne_output.csv", "tsne_matrix.csv"),
                     "UMAP": ("umap_output.csv",)}[analysis["processType"]]
            for name in files:
                response = anon.get(f"{location}/{name}")
                assert response.status_code == 200, (analysis["name"], name)
    assert dataset["_id"] == dataset_id


def test_spring_viewer_opened_by_the_portal_is_read_only_and_colours_genes(
    pipeline_server: tuple[TestClient, str],
) -> None:
    """The portal's iframe ``/spring/springViewer.html?../datasets/<id>/analyses/<aid>/<name>``:
    the viewer reads ``M/S/mutability.txt`` (200: read-only, issue 13.16), the subplot files,
    and posts the raw query-string paths to its CGI scripts."""
    anon, dataset_id = pipeline_server
    dataset = anon.get(f'/dataset/{dataset_id}?embedded={{"analyses":1}}').json()
    spring = [a for a in dataset["analyses"] if a["processType"] == "SPRING"]
    assert spring
    for analysis in spring:
        main = f"../datasets/{dataset_id}/analyses/{analysis['_id']}"
        sub = f"{main}/{_url_path(dataset['name'])}"  # location.search keeps %20 raw
        for name in ("mutability.txt", "coordinates.txt", "edges.csv", "color_data_gene_sets.csv",
                     "categorical_coloring_data.json", "color_stats.json"):
            response = anon.get(f"/spring/{sub}/{name}")
            assert response.status_code == 200, (name, response.text)
        assert anon.get(f"/spring/{sub}/mutability.txt").content == b""
        genes = anon.post("/spring/cgi-bin/load_counts.py", data={"base_dir": main})
        assert genes.status_code == 200
        gene = genes.text.splitlines()[0]
        values = anon.post("/spring/cgi-bin/grab_one_gene.py",
                           data={"base_dir": main, "sub_dir": sub, "gene": gene})
        assert values.status_code == 200
        assert values.text.count("\n") == analysis["subsample"]


def test_names_and_recorded_subplots_of_the_pipeline_analyses(
    pipeline_server: tuple[TestClient, str],
) -> None:
    """The analysis is named by its size; the subplot name is recorded where the page
    reads it (``parameters.subplot``) and in ``run_info.json``."""
    anon, dataset_id = pipeline_server
    dataset = anon.get(f'/dataset/{dataset_id}?embedded={{"analyses":1}}').json()
    spring = sorted((a for a in dataset["analyses"] if a["processType"] == "SPRING"),
                    key=lambda a: a["subsample"])
    assert [(a["subsample"], a["name"]) for a in spring] == [
        (PORTAL_CELLS, f"{PORTAL_DATASET} - {PORTAL_CELLS}")]
    assert {a["parameters"]["subplot"] for a in spring} == {PORTAL_DATASET}
    run_info = anon.get(f"/datasets/{dataset_id}/analyses/{spring[0]['_id']}/"
                        f"{_url_path(PORTAL_DATASET)}/run_info.json").json()
    assert run_info["Subplot"] == PORTAL_DATASET
