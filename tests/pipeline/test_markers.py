"""Every SPRING analysis writes the marker genes of its categorical tracks into its folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from scipy import stats

from bioblocks.analysis import ExpressionStore
from bioblocks.analysis.markers import MARKERS_CSV, MARKERS_JSON, TOP
from bioblocks.api.app import create_app
from bioblocks.config import Settings
from bioblocks.pipeline.operations import import_dataset, run_analysis
from tests.pipeline._pipeline_data import FAST_SPRING


def test_spring_writes_markers_of_every_track(store: Any, settings: Settings,
                                              example_dir: Path) -> None:  # fmt: skip
    dataset = import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                             name="example", species="mus_musculus")  # fmt: skip
    stages: list[str] = []
    doc = run_analysis(store, settings, dataset["_id"], process="SPRING", params=FAST_SPRING,
                       progress=lambda f, m: stages.append(m))  # fmt: skip
    assert "computing marker genes" in stages
    folder = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses" / doc["_id"]
    markers = json.loads((folder / MARKERS_JSON).read_text())
    tracks = json.loads((folder / "example" / "categorical_coloring_data.json").read_text())
    assert set(markers["tracks"]) == set(tracks)
    assert (markers["method"], markers["top"]) == ("wilcoxon", TOP)
    library = np.asarray(tracks["library"]["label_list"])
    assert set(markers["tracks"]["library"]) == {"lib1", "lib2"}
    entry = markers["tracks"]["library"]["lib1"]
    assert entry["size"] == int(np.sum(library == "lib1")) and len(entry["genes"]) == TOP
    # the file's statistics are the test's, on the analysis's own normalised values
    expression = ExpressionStore.open(folder)
    cells = np.load(folder / "example" / "cell_filter.npy")
    a = library == "lib1"
    for row in entry["genes"][:5]:
        x = expression.values(row["gene"])[cells].astype(np.float64)
        assert np.isclose(row["pvalue"], stats.mannwhitneyu(x[a], x[~a]).pvalue, rtol=1e-8)
    scores = [g["score"] for g in entry["genes"]]
    assert scores == sorted(scores, reverse=True)
    with (folder / MARKERS_CSV).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    lib1 = [r for r in rows if (r["track"], r["label"]) == ("library", "lib1")]
    assert [r["gene"] for r in lib1] == [g["gene"] for g in entry["genes"]]
    assert float(lib1[0]["pvalue"]) == entry["genes"][0]["pvalue"]
    # no staging left, and the API serves the file
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []
    served = TestClient(create_app(settings, store=store)).get(
        f"/analysis/{doc['_id']}/markers", params={"track": "library"})
    assert served.status_code == 200
    assert served.json()["tracks"] == {"library": markers["tracks"]["library"]}
