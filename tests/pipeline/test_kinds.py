"""Analysis jobs: their parameters are checked on submission; a worker SIGKILLed
mid-SPRING leaves no analysis document and no folder, and the job is retried and
registers its analysis exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.errors import InputError
from bioblocks.jobs import submit_job, wait_for
from bioblocks.jobs._runner import HOLD_ENV
from bioblocks.pipeline.operations import import_dataset
from bioblocks.store import get_doc
from tests.pipeline._pipeline_data import FAST_SPRING


def _worker(settings: Settings, log: Path, *, hold: str | None = None) -> subprocess.Popen[bytes]:
    """Start ``bioblocks worker``; ``hold`` (``<fraction>:<folder>``) holds its job mid-run."""
    env = {**os.environ, "BIOBLOCKS_DATA_DIR": str(settings.data_dir),
           "BIOBLOCKS_JOB_WORKERS": "1", "BIOBLOCKS_JOB_MAX_ATTEMPTS": "2"}
    env.pop("BIOBLOCKS_BROKER_URL", None)
    env.pop("BIOBLOCKS_DATABASE_URL", None)
    env.pop(HOLD_ENV, None)
    if hold is not None:
        env[HOLD_ENV] = hold
    with log.open("ab") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "bioblocks"), "worker"],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.mark.slow
def test_a_spring_job_killed_mid_run_is_retried_and_leaves_nothing_partial(
    store: Any, settings: Settings, example_dir: Path, tmp_path: Path
) -> None:
    dataset = import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                             name="example")
    analyses = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses"
    job = submit_job(store, settings, "SPRING", dataset_id=dataset["_id"],
                     parameters={**FAST_SPRING, "seed": 5})
    log = tmp_path / "worker.log"
    hold = tmp_path / "hold"
    # The worker stops at its first report past 20 % (inside SPRING, its staging folder
    # half-written) until released, which never happens: it is killed there.
    worker = _worker(settings, log, hold=f"0.2:{hold}")
    deadline = time.monotonic() + 120  # a bound on the start-up, not a race with the job
    while not (hold / f"{job['_id']}.held").exists():
        assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-3000:]
        time.sleep(0.1)
    assert 0.2 <= get_doc(store, "job", job["_id"])["progress"] < 1
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    killed = get_doc(store, "job", job["_id"])
    assert killed["state"] == "running" and killed["attempts"] == 1
    assert store.count("analysis") == 0
    assert not analyses.exists() or list(analyses.iterdir()) == []
    assert store.get("dataset", dataset["_id"])["analyses"] == []

    survivor = _worker(settings, log)
    try:
        (final,) = wait_for(store, [job["_id"]], timeout=300, poll=0.2)
    finally:
        os.killpg(survivor.pid, signal.SIGKILL)
        survivor.wait(timeout=10)
    assert final["state"] == "complete" and final["attempts"] == 2, log.read_text()[-3000:]
    (analysis,) = [a["_id"] for a in [store.get("analysis", final["results"]["analysis"])]]
    assert store.get("dataset", dataset["_id"])["analyses"] == [analysis]
    assert [p.name for p in analyses.iterdir()] == [analysis]
    assert list((settings.resolved_data_dir / "tmp" / "jobs").iterdir()) == []


def test_analysis_jobs_are_checked_against_the_datasets_cells_on_submission(
    store: Any, settings: Settings
) -> None:
    dataset = store.insert("dataset", {"name": "small", "matrixInfo": {"cells": 40}})
    for kind, parameters, field in [
        ("UMAP", {"n_neighbors": 40}, "parameters.n_neighbors"),
        ("tsne", {}, "parameters.perplexity"),  # perplexity 30 needs 91 cells
        ("SPRING", {"subsample": "4"}, "parameters.n_neighbors"),
        ("SPRING", {"seed": False}, "parameters.seed"),
    ]:
        with pytest.raises(InputError) as error:
            submit_job(store, settings, kind, dataset_id=dataset["_id"], parameters=parameters)
        assert error.value.field == field, (kind, parameters)
    assert store.count("job") == 0
    job = submit_job(store, settings, "spring", dataset_id=dataset["_id"],
                     parameters={"subsample": "30", "n_force_iter": "20"})
    assert job["parameters"] == {"subsample": 30, "n_force_iter": 20, "seed": 0}
