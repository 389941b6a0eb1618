"""``bioblocks hca projects`` and ``bioblocks hca import`` against the fake Azul server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.cli import hca as hca_cli
from bioblocks.config import Settings, get_settings

from .fake_azul import KIDNEY_H5AD, KIDNEY_PROJECT, RETINA_MTX_ZIP, FakeAzul, make_h5ad_bytes

RUNNER = CliRunner()
ENV = {"COLUMNS": "250"}


@pytest.fixture
def cli_settings(fake_azul: FakeAzul, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    current = get_settings(hca_url=fake_azul.base_url, hca_requests_per_second=0, data_dir=tmp_path)
    monkeypatch.setattr(hca_cli, "settings", lambda: current)
    return current


def test_projects_table(cli_settings: Settings, fake_azul: FakeAzul) -> None:
    result = RUNNER.invoke(cli.app, ["hca", "projects", "--format", "table"], env=ENV)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "FictionalKidneyCortex",
        "A single-cell atlas of the fictional human kidney cortex",
        "Homo sapiens",
        "kidney",
        "60000",
        "fictional-kidney-cortex-human-10XV3.loom (loom, 184.5 MB, ? cells, DCP-generated)",
        "kidney_cortex_annotated.h5ad (h5ad, 96.6 MB, 48213 cells, contributed)",
        "MadeUpRetina",
        "a1b2c3d4-e5f6-4708-9a1b-2c3d4e5f6071.homo_sapiens.mtx.zip (mtx, 98.8 MB",
        "catalog dcp60",
    ):
        assert text in out, text
    assert "2 project(s)" in result.output


def test_projects_filters_and_catalog(cli_settings: Settings, fake_azul: FakeAzul) -> None:
    result = RUNNER.invoke(
        cli.app, ["hca", "projects", "--format", "mtx", "--species", "homo_sapiens", "--organ", "eye"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert "MadeUpRetina" in result.stdout and "FictionalKidneyCortex" not in result.stdout
    assert ".loom" not in result.stdout  # only the matching matrix is listed
    bad = RUNNER.invoke(cli.app, ["hca", "projects", "--catalog", "dcp1"], env=ENV)
    assert bad.exit_code == 2
    assert "dcp1" in bad.output and "dcp60" in bad.output


def test_projects_piped_are_tsv_and_json_with_whole_names(
    cli_settings: Settings, fake_azul: FakeAzul
) -> None:
    tsv = RUNNER.invoke(cli.app, ["hca", "projects"], env={"COLUMNS": None})
    assert tsv.exit_code == 0, tsv.output
    header, *rows = tsv.stdout.splitlines()
    assert header == "shortName\ttitle\tspecies\torgans\testimatedCells\tmatrixFiles"
    kidney = next(row.split("\t") for row in rows if row.startswith("FictionalKidneyCortex\t"))
    assert kidney[1] == "A single-cell atlas of the fictional human kidney cortex"
    assert kidney[4] == "60000"
    assert kidney[5].split("; ") == [
        "fictional-kidney-cortex-human-10XV3.loom (loom, 184.5 MB, ? cells, DCP-generated)",
        "kidney_cortex_annotated.h5ad (h5ad, 96.6 MB, 48213 cells, contributed)",
    ]
    assert "2 project(s)" in tsv.output and "2 project(s)" not in tsv.stdout
    result = RUNNER.invoke(cli.app, ["hca", "projects", "--matrix-format", "h5ad", "--format",
                                     "json"], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    [project] = json.loads(result.stdout)
    assert project["shortName"] == "FictionalKidneyCortex" and project["species"] == ["Homo sapiens"]
    assert project["matrixFiles"] == [{"name": "kidney_cortex_annotated.h5ad", "format": "h5ad",
                                       "size": project["matrixFiles"][0]["size"], "cells": 48213,
                                       "origin": "contributed"}]
    bad = RUNNER.invoke(cli.app, ["hca", "projects", "--format", "xml"], env=ENV)
    assert bad.exit_code == 2 and "use table, tsv or json" in bad.output


def test_import_download_only(cli_settings: Settings, fake_azul: FakeAzul) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, make_h5ad_bytes(n_cells=10, n_genes=5))
    result = RUNNER.invoke(
        cli.app,
        ["hca", "import", "FictionalKidneyCortex", "--file", "kidney_cortex_annotated.h5ad", "--download-only"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    path = Path(report["path"])
    assert path.parent == cli_settings.resolved_data_dir / "tmp" / "hca"
    assert path.read_bytes() == fake_azul.contents[KIDNEY_H5AD]
    assert report["dataset"]["hca"]["fileId"] == KIDNEY_H5AD
    assert report["dataset"]["species"] == "homo_sapiens"


def test_import_errors_are_one_line(cli_settings: Settings, fake_azul: FakeAzul) -> None:
    result = RUNNER.invoke(cli.app, ["hca", "import", KIDNEY_PROJECT, "--download-only"], env=ENV)
    assert result.exit_code == 2  # the preferred loom is listed but has no download
    assert "not found" in result.output
    missing = RUNNER.invoke(cli.app, ["hca", "import", "NoSuchProject", "--download-only"], env=ENV)
    assert missing.exit_code == 2 and "NoSuchProject" in missing.output


def test_import_needs_the_dataset_importer(
    cli_settings: Settings, fake_azul: FakeAzul, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hca_cli, "_hca_importer", lambda: None)
    result = RUNNER.invoke(cli.app, ["hca", "import", "MadeUpRetina"], env=ENV)
    assert result.exit_code == 2
    assert "import_hca_project" in result.output and "--download-only" in result.output
    assert fake_azul.requests == []  # nothing downloaded before failing


def test_import_hands_over_to_the_pipeline_operation(
    cli_settings: Settings, fake_azul: FakeAzul, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def import_hca_project(
        settings: Settings, project: str, *, file_name: str | None, progress: Any
    ) -> dict[str, Any]:
        progress(0.5, "half")
        calls.append((settings.hca_catalog, project, file_name))
        return {"dataset": {"_id": "d1"}, "skipped": len(calls) > 1, "warnings": ["check species"]}

    monkeypatch.setattr(hca_cli, "_hca_importer", lambda: import_hca_project)
    result = RUNNER.invoke(
        cli.app, ["hca", "import", "MadeUpRetina", "--file", RETINA_MTX_ZIP, "--catalog", "dcp60"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert calls == [("dcp60", "MadeUpRetina", RETINA_MTX_ZIP)]
    assert result.stdout.strip() == "d1"
    assert "imported as dataset d1" in result.output and "check species" in result.output
    again = RUNNER.invoke(cli.app, ["hca", "import", "MadeUpRetina"], env=ENV)
    assert again.exit_code == 0 and "already imported" in again.output
