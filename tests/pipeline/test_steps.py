"""The pipeline end to end: import, then SPRING at each subsample size, t-SNE and UMAP,
registered with their files — with the local executor on SQLite and with Celery workers
on Redis and PostgreSQL. Every step is idempotent; a failing dataset does not stop others."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bioblocks.config import Settings
from bioblocks.jobs import LocalWorkers, claim, submit_job, wait_for
from bioblocks.jobs._celery import send_run_job
from bioblocks.pipeline.operations import import_dataset
from bioblocks.pipeline.steps import plan_step, run_pipeline, subsample_sizes
from bioblocks.store import find_docs, open_store
from tests.pipeline._pipeline_data import FAST, N_CELLS

STEPS = ["fetch-matrices", "spring", "tsne", "umap"]


def _import(store: Any, settings: Settings, example_dir: Path) -> dict[str, Any]:
    return import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                          name="example")


def _check_analysed(store: Any, settings: Settings, dataset_id: str) -> None:
    dataset = store.get("dataset", dataset_id)
    analyses = find_docs(store, "analysis", {"dataset": dataset_id})
    assert sorted(dataset["analyses"]) == sorted(a["_id"] for a in analyses)
    spring = sorted((a for a in analyses if a["processType"] == "SPRING"),
                    key=lambda a: a["subsample"])
    assert [a["subsample"] for a in spring] == subsample_sizes(N_CELLS) == [1000, N_CELLS]
    assert [a["name"] for a in spring] == ["example - 1K", "example - 1100"]
    for process, csv in (("TSNE", "tsne_output.csv"), ("UMAP", "umap_output.csv")):
        (embedding,) = [a for a in analyses if a["processType"] == process]
        assert embedding["parameters"]["springAnalysis"] == spring[-1]["_id"]
        assert embedding["parameters"]["seed"] == embedding["seed"]
        folder = settings.resolved_data_dir / "datasets" / dataset_id / "analyses" / embedding["_id"]
        coordinates = np.loadtxt(folder / csv, delimiter=",")
        assert coordinates.shape == (N_CELLS, 2) and np.isfinite(coordinates).all()
        assert (folder / "preview.png").is_file()
    for analysis in spring:
        folder = settings.resolved_data_dir / "datasets" / dataset_id / "analyses" / analysis["_id"]
        # spec §10: every subplot is named after the dataset, and read-only for the viewer
        assert analysis["parameters"]["subplot"] == "example"
        coordinates = np.loadtxt(folder / "example" / "coordinates.txt", delimiter=",")
        assert coordinates.shape[0] == analysis["subsample"]
        assert (folder / "example" / "mutability.txt").is_file()
        assert (folder / "preview.png").is_file()
    assert list((settings.resolved_data_dir / "tmp").glob("*.partial")) == []


@pytest.mark.slow
def test_the_pipeline_analyses_a_dataset_with_local_workers(
    store: Any, settings: Settings, example_dir: Path
) -> None:
    dataset = _import(store, settings, example_dir)
    broken = store.insert("dataset", {"name": "broken", "matrixInfo": {"cells": 50}})
    planned = run_pipeline(store, settings, steps=STEPS, dry_run=True)
    assert [(r.step, r.planned) for r in planned] == [
        ("fetch-matrices", 0), ("spring", 3), ("tsne", 0), ("umap", 0)]
    assert store.count("job") == 0

    with LocalWorkers(settings, processes=1):  # the worker process runs every job
        reports = run_pipeline(store, settings, steps=STEPS, params=FAST, step_timeout=600,
                               run_here=False)

    summary = {r.step: (r.done, r.skipped, r.failed) for r in reports}
    assert summary == {"fetch-matrices": (0, 2, 0), "spring": (2, 0, 1), "tsne": (1, 1, 0),
                       "umap": (1, 1, 0)}
    (failure,) = [e for r in reports for e in r.errors]
    assert failure.startswith("broken: SPRING 50 cells: ") and "no imported matrix" in failure
    _check_analysed(store, settings, dataset["_id"])
    jobs = find_docs(store, "job", {"associatedDataset.dataset": dataset["_id"]})
    assert sorted(j["kind"] for j in jobs) == ["SPRING", "SPRING", "TSNE", "UMAP"]
    assert {j["state"] for j in jobs} == {"complete"}
    assert all(not j["worker"].endswith(f":{os.getpid()}") for j in jobs)
    assert store.get("dataset", broken["_id"])["analyses"] == []

    again = run_pipeline(store, settings, steps=STEPS, datasets=[dataset["_id"]])
    assert [(r.done, r.failed, r.planned) for r in again] == [(0, 0, 0)] * 4
    assert [r.skipped for r in again] == [1, 2, 1, 1]


def test_planning_skips_work_that_is_done_or_queued(store: Any, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "big", "matrixInfo": {"cells": 12_000}})
    remote = store.insert("dataset", {"name": "remote", "matrixLocation": "https://x.org/m.mtx"})
    units, skipped = plan_step(store, settings, "spring", datasets=[dataset["_id"]])
    assert [u.parameters["subsample"] for u in units] == [1000, 5000, 10000, 12000]
    assert skipped == 0
    store.insert("analysis", {"name": "big - 5K", "processType": "SPRING",
                              "dataset": dataset["_id"], "subsample": 5000})
    from bioblocks.jobs import submit_job

    submit_job(store, settings, "SPRING", dataset_id=dataset["_id"],
               parameters={"subsample": 1000})
    units, skipped = plan_step(store, settings, "spring", datasets=[dataset["_id"]])
    assert [u.parameters["subsample"] for u in units] == [10000, 12000] and skipped == 2
    fetch, _ = plan_step(store, settings, "fetch-matrices")
    assert [(u.kind, u.dataset) for u in fetch] == [("fetch-matrix", remote["_id"])]
    limited = run_pipeline(store, settings, steps=["spring"], limit=1, dry_run=True)
    assert limited[0].planned == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_the_pipeline_runs_on_celery_workers_with_postgres_and_redis(
    tmp_path: Path, example_dir: Path, postgres_schema_url: str, redis_url: str
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(data_dir=tmp_path / "files", database_url=postgres_schema_url,
                        broker_url=redis_url, job_workers=2, job_max_attempts=2)
    store = open_store(settings)
    dataset = _import(store, settings, example_dir)
    env = {**os.environ, "BIOBLOCKS_DATA_DIR": str(settings.data_dir),
           "BIOBLOCKS_DATABASE_URL": postgres_schema_url, "BIOBLOCKS_BROKER_URL": redis_url,
           "BIOBLOCKS_JOB_WORKERS": "2"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([str(Path(sys.executable).parent / "bioblocks"), "worker"],
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    # Besides the pipeline: jobs whose task is sent twice run once, and a job left running
    # by a worker process that died is requeued by the worker's sweep and run again.
    other = store.insert("dataset", {"name": "remote", "matrixLocation": "not-a-url"})
    doubles = [submit_job(store, settings, "fetch-matrix", dataset_id=other["_id"])
               for _ in range(3)]
    for job in doubles:
        send_run_job(settings, job["_id"])
    orphan = submit_job(store, settings, "fetch-matrix", dataset_id=other["_id"])
    claim(store, orphan["_id"], worker=f"{socket.gethostname()}:{2**22 + 7}")
    try:
        reports = run_pipeline(store, settings, steps=STEPS, params=FAST, step_timeout=600)
        finals = wait_for(store, [j["_id"] for j in [*doubles, orphan]], timeout=120)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    assert [(r.step, r.done, r.failed) for r in reports] == [
        ("fetch-matrices", 0, 0), ("spring", 2, 0), ("tsne", 1, 0), ("umap", 1, 0)], \
        (tmp_path / "worker.log").read_text()[-3000:]
    assert [(f["state"], f["attempts"]) for f in finals] == [("error", 1)] * 3 + [("error", 2)]
    assert all("has no http(s) matrixLocation" in f["error"] for f in finals)
    _check_analysed(store, settings, dataset["_id"])
    jobs = find_docs(store, "job", {})
    assert all(not j["worker"].endswith(f":{os.getpid()}") for j in jobs)  # Celery ran them
    store.close()


def test_pipeline_parameters_are_checked_before_any_step_runs(
    store: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioblocks.errors import AnalysisInputError
    from bioblocks.pipeline import steps

    def no_step(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a step ran before the parameters were checked")

    monkeypatch.setattr(steps, "plan_step", no_step)
    with pytest.raises(AnalysisInputError) as error:
        run_pipeline(store, settings, params={"spring": {"n_force_itr": 5}})
    assert error.value.field == "params.SPRING.n_force_itr"
    with pytest.raises(AnalysisInputError) as error:
        run_pipeline(store, settings, params={"tsne": {"n_iter": "many"}})
    assert error.value.field == "params.TSNE.n_iter"
