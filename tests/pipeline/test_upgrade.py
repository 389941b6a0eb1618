"""Upgrades of the files tree: SPRING subplot folders renamed after their dataset (spec §10),
the name recorded, ``mutability.txt`` added; idempotent and safe if interrupted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.config import Settings
from bioblocks.pipeline import upgrade
from bioblocks.pipeline.operations import import_dataset, run_analysis
from bioblocks.store import open_store
from tests.pipeline._pipeline_data import FAST_SPRING


def _old_analysis(store: Any, settings: Settings, dataset_name: str, analysis_name: str,
                  *, folders: tuple[str, ...] | None = None) -> tuple[dict[str, Any], Path]:
    """A dataset and a SPRING analysis laid out as before spec §10 was followed: the
    subplot folder named after the analysis, no recorded name, no ``mutability.txt``."""
    dataset = store.insert("dataset", {"name": dataset_name, "analyses": []})
    analysis = store.insert("analysis", {"name": analysis_name, "processType": "SPRING",
                                         "dataset": dataset["_id"],
                                         "parameters": {"seed": 0, "subsample": 3}})
    store.patch("dataset", dataset["_id"], {"analyses": [analysis["_id"]]},
                etag=dataset["_etag"])
    folder = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses" / analysis["_id"]
    for name in folders or (analysis_name,):
        sub = folder / name
        sub.mkdir(parents=True)
        (sub / "coordinates.txt").write_text("0,1.00000,2.00000\n")
        (sub / "run_info.json").write_text(json.dumps({"Nodes": 1, "Was": name}, indent=4))
    return analysis, folder


def _subdirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def test_old_subplot_is_renamed_recorded_and_made_read_only(store: Any, settings: Settings) -> None:
    analysis, folder = _old_analysis(store, settings, "Hematopoietic Progenitor Cells",
                                     "Hematopoietic Progenitor Cells - 3K")
    changes = upgrade.align_subplot_folders(store, settings)
    assert [(c.analysis, c.old, c.new) for c in changes] == [
        (analysis["_id"], "Hematopoietic Progenitor Cells - 3K", "Hematopoietic Progenitor Cells")]
    assert _subdirs(folder) == ["Hematopoietic Progenitor Cells"]
    sub = folder / "Hematopoietic Progenitor Cells"
    assert (sub / "coordinates.txt").read_text() == "0,1.00000,2.00000\n"  # the same files
    assert (sub / "mutability.txt").read_bytes() == b""
    run_info = json.loads((sub / "run_info.json").read_text())
    assert run_info == {"Nodes": 1, "Was": "Hematopoietic Progenitor Cells - 3K",
                        "Subplot": "Hematopoietic Progenitor Cells"}
    doc = store.get("analysis", analysis["_id"])
    assert doc["parameters"] == {"seed": 0, "subsample": 3,
                                 "subplot": "Hematopoietic Progenitor Cells"}
    # idempotent: a second run changes nothing
    etag = doc["_etag"]
    assert upgrade.align_subplot_folders(store, settings) == []
    assert store.get("analysis", analysis["_id"])["_etag"] == etag


def test_unsafe_dataset_names_and_renamed_datasets(store: Any, settings: Settings) -> None:
    analysis, folder = _old_analysis(store, settings, "hpc/P9A", "hpc_P9A - 1K")
    upgrade.align_subplot_folders(store, settings)
    assert _subdirs(folder) == ["hpc_P9A"]
    assert store.get("analysis", analysis["_id"])["parameters"]["subplot"] == "hpc_P9A"
    # the dataset is renamed: the next upgrade follows it (the portal uses the current name)
    dataset = store.get("dataset", analysis["dataset"])
    store.patch("dataset", dataset["_id"], {"name": "HPC"}, etag=dataset["_etag"])
    (change,) = upgrade.align_subplot_folders(store, settings)
    assert (change.old, change.new) == ("hpc_P9A", "HPC")
    assert _subdirs(folder) == ["HPC"]
    assert store.get("analysis", analysis["_id"])["parameters"]["subplot"] == "HPC"


def test_interrupted_after_the_rename_is_finished_by_the_next_run(
    store: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis, folder = _old_analysis(store, settings, "HPC", "HPC - 1K")

    def lost_write(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt  # the process is stopped right after the rename

    monkeypatch.setattr(upgrade, "update_with_retry", lost_write)
    with pytest.raises(KeyboardInterrupt):
        upgrade.align_subplot_folders(store, settings)
    assert _subdirs(folder) == ["HPC"]
    assert "subplot" not in store.get("analysis", analysis["_id"])["parameters"]
    monkeypatch.undo()
    (change,) = upgrade.align_subplot_folders(store, settings)
    assert (change.old, change.new) == ("HPC", "HPC")
    assert store.get("analysis", analysis["_id"])["parameters"]["subplot"] == "HPC"
    assert upgrade.align_subplot_folders(store, settings) == []


def test_never_renames_onto_something_or_guesses(store: Any, settings: Settings) -> None:
    # the target name is taken by a folder that is not a subplot: left alone
    taken, taken_folder = _old_analysis(store, settings, "A", "A - 1K")
    (taken_folder / "A").mkdir()
    (taken_folder / "A" / "notes.txt").write_text("mine")
    # two subplots, one named after the analysis: that one is the analysis's
    legacy, legacy_folder = _old_analysis(store, settings, "B", "B - 1K",
                                          folders=("B - 1K", "other"))
    # two subplots, neither after the analysis: unclear, left alone
    unclear, unclear_folder = _old_analysis(store, settings, "C", "C - 1K", folders=("x", "y"))
    # a SPRING document without a folder: nothing to do
    empty = store.insert("dataset", {"name": "D", "analyses": []})
    store.insert("analysis", {"name": "D", "processType": "SPRING", "dataset": empty["_id"]})
    changes = upgrade.align_subplot_folders(store, settings)
    assert [c.analysis for c in changes] == [legacy["_id"]]
    assert _subdirs(taken_folder) == ["A", "A - 1K"]
    assert (taken_folder / "A" / "notes.txt").read_text() == "mine"
    assert _subdirs(legacy_folder) == ["B", "other"]
    assert _subdirs(unclear_folder) == ["x", "y"]
    for doc in (taken, unclear):
        assert "subplot" not in store.get("analysis", doc["_id"])["parameters"]


def test_db_upgrade_migrates_a_pipeline_analysis_so_embeddings_find_it(
    tmp_path: Path, example_dir: Path
) -> None:
    """An analysis made by the old writer (folder after the analysis): `bioblocks db
    upgrade` moves it; then t-SNE reads its PCA through the recorded name."""
    settings = Settings(data_dir=tmp_path / "files", job_workers=1)
    store = open_store(settings)
    try:
        dataset = import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                                 name="example")
        spring = run_analysis(store, settings, dataset["_id"], process="SPRING",
                              params=dict(FAST_SPRING))
        folder = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses" / spring["_id"]
        # make it look as the old writer left it
        os.replace(folder / "example", folder / spring["name"])
        (folder / spring["name"] / "mutability.txt").unlink()
        store.patch("analysis", spring["_id"], {"parameters": {
            k: v for k, v in spring["parameters"].items() if k != "subplot"}}, etag=spring["_etag"])
    finally:
        store.close()
    env = {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_LOG_LEVEL": "WARNING",
           "BIOBLOCKS_BROKER_URL": None, "BIOBLOCKS_DATABASE_URL": None, "COLUMNS": "250"}
    result = CliRunner().invoke(cli.app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"subplot folder {spring['name']!r} renamed to 'example'" in result.output
    again = CliRunner().invoke(cli.app, ["db", "upgrade"], env=env)
    assert again.exit_code == 0 and "renamed" not in again.output
    assert _subdirs(folder) == ["example"]
    store = open_store(settings)
    try:
        assert store.get("analysis", spring["_id"])["parameters"]["subplot"] == "example"
        tsne = run_analysis(store, settings, dataset["_id"], process="TSNE",
                            params={"n_iter": 250})
        assert tsne["parameters"]["springAnalysis"] == spring["_id"]
    finally:
        store.close()
