"""The command line of datasets, jobs and the pipeline: ``dataset import|list``,
``job submit|list|show|cancel``, ``pipeline run``."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.cli import job as job_cli
from bioblocks.config import Settings
from bioblocks.jobs import polling_workers, work_loop
from bioblocks.store import open_store

RUNNER = CliRunner()


def _env(tmp_path: Path) -> dict[str, str | None]:
    return {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_LOG_LEVEL": "WARNING",
            "BIOBLOCKS_BROKER_URL": None, "BIOBLOCKS_DATABASE_URL": None, "COLUMNS": "250"}


def _tsv(path: Path, n_cells: int, n_genes: int) -> Path:
    counts = np.random.default_rng(0).poisson(1.0, size=(n_cells, n_genes))
    lines = ["barcode," + ",".join(f"G{g}" for g in range(n_genes))]
    lines += [f"c{i}," + ",".join(map(str, row)) for i, row in enumerate(counts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dataset_import_and_list(tmp_path: Path) -> None:
    env = _env(tmp_path)
    source = _tsv(tmp_path / "lib.csv", 12, 7)
    result = RUNNER.invoke(cli.app, ["dataset", "import", str(source), "--name", "tiny",
                                     "--species", "homo_sapiens"], env=env)
    assert result.exit_code == 0, result.output
    dataset_id = result.stdout.strip().splitlines()[-1]
    assert "12 cells × 7 genes" in result.output
    listed = RUNNER.invoke(cli.app, ["dataset", "list"], env=env)
    assert listed.exit_code == 0 and dataset_id[:8] in listed.stdout and "tiny" in listed.stdout
    bad = RUNNER.invoke(cli.app, ["dataset", "import", str(source)], env=env)
    assert bad.exit_code == 2 and "needs a name" in bad.output


def test_job_submit_here_list_show_and_cancel(tmp_path: Path) -> None:
    env = _env(tmp_path)
    store = open_store(Settings(data_dir=tmp_path / "files"))
    dataset = store.insert("dataset", {"name": "remote", "matrixLocation": "file.mtx"})
    failed = RUNNER.invoke(cli.app, ["job", "submit", "fetch-matrix", "--dataset",
                                     dataset["_id"], "--here"], env=env)
    assert failed.exit_code == 1, failed.output
    assert "error" in failed.output and "has no http(s) matrixLocation" in failed.output

    queued = RUNNER.invoke(cli.app, ["job", "submit", "pipeline", "--param",
                                     'steps=["spring"]'], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    shown = json.loads(RUNNER.invoke(cli.app, ["job", "show", job_id], env=env).stdout)
    assert shown["state"] == "queued" and shown["parameters"] == {"steps": ["spring"]}
    listed = RUNNER.invoke(cli.app, ["job", "list", "--state", "queued"], env=env)
    assert job_id in listed.stdout.splitlines()[1] and "1 job(s)" in listed.output
    cancelled = RUNNER.invoke(cli.app, ["job", "cancel", job_id], env=env)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = RUNNER.invoke(cli.app, ["job", "cancel", failed.stdout.strip().splitlines()[0]],
                          env=env)
    assert again.exit_code == 2 and "only queued or running" in again.output
    unknown = RUNNER.invoke(cli.app, ["job", "submit", "BLAST"], env=env)
    assert unknown.exit_code == 2 and "unknown job kind" in unknown.output
    store.close()


def test_pipeline_dry_run_prints_the_summary_table(tmp_path: Path) -> None:
    env = _env(tmp_path)
    store = open_store(Settings(data_dir=tmp_path / "files"))
    store.insert("dataset", {"name": "big", "matrixInfo": {"cells": 6000}})
    store.close()
    result = RUNNER.invoke(cli.app, ["pipeline", "run", "--dry-run", "--steps", "spring,tsne",
                                     "--param", "SPRING.n_force_iter=50"], env=env)
    assert result.exit_code == 0, result.output
    cells = [line.replace("│", " ").split() for line in result.stdout.splitlines()]
    rows = {c[0]: c[1:] for c in cells if c and c[0] in ("spring", "tsne")}
    assert rows["spring"][:4] == ["3", "0", "0", "0"]  # planned 1K, 5K, 6000; nothing run
    assert rows["tsne"][:4] == ["0", "0", "1", "0"]
    bad = RUNNER.invoke(cli.app, ["pipeline", "run", "--steps", "nap"], env=env)
    assert bad.exit_code == 2 and "unknown steps" in bad.output
    bad_param = RUNNER.invoke(cli.app, ["pipeline", "run", "--param", "n_force_iter=5"], env=env)
    assert bad_param.exit_code == 2 and "PROCESS.name=value" in bad_param.output


def test_job_submit_wait_says_when_no_worker_is_polling(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_cli, "NO_WORKER_GRACE", 0.0)  # no wait: the answer is not a race
    env = _env(tmp_path)
    result = RUNNER.invoke(cli.app, ["job", "submit", "pipeline", "--wait"], env=env)
    assert result.exit_code == 3, result.output
    job_id = result.stdout.strip().splitlines()[0]
    assert "no worker is polling" in result.output
    assert "bioblocks serve" in result.output and "bioblocks worker" in result.output
    assert "--here" in result.output
    store = open_store(Settings(data_dir=tmp_path / "files"))
    try:
        assert store.get("job", job_id)["state"] == "queued"  # nothing lost: it stays queued
    finally:
        store.close()


def test_job_submit_wait_follows_the_job_while_a_worker_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_kind: str
) -> None:
    monkeypatch.setattr(job_cli, "NO_WORKER_GRACE", 0.0)
    settings = Settings(data_dir=tmp_path / "files")
    store = open_store(settings)
    stop = threading.Event()
    worker = threading.Thread(target=work_loop, args=(store, settings),
                              kwargs={"stop": stop, "poll_interval": 0.05}, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30  # a bound on the start-up only
        while not polling_workers(settings):
            assert time.monotonic() < deadline, "the worker did not announce itself"
            time.sleep(0.02)
        log = tmp_path / "runs.log"
        result = RUNNER.invoke(cli.app, ["job", "submit", test_kind.upper(), "--param",
                                         "mode=count", "--param", f"log={log}", "--wait"],
                               env=_env(tmp_path))
        assert result.exit_code == 0, result.output
        assert "complete" in result.output and "no worker" not in result.output
        assert len(log.read_text().splitlines()) == 1
    finally:
        stop.set()
        worker.join(timeout=30)
        store.close()
    assert not polling_workers(settings)  # the presence file went with the worker


def test_job_kinds_and_processes_are_accepted_in_any_case(tmp_path: Path) -> None:
    env = _env(tmp_path)
    store = open_store(Settings(data_dir=tmp_path / "files"))
    dataset = store.insert("dataset", {"name": "d"})
    store.close()
    submitted = []
    for spelling in ("spring", "Spring", "SPRING"):
        result = RUNNER.invoke(cli.app, ["job", "submit", spelling, "--dataset", dataset["_id"],
                                         "--param", "subsample=10"], env=env)
        assert result.exit_code == 0, result.output
        submitted.append(result.stdout.strip())
        shown = json.loads(RUNNER.invoke(cli.app, ["job", "show", submitted[-1]],
                                         env=env).stdout)
        assert shown["kind"] == "SPRING" and shown["parameters"]["seed"] == 0
    listed = RUNNER.invoke(cli.app, ["job", "list", "--kind", "spring"], env=env)
    assert listed.exit_code == 0 and all(job_id in listed.stdout for job_id in submitted)
    refused = RUNNER.invoke(cli.app, ["job", "submit", "spring", "--dataset", dataset["_id"],
                                      "--param", "n_force_itr=3"], env=env)
    assert refused.exit_code == 2, refused.output
    assert "parameters.n_force_itr" in refused.output and "unknown SPRING parameter" in refused.output
    analysed = RUNNER.invoke(cli.app, ["analyze", "no-such-dataset", "--process", "t-sne",
                                       "--param", "perplexity=-1"], env=env)
    # the parameter is refused before the dataset (let alone its matrix) is looked at
    assert analysed.exit_code == 2 and "perplexity" in analysed.output, analysed.output
    assert "does not exist" not in analysed.output


def test_analyze_checks_the_seed_by_one_rule_before_the_dataset(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for process in ("spring", "t-sne", "UMAP"):
        refused = RUNNER.invoke(cli.app, ["analyze", "no-such-dataset", "--process", process,
                                          "--param", "seed=true"], env=env)
        assert refused.exit_code == 2, refused.output
        text = " ".join(refused.output.split())
        assert "seed: must be an integer in 0..2^32-1, got True; or 'random' to draw one" in text
        assert "does not exist" not in text
    refused = RUNNER.invoke(cli.app, ["analyze", "no-such-dataset", "--process", "umap",
                                      "--subsample", "10"], env=env)  # SPRING's alone
    assert refused.exit_code == 2 and "unknown UMAP parameter" in refused.output, refused.output
