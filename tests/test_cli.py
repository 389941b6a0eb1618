"""The ``bioblocks`` command's output: list formats, one-line errors, quiet logging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.config import Settings
from bioblocks.store import open_store

RUNNER = CliRunner()
LONG_NAME = "Mouse haematopoietic progenitors, four libraries, whole data (a long dataset name)"


def _env(tmp_path: Path, **extra: str | None) -> dict[str, str | None]:
    """A fresh data directory; no COLUMNS, so rich would fall back to 80 columns."""
    return {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_LOG_LEVEL": "INFO",
            "BIOBLOCKS_BROKER_URL": None, "BIOBLOCKS_DATABASE_URL": None, "COLUMNS": None,
            "BIOBLOCKS_DEBUG": None, **extra}


@pytest.fixture
def dataset_id(tmp_path: Path) -> str:
    store = open_store(Settings(data_dir=tmp_path / "files"))
    try:
        doc = store.insert("dataset", {"name": LONG_NAME, "species": "mus_musculus",
                                       "matrixInfo": {"cells": 1817, "genes": 25289,
                                                      "sourceFormat": "tsv"}})
        store.create_token("a-curator-with-a-rather-long-token-name-for-scripts")
    finally:
        store.close()
    return str(doc["_id"])


def test_dataset_list_piped_is_tsv_with_whole_values(tmp_path: Path, dataset_id: str) -> None:
    result = RUNNER.invoke(cli.app, ["dataset", "list"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "id\tname\tspecies\tcells\tgenes\tformat\tanalyses"
    assert [line for line in lines if dataset_id in line] == [
        f"{dataset_id}\t{LONG_NAME}\tmus_musculus\t1817\t25289\ttsv\t0"
    ]
    assert "1 dataset(s)" in result.output and "1 dataset(s)" not in result.stdout


def test_dataset_list_json_parses(tmp_path: Path, dataset_id: str) -> None:
    result = RUNNER.invoke(cli.app, ["dataset", "list", "--format", "json"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{
        "id": dataset_id, "name": LONG_NAME, "species": "mus_musculus", "cells": 1817,
        "genes": 25289, "format": "tsv", "analyses": 0,
    }]


def test_dataset_list_table_on_a_wide_console(tmp_path: Path, dataset_id: str) -> None:
    result = RUNNER.invoke(cli.app, ["dataset", "list", "--format", "table"],
                           env=_env(tmp_path, COLUMNS="250"))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if dataset_id in line)
    assert LONG_NAME in row and "│" in row and "1 dataset(s)" in result.stdout


def test_an_unknown_format_is_a_usage_error(tmp_path: Path, dataset_id: str) -> None:  # noqa: ARG001
    result = RUNNER.invoke(cli.app, ["dataset", "list", "--format", "csv"], env=_env(tmp_path))
    assert result.exit_code == 2
    words = " ".join(result.output.replace("│", " ").split())
    assert "'csv' is not one of 'table', 'tsv', 'json'" in words
    assert "Traceback" not in result.output and result.stdout == ""


def test_token_list_formats(tmp_path: Path, dataset_id: str) -> None:  # noqa: ARG001
    env = _env(tmp_path)
    tsv = RUNNER.invoke(cli.app, ["token", "list"], env=env)
    assert tsv.exit_code == 0, tsv.output
    header, row = tsv.stdout.splitlines()
    assert header == "name\tstate\tcreated\trevoked"
    assert row.startswith("a-curator-with-a-rather-long-token-name-for-scripts\tactive\t")
    revoked = RUNNER.invoke(cli.app, ["token", "revoke",
                                      "a-curator-with-a-rather-long-token-name-for-scripts"], env=env)
    assert revoked.exit_code == 0, revoked.output
    [token] = json.loads(RUNNER.invoke(cli.app, ["token", "list", "--format", "json"],
                                       env=env).stdout)
    assert token["state"] == "revoked" and token["revoked"] >= token["created"]


def test_job_list_formats(tmp_path: Path, dataset_id: str) -> None:
    env = _env(tmp_path)
    queued = RUNNER.invoke(cli.app, ["job", "submit", "SPRING", "--dataset", dataset_id], env=env)
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    [job] = json.loads(RUNNER.invoke(cli.app, ["job", "list", "--format", "json"], env=env).stdout)
    assert job["id"] == job_id and job["dataset"] == dataset_id and job["state"] == "queued"
    assert job["progress"] == 0.0
    tsv = RUNNER.invoke(cli.app, ["job", "list"], env=env).stdout.splitlines()
    assert tsv[1].split("\t")[:5] == [job_id, "SPRING", dataset_id, "queued", "0%"]
