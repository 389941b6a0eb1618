"""``bioblocks annotation list|show|export`` and ``bioblocks geneset add|list`` on an
annotation written through the API (the tiny subplot of tests/api/test_annotations.py)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.api.app import create_app
from bioblocks.config import Settings
from tests.api.test_annotations import ANALYSIS, N_CELLS, _body, _write_analysis

RUNNER = CliRunner()


@pytest.fixture
def annotated(tmp_path: Path) -> tuple[dict[str, str | None], str]:
    """Settings in the environment and the _id of an annotation with two versions."""
    data_dir, url = tmp_path / "files", f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = create_app(Settings(data_dir=data_dir, database_url=url))
    _write_analysis(app)
    client = TestClient(app, headers={
        "Authorization": f"Bearer {app.state.store.create_token('curator')}"})
    first = client.post("/annotation", json=_body()).json()
    second = client.patch(f"/annotation/{first['_id']}", json={"cells": {"NK": [9]}},
                          headers={"If-Match": first["_etag"]})  # fmt: skip
    assert second.status_code == 200
    app.state.store.close()
    env = {"BIOBLOCKS_DATA_DIR": str(data_dir), "BIOBLOCKS_DATABASE_URL": url,
           "BIOBLOCKS_LOG_LEVEL": "WARNING", "BIOBLOCKS_DEBUG": None, "COLUMNS": "200"}
    return env, first["_id"]


def test_list_show_and_export(annotated) -> None:
    env, annotation_id = annotated
    listed = RUNNER.invoke(cli.app, ["annotation", "list", "--analysis", ANALYSIS,
                                     "--format", "json"], env=env)  # fmt: skip
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["_id"], r["version"], r["author"]) for r in rows] == [(annotation_id, 2,
                                                                      "curator")]  # fmt: skip
    shown = RUNNER.invoke(cli.app, ["annotation", "show", annotation_id, "--version", "1",
                                    "--format", "json"], env=env)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    decoder = json.JSONDecoder()  # two JSON lists: the categories, then the versions
    counts, end = decoder.raw_decode(shown.stdout)
    versions, _ = decoder.raw_decode(shown.stdout[end:].lstrip())
    assert counts == [{"category": "T cells", "color": "#ff0000", "cells": 3},
                      {"category": "B cells", "color": "#00ff00", "cells": 2},
                      {"category": "NK", "color": "#0000ff", "cells": 0},
                      {"category": "(unlabelled)", "color": "", "cells": 5}]
    assert [v["version"] for v in versions] == [1, 2]
    exported = RUNNER.invoke(cli.app, ["annotation", "export", annotation_id], env=env)
    assert exported.exit_code == 0, exported.output
    lines = list(csv.reader(io.StringIO(exported.stdout)))
    assert lines[0] == ["cell", "label"] and len(lines) == N_CELLS + 1
    assert [label for _, label in lines[1:]] == [""] * 9 + ["NK"]  # version 2: only NK
    old = RUNNER.invoke(cli.app, ["annotation", "export", annotation_id, "--version", "1"],
                        env=env)  # fmt: skip
    labels = [label for _, label in list(csv.reader(io.StringIO(old.stdout)))[1:]]
    assert labels == ["T cells", "T cells", "B cells", "B cells", "", "", "", "T cells", "", ""]
    missing = RUNNER.invoke(cli.app, ["annotation", "show", annotation_id, "--version", "3"],
                            env=env)  # fmt: skip
    assert missing.exit_code == 2 and "versions 1 to 2" in missing.output


def test_geneset_add_and_list(annotated) -> None:
    env, _ = annotated
    added = RUNNER.invoke(cli.app, ["geneset", "add", "cycle", "Mki67", "Top2a", "--species",
                                    "mouse", "--author", "lab"], env=env)  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = RUNNER.invoke(cli.app, ["geneset", "list", "--format", "json"], env=env)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["genes"], r["species"], r["author"]) for r in rows] == [
        ("cycle", ["Mki67", "Top2a"], "mouse", "lab")]
    assert rows[0]["_id"] in added.output
    empty = RUNNER.invoke(cli.app, ["geneset", "add", "x", ""], env=env)
    assert empty.exit_code == 2
