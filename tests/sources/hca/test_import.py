"""Listing with filters and preparing an import (choice, download, dataset fields, skip)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bioblocks.errors import InputError
from bioblocks.sources.hca import (
    AzulClient,
    DownloadVerificationError,
    PreparedImport,
    matching_matrices,
    prepare_import,
    projects,
)

from .fake_azul import (
    KIDNEY_H5AD,
    KIDNEY_LOOM,
    KIDNEY_PROJECT,
    RETINA_LOOM,
    RETINA_MTX_ZIP,
    RETINA_PROJECT,
    FakeAzul,
    make_loom_bytes,
)


def _filters(fake: FakeAzul) -> list[dict]:
    return [json.loads(r.params["filters"][0]) for r in fake.requests_to("/index/projects") if "filters" in r.params]


def test_projects_without_filters(client: AzulClient, fake_azul: FakeAzul) -> None:
    found = list(projects(client))
    assert [p.short_name for p in found] == ["FictionalKidneyCortex", "MadeUpRetina"]
    assert _filters(fake_azul)[0] == {"fileFormat": {"is": ["h5ad", "loom", "zip"]}}


def test_projects_by_format_checks_the_matrices(client: AzulClient, fake_azul: FakeAzul) -> None:
    mtx = list(projects(client, fmt="mtx"))
    assert [p.short_name for p in mtx] == ["MadeUpRetina"]
    assert [m.uuid for m in matching_matrices(mtx[0], fmt="mtx")] == [RETINA_MTX_ZIP]
    assert _filters(fake_azul)[-1] == {"fileFormat": {"is": ["zip"]}}
    # Azul matches MadeUpRetina on fileFormat "zip", but its zip is an .mtx.zip, not a .csv.zip.
    assert list(projects(client, fmt="csv")) == []
    assert [p.short_name for p in projects(client, fmt="h5ad")] == ["FictionalKidneyCortex"]
    with pytest.raises(InputError, match="unknown format"):
        list(projects(client, fmt="rds"))


def test_projects_by_species_and_organ(client: AzulClient, fake_azul: FakeAzul) -> None:
    assert [p.short_name for p in projects(client, species="homo_sapiens", organ="eye")] == ["MadeUpRetina"]
    assert _filters(fake_azul)[-1] == {
        "genusSpecies": {"is": ["Homo sapiens"]},
        "organ": {"is": ["eye"]},
        "fileFormat": {"is": ["h5ad", "loom", "zip"]},
    }
    assert list(projects(client, species="mus_musculus")) == []


def test_project_level_match_is_checked_against_matrix_strata(client: AzulClient, fake_azul: FakeAzul) -> None:
    """A project with a lung specimen matches organ=lung in Azul, but none of its matrices is lung."""
    fake_azul.hit(KIDNEY_PROJECT)["specimens"][0]["organ"].append("lung")
    assert list(projects(client, organ="lung")) == []
    assert [p.short_name for p in projects(client, organ="kidney")] == ["FictionalKidneyCortex"]


def test_prepare_import_downloads_and_describes(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    content = make_loom_bytes(n_cells=20, n_genes=10)
    fake_azul.serve_file(KIDNEY_LOOM, content)
    steps: list[tuple[float, str]] = []
    prepared = prepare_import(
        client, "FictionalKidneyCortex", dest_dir=tmp_path, progress=lambda f, m: steps.append((f, m))
    )
    assert not prepared.skipped
    assert prepared.file.uuid == KIDNEY_LOOM
    assert prepared.path is not None and prepared.path.read_bytes() == content
    assert prepared.warnings == ()
    assert prepared.dataset_fields() == {
        "name": "FictionalKidneyCortex",
        "species": "homo_sapiens",
        "authors": ["Ada Example"],
        "hca": {
            "projectId": KIDNEY_PROJECT,
            "catalog": "dcp60",
            "fileId": KIDNEY_LOOM,
            "version": "2024-01-12T09:41:07.000000Z",
            "sha256": fake_azul.leaf(KIDNEY_LOOM)["sha256"],
            "fileName": "fictional-kidney-cortex-human-10XV3.loom",
        },
    }
    assert steps[0] == (0.0, "looking up the HCA project") and steps[-1][0] == 1.0


def test_prepare_import_named_file_by_uuid(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(RETINA_MTX_ZIP, b"zip" * 10)
    prepared = prepare_import(client, RETINA_PROJECT, file_name=RETINA_MTX_ZIP, dest_dir=tmp_path)
    assert prepared.file.format == "mtx"
    assert prepared.dataset_fields()["hca"]["fileName"].endswith(".mtx.zip")


def test_unknown_file_name_lists_the_files(client: AzulClient, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="kidney_cortex_annotated.h5ad \\(h5ad\\)") as caught:
        prepare_import(client, KIDNEY_PROJECT, file_name="nope.loom", dest_dir=tmp_path)
    assert caught.value.field == "file"


def test_project_without_importable_matrix(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.leaf(RETINA_LOOM)["name"] = "retina.rds"
    fake_azul.leaf(RETINA_LOOM)["format"] = "Rds"
    fake_azul.leaf(RETINA_MTX_ZIP)["name"] = "retina.tar.gz"
    with pytest.raises(InputError, match="no matrix the importer reads"):
        prepare_import(client, RETINA_PROJECT, dest_dir=tmp_path)
    with pytest.raises(InputError, match="not in a format"):
        prepare_import(client, RETINA_PROJECT, file_name="retina.rds", dest_dir=tmp_path)


def test_already_imported_version_is_skipped(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, b"x" * 100)
    first = prepare_import(client, KIDNEY_PROJECT, dest_dir=tmp_path)
    existing = first.dataset_fields()["hca"]
    fetches = len(fake_azul.requests_to("/fetch/"))
    again = prepare_import(client, KIDNEY_PROJECT, dest_dir=tmp_path / "again", existing_hca=existing)
    assert again.skipped and again.path is None
    assert len(fake_azul.requests_to("/fetch/")) == fetches
    assert not (tmp_path / "again").exists()
    # A new version of the same file is downloaded again.
    fake_azul.new_version(KIDNEY_LOOM, "2025-06-01T00:00:00.000000Z")
    newer = prepare_import(client, KIDNEY_PROJECT, dest_dir=tmp_path / "new", existing_hca=existing)
    assert not newer.skipped and newer.path is not None
    assert newer.dataset_fields()["hca"]["version"] == "2025-06-01T00:00:00.000000Z"


def test_sha_mismatch_imports_nothing(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, b"y" * 100, index_sha256="f" * 64)
    with pytest.raises(DownloadVerificationError):
        prepare_import(client, KIDNEY_PROJECT, file_name="kidney_cortex_annotated.h5ad", dest_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unmapped_species_is_reported(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(RETINA_LOOM, b"z" * 10)
    hit = fake_azul.hit(RETINA_PROJECT)
    hit["donorOrganisms"][0]["genusSpecies"] = ["Danio rerio"]
    tree = hit["projects"][0]["matrices"]["genusSpecies"]
    tree["Danio rerio"] = tree.pop("Homo sapiens")
    prepared = prepare_import(client, RETINA_PROJECT, dest_dir=tmp_path)
    assert prepared.species is None
    assert "species" not in prepared.dataset_fields()
    assert prepared.warnings and "Danio rerio" in prepared.warnings[0]


def test_long_values_are_cut_to_the_schema(client: AzulClient) -> None:
    project = client.project(KIDNEY_PROJECT)
    long = PreparedImport(
        project.__class__(**{**project.__dict__, "short_name": "n" * 300}),
        project.matrices[0],
        "dcp60",
        None,
    )
    assert len(long.dataset_fields()["name"]) == 128
