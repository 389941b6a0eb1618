"""``bioblocks populate``, ``export`` and ``import-mongo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bioblocks import cli
from tests.metadata._example import HPC, write_mongo_export


def test_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOBLOCKS_DATA_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("BIOBLOCKS_LOG_LEVEL", "WARNING")
    runner = CliRunner()

    first = runner.invoke(cli.app, ["populate"])
    assert first.exit_code == 0, first.output
    assert "visualization" in first.output
    assert "7 icon(s) uploaded" in " ".join(first.output.split())

    out = tmp_path / "export" / "meta.json"
    exported = runner.invoke(cli.app, ["export", str(out)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text())["datasets"][0]["_id"] == HPC

    again = runner.invoke(cli.app, ["populate", str(out)])
    assert again.exit_code == 0 and "0 icon(s) uploaded" in " ".join(again.output.split())

    bad = tmp_path / "bad.json"
    bad.write_text('{"analyses": [{"_id": "not-a-uuid"}]}')
    failed = runner.invoke(cli.app, ["populate", str(bad)])
    assert failed.exit_code == 2
    assert "analyses[0] (_id not-a-uuid): field '_id'" in " ".join(failed.output.split())

    write_mongo_export(tmp_path / "dump")
    imported = runner.invoke(cli.app, ["import-mongo", str(tmp_path / "dump")])
    assert imported.exit_code == 0, imported.output
    assert "warning(s)" in imported.output

