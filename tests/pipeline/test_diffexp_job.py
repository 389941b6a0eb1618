"""The ``diffexp`` job kind: the route's answer, at any size, checked on submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bioblocks.api.app import create_app
from bioblocks.config import Settings
from bioblocks.errors import InputError
from bioblocks.jobs import execute, submit_job
from bioblocks.pipeline.operations import import_dataset, run_analysis
from tests.pipeline._pipeline_data import FAST_SPRING


@pytest.fixture
def analysis_id(store: Any, settings: Settings, example_dir: Path) -> str:
    dataset = import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                             name="example", species="mus_musculus")  # fmt: skip
    return str(run_analysis(store, settings, dataset["_id"], process="SPRING",
                            params=FAST_SPRING)["_id"])  # fmt: skip


def test_a_diffexp_job_gives_the_routes_answer(store: Any, settings: Settings,
                                               analysis_id: str) -> None:  # fmt: skip
    body = {"groups": [{"track": "library", "label": "lib1"},
                       {"track": "library", "label": "lib2"}], "method": "wilcoxon", "top": 7}
    route = TestClient(create_app(settings, store=store))
    first = route.post(f"/analysis/{analysis_id}/diffexp", json=body)
    assert first.status_code == 200, first.text
    job = submit_job(store, settings, "diffexp", parameters={"analysis": analysis_id, **body})
    assert job["state"] == "queued" and job["kind"] == "diffexp"
    done = execute(store, settings, job["_id"])
    assert done is not None and done["state"] == "complete", done
    assert done["results"] == first.json()
    assert len(done["results"]["genes"]) == 7


ID = "<the analysis>"


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"groups": [{"cells": [0]}, "rest"]}, "parameters.analysis"),
        ({"analysis": "no-such-analysis", "groups": [{"cells": [0]}, "rest"]},
         "parameters.analysis"),
        ({"analysis": ID, "groups": [{"cells": [0]}], "top": 5}, "parameters.groups"),
        ({"analysis": ID, "groups": [{"cells": [0]}, "rest"], "method": "anova"},
         "parameters.method"),
        ({"analysis": ID, "groups": [{"cells": [0]}, "rest"], "colour": "red"},
         "parameters.colour"),
    ],
)
def test_bad_submissions_name_the_parameter(store: Any, settings: Settings, analysis_id: str,
                                            parameters: dict[str, Any], field: str) -> None:  # fmt: skip
    if parameters.get("analysis") == ID:
        parameters = {**parameters, "analysis": analysis_id}
    with pytest.raises(InputError) as error:
        submit_job(store, settings, "diffexp", parameters=parameters)
    assert error.value.field == field
    assert store.count("job") == 0
