"""A client doing exactly what the data portal does, on example metadata made here."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

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
