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


# ---- logging and progress -------------------------------------------------------------------


def _messages(output: str) -> list[str]:
    """The text of each stderr line without the log prefix (time, level, logger)."""
    lines = []
    for line in output.splitlines():
        head, sep, message = line.partition(": ")
        lines.append(message if sep and " INFO " in head else line.strip())
    return lines


def test_a_fresh_store_is_migrated_in_one_line_without_alembic_lines(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = RUNNER.invoke(cli.app, ["dataset", "list"], env=env)
    assert first.exit_code == 0, first.output
    assert "alembic" not in first.output and "Context impl" not in first.output
    assert [m for m in _messages(first.output) if "database" in m] == [
        "database upgraded to 0002 (from an empty database)"
    ]
    again = RUNNER.invoke(cli.app, ["token", "list"], env=env)
    assert again.exit_code == 0, again.output
    assert "database" not in again.output and "alembic" not in again.output


def test_an_import_prints_each_stage_once(tmp_path: Path) -> None:
    rows = ["barcode," + ",".join(f"G{g}" for g in range(5))]
    rows += [f"c{i}," + ",".join(str((i * g) % 4) for g in range(5)) for i in range(40)]
    (tmp_path / "lib.csv").write_text("\n".join(rows) + "\n")
    result = RUNNER.invoke(cli.app, ["dataset", "import", str(tmp_path / "lib.csv"), "--name",
                                     "tiny"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    stderr = result.output.removesuffix(result.stdout)
    messages = _messages(stderr)
    stages = [line.strip() for line in stderr.splitlines() if line.startswith("  ")]
    assert "parsed 40 cells" in stages and "writing matrix.h5ad" in stages
    assert len(stages) == len(set(stages)), stages
    assert len([s for s in stages if s.startswith("parsed")]) == 1, stages
    # a stage a log line already says ("reading lib.csv" / "reading lib.csv as csv") is not repeated
    assert "reading lib.csv as csv" in messages and "reading lib.csv" not in stages
    assert "imported" not in stages
    for stage in stages:
        assert not [m for m in messages if m != stage and m.startswith(stage)], stage


# ---- errors -------------------------------------------------------------------------------------


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = _env(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "a-file").write_text("")
    cases = [
        (["populate", str(tmp_path / "bad.json")], 2, "bad.json: not valid JSON"),
        (["job", "show", "no-such-job"], 2, "job 'no-such-job' does not exist"),
        (["job", "submit", "pipeline", "--param", "steps=[spring"], 2, "is not valid JSON"),
        (["dataset", "import", str(tmp_path / "missing.mtx"), "--name", "x"], 2,
         "missing.mtx"),
        (["export", str(tmp_path / "a-file" / "sub" / "out.json")], 1, "a-file"),
    ]
    for args, code, text in cases:
        result = RUNNER.invoke(cli.app, args, env=env)
        assert result.exit_code == code, (args, result.output)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and text in errors[0], (args, result.output)
        assert "Traceback" not in result.output and result.stdout == "", args


def test_invalid_settings_are_one_line(tmp_path: Path) -> None:
    result = RUNNER.invoke(cli.app, ["dataset", "list"],
                           env=_env(tmp_path, BIOBLOCKS_JOB_WORKERS="many"))
    assert result.exit_code == 2
    assert result.output.startswith("error: invalid settings: BIOBLOCKS_JOB_WORKERS='many': ")
    assert len(result.output.splitlines()) == 1


def test_an_unexpected_error_has_its_traceback_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("matrixInfo")

    monkeypatch.setattr("bioblocks.store.find_docs", broken)
    plain = RUNNER.invoke(cli.app, ["dataset", "list"], env=_env(tmp_path))
    assert plain.exit_code == 1
    [line] = [line for line in plain.output.splitlines() if line.startswith("error:")]
    assert "unexpected KeyError: 'matrixInfo'" in line and "--debug" in line
    assert "Traceback" not in plain.output
    for args, extra in ((["--debug", "dataset", "list"], {}),
                        (["dataset", "list"], {"BIOBLOCKS_DEBUG": "1"})):
        debug = RUNNER.invoke(cli.app, args, env=_env(tmp_path, **extra))
        assert debug.exit_code == 1
        assert isinstance(debug.exception, KeyError)  # raised through: typer prints the traceback
