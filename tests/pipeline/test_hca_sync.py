"""The pipeline's ``hca-sync`` step against the fake Azul server: import what matches the
filter, then skip it while the file version is unchanged."""

from __future__ import annotations

from typing import Any

from bioblocks.config import Settings
from bioblocks.pipeline.steps import run_pipeline
from bioblocks.store import find_docs
from tests.sources.hca.fake_azul import KIDNEY_H5AD, KIDNEY_PROJECT, FakeAzul, make_h5ad_bytes
from tests.sources.hca.fake_azul import fake_azul as fake_azul  # noqa: F401 - the fixture


def test_hca_sync_imports_matching_projects_once(
    store: Any, settings: Settings, fake_azul: FakeAzul  # noqa: F811
) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, make_h5ad_bytes(n_cells=40, n_genes=25))
    hca = settings.model_copy(update={"hca_url": fake_azul.base_url, "hca_requests_per_second": 0,
                                      "hca_sync": {"format": "h5ad"}})
    assert run_pipeline(store, settings.model_copy(update={"hca_sync": {}}),
                        steps=["hca-sync"])[0].planned == 0  # no filter: nothing to do

    (report,) = run_pipeline(store, hca, steps=["hca-sync"])

    assert (report.planned, report.done, report.failed) == (1, 1, 0), report.errors
    (dataset,) = find_docs(store, "dataset", {"hca.projectId": KIDNEY_PROJECT})
    assert dataset["hca"]["fileId"] == KIDNEY_H5AD
    assert dataset["matrixInfo"]["cells"] == 40 and dataset["matrixInfo"]["genes"] == 25
    (job,) = find_docs(store, "job", {"kind": "hca-sync"})
    assert job["results"]["dataset"] == dataset["_id"] and job["results"]["skipped"] is False

    (again,) = run_pipeline(store, hca, steps=["hca-sync"])
    assert (again.planned, again.skipped) == (0, 1)
