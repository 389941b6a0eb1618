"""Operations: imports and analyses make files and documents visible together, or not at all."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bioblocks.config import Settings
from bioblocks.errors import AnalysisInputError, IngestError, InputError
from bioblocks.ingest import read_canonical
from bioblocks.pipeline.operations import (
    PIPELINE,
    append_analysis,
    delete_dataset_files,
    import_dataset,
    remove_orphan_analyses,
    run_analysis,
    validate_params,
)
from tests.pipeline._pipeline_data import FAST_SPRING, N_CELLS


def _import(store: Any, settings: Settings, example_dir: Path, **options: Any) -> dict[str, Any]:
    return import_dataset(store, settings, [example_dir / "lib1", example_dir / "lib2"],
                          name="example", species="mus_musculus", **options)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_import_creates_the_document_and_the_canonical_matrix(
    store: Any, settings: Settings, example_dir: Path
) -> None:
    doc = _import(store, settings, example_dir)
    assert doc["name"] == "example" and doc["species"] == "mus_musculus"
    assert doc["matrixLocation"] == f"datasets/{doc['_id']}/matrix/matrix.h5ad"
    assert doc["matrixInfo"] == {"rowCount": 2000, "colCount": N_CELLS, "cells": N_CELLS,
                                 "genes": 2000, "nonzeros": doc["matrixInfo"]["nonzeros"],
                                 "sourceFormat": "10x_dir"}
    assert "library" in doc["cellMetadata"]
    counts, genes, _barcodes, obs = read_canonical(settings.resolved_data_dir / doc["matrixLocation"])
    assert counts.shape == (N_CELLS, 2000) and counts.nnz == doc["matrixInfo"]["nonzeros"]
    assert sorted(set(obs["library"])) == ["lib1", "lib2"]
    assert store.get("dataset", doc["_id"])["_etag"] == doc["_etag"]


def test_a_failed_import_leaves_documents_and_files_as_they_were(
    store: Any, settings: Settings, example_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.mtx"
    bad.write_text("%%MatrixMarket matrix coordinate integer general\n3 3 5\n1 1 1\n")
    with pytest.raises(IngestError) as new_failure:
        import_dataset(store, settings, [bad], name="broken")
    assert new_failure.value.field == "broken.mtx"
    assert store.count("dataset") == 0
    assert not (settings.resolved_data_dir / "datasets").exists() or not any(
        (settings.resolved_data_dir / "datasets").iterdir())

    doc = _import(store, settings, example_dir)
    before = _tree(settings.resolved_data_dir / "datasets")
    with pytest.raises(IngestError):
        import_dataset(store, settings, [bad], dataset_id=doc["_id"])
    assert store.get("dataset", doc["_id"]) == doc
    assert _tree(settings.resolved_data_dir / "datasets") == before
    assert [p.name for p in (settings.resolved_data_dir / "tmp").iterdir()] == []


def test_import_checks_name_species_and_id(store: Any, settings: Settings,
                                           example_dir: Path) -> None:
    sources = [example_dir / "lib1"]
    with pytest.raises(InputError, match="needs a name"):
        import_dataset(store, settings, sources)
    with pytest.raises(InputError, match="unknown species 'martian'"):
        import_dataset(store, settings, sources, name="x", species="martian")
    with pytest.raises(InputError, match="is not an id"):
        import_dataset(store, settings, sources, name="x", dataset_id="../../etc")


def test_spring_analysis_is_registered_with_its_folder_and_seed(
    store: Any, settings: Settings, example_dir: Path
) -> None:
    dataset = _import(store, settings, example_dir)
    stages: list[str] = []
    doc = run_analysis(store, settings, dataset["_id"], process="SPRING", subsample=1000,
                       params={**FAST_SPRING, "seed": 11},
                       progress=lambda f, m: stages.append(m))
    assert doc["processType"] == "SPRING" and doc["name"] == "example - 1K"
    assert doc["subsample"] == 1000 and doc["seed"] == 11 and doc["dataset"] == dataset["_id"]
    assert doc["parameters"]["seed"] == 11 and doc["parameters"]["n_force_iter"] == 20
    assert doc["parameters"]["subsample"] == 1000
    folder = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses" / doc["_id"]
    assert doc["preview"] == f"datasets/{dataset['_id']}/analyses/{doc['_id']}/preview.png"
    assert (folder / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # spec §10: the subplot is named after the dataset, and the name is recorded
    assert doc["parameters"]["subplot"] == "example"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["example"]
    coordinates = np.loadtxt(folder / "example" / "coordinates.txt", delimiter=",")
    assert coordinates.shape == (1000, 3)
    run_info = json.loads((folder / "example" / "run_info.json").read_text())
    assert run_info["Num_Force_Iter"] == 20 and run_info["Subplot"] == "example"
    assert (folder / "example" / "mutability.txt").read_bytes() == b""
    assert store.get("dataset", dataset["_id"])["analyses"] == [doc["_id"]]
    assert stages[0] == "loading the matrix" and stages[-1] == "SPRING analysis registered"


def test_bad_analysis_input_leaves_nothing(store: Any, settings: Settings,
                                           example_dir: Path) -> None:
    dataset = _import(store, settings, example_dir)
    cases = [
        ({"process": "BLAST"}, "process"),
        ({"process": "SPRING", "params": {"n_neighbors": 0}}, "n_neighbors"),
        ({"process": "SPRING", "params": {"colour": "red"}}, "colour"),
        ({"process": "SPRING", "params": {"seed": "abc"}}, "seed"),
        ({"process": "TSNE"}, "springAnalysis"),
    ]
    for options, field in cases:
        with pytest.raises(AnalysisInputError) as error:
            run_analysis(store, settings, dataset["_id"], **options)
        assert error.value.field == field, options
    assert store.count("analysis") == 0
    assert not (settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses").exists()
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []


def test_concurrent_appends_keep_every_analysis(store: Any, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    ids = sorted(store.insert("analysis", {"name": f"a{i}", "processType": "SPRING"})["_id"]
                 for i in range(12))
    threads = [threading.Thread(target=append_analysis, args=(store, dataset["_id"], i))
               for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.get("dataset", dataset["_id"])["analyses"]) == ids


def test_deleting_a_dataset_removes_its_files_and_analyses(store: Any, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    other = store.insert("analysis", {"name": "keep", "processType": "UMAP"})
    mine = store.insert("analysis", {"name": "a", "processType": "SPRING",
                                     "dataset": dataset["_id"]})
    folder = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses" / mine["_id"]
    folder.mkdir(parents=True)
    (folder / "coordinates.txt").write_text("0,1.0,2.0\n")
    store.delete("dataset", dataset["_id"])

    removed = delete_dataset_files(store, settings, dataset["_id"], analysis_ids=[mine["_id"]])

    assert removed == [mine["_id"]]
    assert store.get("analysis", mine["_id"]) is None
    assert store.get("analysis", other["_id"]) is not None
    assert not (settings.resolved_data_dir / "datasets" / dataset["_id"]).exists()


def test_orphan_analysis_folders_are_removed_once_old(store: Any, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    registered = store.insert("analysis", {"name": "a", "processType": "SPRING"})
    root = settings.resolved_data_dir / "datasets" / dataset["_id"] / "analyses"
    orphan = root / "11111111-2222-4333-8444-555555555555"
    for folder in (orphan, root / registered["_id"]):
        folder.mkdir(parents=True)
    assert remove_orphan_analyses(store, settings, dataset["_id"]) == []  # too recent
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    assert remove_orphan_analyses(store, settings, dataset["_id"]) == [orphan.name]
    assert [p.name for p in root.iterdir()] == [registered["_id"]]


def _subplot_files(settings: Settings, doc: dict[str, Any]) -> dict[str, bytes]:
    folder = settings.resolved_data_dir / "datasets" / doc["dataset"] / "analyses" / doc["_id"]
    return {p.name: p.read_bytes() for p in folder.rglob("*")
            if p.name in ("coordinates.txt", "tsne_output.csv", "umap_output.csv", "run_info.json")}


@pytest.mark.slow
def test_two_runs_without_a_seed_are_identical_and_record_seed_0(
    store: Any, settings: Settings, example_dir: Path
) -> None:
    dataset = _import(store, settings, example_dir)

    def twice(process: str, **options: Any) -> list[dict[str, Any]]:
        return [run_analysis(store, settings, dataset["_id"], process=process, **options)
                for _ in range(2)]

    runs = {
        "subsampled SPRING": twice("SPRING", subsample=500, params=FAST_SPRING),
        "SPRING": twice("SPRING", params=FAST_SPRING),
    }
    whole = runs["SPRING"][0]["_id"]
    runs["TSNE"] = twice("TSNE", params={"n_iter": 60, "springAnalysis": whole})
    runs["UMAP"] = twice("UMAP", params={"springAnalysis": whole})
    outputs = {"TSNE": "tsne_output.csv", "UMAP": "umap_output.csv"}
    for label, (first, second) in runs.items():
        assert first["seed"] == second["seed"] == 0, label
        assert first["parameters"]["seed"] == 0, label
        files, again = _subplot_files(settings, first), _subplot_files(settings, second)
        output = outputs.get(label, "coordinates.txt")
        assert files[output] == again[output], label
        run_info = json.loads(files["run_info.json"])
        assert run_info.get("Seed", run_info.get("seed")) == 0, (label, run_info)


def test_seed_random_draws_a_seed_and_records_it(
    store: Any, settings: Settings, example_dir: Path
) -> None:
    dataset = _import(store, settings, example_dir)
    doc = run_analysis(store, settings, dataset["_id"], process="spring", subsample=300,
                       params={**FAST_SPRING, "seed": "random"})
    assert doc["processType"] == "SPRING"
    assert isinstance(doc["seed"], int) and doc["parameters"]["seed"] == doc["seed"]
    run_info = json.loads(_subplot_files(settings, doc)["run_info.json"])
    assert run_info["Seed"] == doc["seed"]


@pytest.mark.parametrize(("process", "params", "field"), [
    ("SPRING", {"n_force_itr": 20}, "n_force_itr"),
    ("spring", {"n_neighbors": "five"}, "n_neighbors"),
    ("SPRING", {"gene_var_pctl": 150}, "gene_var_pctl"),
    ("SPRING", {"seed": -1}, "seed"),
    ("SPRING", {"seed": 1.5}, "seed"),
    ("tsne", {"perplexity": -3}, "perplexity"),
    ("TSNE", {"n_iters": 100}, "n_iters"),
    ("umap", {"min_dist": 2}, "min_dist"),
    ("UMAP", {"init": "circle"}, "init"),
    ("BLAST", {}, "process"),
    # bounds set by the dataset's N_CELLS cells, known from its document
    ("UMAP", {"n_neighbors": N_CELLS}, "n_neighbors"),
    ("TSNE", {"perplexity": N_CELLS / 3}, "perplexity"),
    ("SPRING", {"subsample": 3, "n_neighbors": 3}, "n_neighbors"),
])
def test_parameters_are_refused_before_the_matrix_is_read(
    store: Any, settings: Settings, example_dir: Path, monkeypatch: pytest.MonkeyPatch,
    process: str, params: dict[str, Any], field: str,
) -> None:
    from bioblocks.pipeline import operations

    dataset = _import(store, settings, example_dir)

    def no_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the matrix was read before the parameters were checked")

    monkeypatch.setattr(operations, "_load_matrix", no_read)
    monkeypatch.setattr(operations, "spring_pca", no_read)
    with pytest.raises(AnalysisInputError) as error:
        run_analysis(store, settings, dataset["_id"], process=process, params=params)
    assert error.value.field == field
    assert store.count("analysis") == 0


def test_validate_params_parses_and_records_the_seed() -> None:
    given = {"n_force_iter": "20", "cell_cycle_genes": "Mki67, Top2a"}
    assert validate_params("spring", given) == (
        "SPRING", {"n_force_iter": 20, "cell_cycle_genes": ["Mki67", "Top2a"], "seed": 0})
    assert validate_params("UMAP", {"seed": 9, "min_dist": "0.1"}) == (
        "UMAP", {"seed": 9, "min_dist": 0.1})
    process, params = validate_params("t-SNE", {"seed": "random", "springAnalysis": "abc"})
    assert process == "TSNE" and params["springAnalysis"] == "abc"
    assert isinstance(params["seed"], int) and 0 <= params["seed"] < 2**32
    for process in ("SPRING", "TSNE", "UMAP"):  # one seed rule
        for bad in (True, 1.5, -1, "soon"):
            with pytest.raises(AnalysisInputError) as error:
                validate_params(process, {"seed": bad}, field="parameters")
            assert error.value.field == "parameters.seed"
            assert error.value.message == (
                f"must be an integer in 0..2^32-1, got {bad!r}; or 'random' to draw one")
    with pytest.raises(AnalysisInputError) as error:
        validate_params("TSNE", {"subsample": 10})  # SPRING's alone
    assert error.value.field == "subsample" and "unknown TSNE parameter" in error.value.message


def test_validate_params_refuses_what_the_datasets_cells_cannot_take() -> None:
    dataset = {"_id": "d", "matrixInfo": {"cells": 20}}
    for process, params, field in [
        ("SPRING", {"n_neighbors": 20}, "n_neighbors"),
        ("SPRING", {"subsample": 5}, "n_neighbors"),  # 5 cells, 5 neighbours each
        ("TSNE", {}, "perplexity"),  # 3 x 30 > 19
        ("TSNE", {"perplexity": 7}, "perplexity"),
        ("UMAP", {"n_neighbors": 20}, "n_neighbors"),
    ]:
        with pytest.raises(AnalysisInputError) as error:
            validate_params(process, params, dataset=dataset)
        assert error.value.field == field, (process, params)
    assert validate_params("SPRING", {"n_neighbors": 19}, dataset=dataset)[1]["n_neighbors"] == 19
    assert validate_params("TSNE", {"perplexity": 6}, dataset=dataset)[1]["perplexity"] == 6
    assert validate_params("UMAP", {"n_neighbors": 19}, dataset=dataset)[1]["n_neighbors"] == 19
    # a dataset whose matrix is not fetched yet bounds nothing
    assert validate_params("SPRING", {"n_neighbors": 500}, dataset={"_id": "d"})[0] == "SPRING"


def test_validate_params_of_a_pipeline_checks_each_process() -> None:
    assert validate_params(PIPELINE, None) == (PIPELINE, {})
    assert validate_params(PIPELINE, {"spring": {"seed": "random", "n_force_iter": "20"},
                                      "t-SNE": {}}) == (
        PIPELINE, {"SPRING": {"seed": "random", "n_force_iter": 20}, "TSNE": {}})
    for params, field in [
        ({"umap": {"min_dist": 5}}, "params.UMAP.min_dist"),
        ({"SPRING": {"seed": True}}, "params.SPRING.seed"),
        ({"blast": {}}, "params.blast"),
        ({"SPRING": ["n_force_iter"]}, "params.SPRING"),
        ("spring", "params"),
    ]:
        with pytest.raises(AnalysisInputError) as error:
            validate_params(PIPELINE, params)
        assert error.value.field == field, params
