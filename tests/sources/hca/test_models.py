"""Parsing Azul responses tolerantly (spec §6) and the matrix preference order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bioblocks.sources.hca import (
    MatrixFile,
    choose_matrix,
    format_from_name,
    parse_project,
    rank,
    species_to_dataset,
    species_to_hca,
)
from bioblocks.sources.hca._models import parse_catalogs

from .fake_azul import FIXTURES, KIDNEY_H5AD, KIDNEY_LOOM, RETINA_LOOM, RETINA_MTX_ZIP


def _hit(page: int) -> dict[str, Any]:
    return json.loads((FIXTURES / f"index-projects-page{page}.json").read_text())["hits"][0]


def test_parse_fixture_projects() -> None:
    kidney = parse_project(_hit(1))
    assert kidney.project_id == "0f1e2d3c-4b5a-4968-7766-554433221100"
    assert kidney.short_name == "FictionalKidneyCortex"
    assert kidney.title == "A single-cell atlas of the fictional human kidney cortex"
    assert kidney.species == ("Homo sapiens",)
    assert kidney.organs == ("kidney",)
    assert kidney.estimated_cells == 60000
    assert kidney.authors == ["Ada Example"]
    assert kidney.dataset_species == "homo_sapiens"
    by_uuid = {m.uuid: m for m in kidney.matrices}
    loom, h5ad = by_uuid[KIDNEY_LOOM], by_uuid[KIDNEY_H5AD]
    assert (loom.name, loom.format, loom.size, loom.cell_count) == (
        "fictional-kidney-cortex-human-10XV3.loom", "loom", 184467231, None
    )
    assert loom.dcp_generated and loom.origin == "DCP-generated"
    assert loom.version == "2024-01-12T09:41:07.000000Z"
    assert loom.sha256 == "3f9a0c1b2d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70a"
    assert (h5ad.format, h5ad.cell_count, h5ad.origin) == ("h5ad", 48213, "contributed")
    assert h5ad.file_source == "Contributor"
    assert loom.strata["organ"] == ("kidney",)

    retina = parse_project(_hit(2))
    assert retina.estimated_cells is None
    formats = {m.uuid: m.format for m in retina.matrices}
    assert formats == {RETINA_LOOM: "loom", RETINA_MTX_ZIP: "mtx"}
    mtx = next(m for m in retina.matrices if m.uuid == RETINA_MTX_ZIP)
    assert mtx.declared_format == "zip"
    assert mtx.strata["developmentStage"] == ("Unspecified",)
    assert mtx.species == ("Homo sapiens",)


def test_format_from_suffix_before_declared() -> None:
    assert format_from_name("x.homo_sapiens.mtx.zip", "zip") == "mtx"
    assert format_from_name("x.CSV.ZIP", "zip") == "csv"
    assert format_from_name("a.loom", "h5ad") == "loom"
    assert format_from_name("a.h5ad", None) == "h5ad"
    assert format_from_name("matrix", "loom") == "loom"
    assert format_from_name("other.zip", "zip") == "other"
    assert format_from_name("seurat.Rds", "Rds") == "other"
    assert format_from_name("m.mtx.gz", "mtx") == "other"


def test_species_mapping() -> None:
    assert species_to_dataset("Homo sapiens") == "homo_sapiens"
    assert species_to_dataset(" Mus  musculus ") == "mus_musculus"
    assert species_to_dataset("Danio rerio") is None
    assert species_to_dataset(None) is None
    assert species_to_hca("mus_musculus") == "Mus musculus"
    assert species_to_hca("Homo sapiens") == "Homo sapiens"


def _leaf(uuid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"uuid": uuid, "name": name, "format": extra.pop("format", None), "version": "v1", **extra}


def test_generic_tree_walk_dedup_and_tolerance() -> None:
    """Any dimension order and depth; a file in several branches is one file; odd types tolerated."""
    shared = _leaf("u1", "multi.h5ad", size=10, matrixCellCount=5, fileSource="Contributor", unknownKey=1)
    hit = {
        "entryId": "p1",
        "projects": [
            {
                "projectId": ["p1"],  # list instead of scalar (files index style)
                "projectShortname": "Multi",
                "projectTitle": "Multi-species",
                "contributors": [{"contactName": "A,B,C", "newField": True}, {"contactName": ",,"}],
                "matrices": {},
                "contributedAnalyses": {
                    "organ": {
                        "brain": {"genusSpecies": {"Mus musculus": [shared]}},
                        "heart": {"genusSpecies": {"Mus musculus": [shared], "Homo sapiens": [dict(shared)]}},
                    }
                },
                "futureThing": {"x": 1},
            }
        ],
        "donorOrganisms": [{"genusSpecies": "Mus musculus"}],  # scalar instead of list
    }
    project = parse_project(hit)
    assert project.project_id == "p1"
    assert project.authors == ["A B C"]
    assert len(project.matrices) == 1
    matrix = project.matrices[0]
    assert matrix.organs == ("brain", "heart")
    assert matrix.species == ("Mus musculus", "Homo sapiens")
    assert project.species == ("Mus musculus",)
    assert project.dataset_species == "mus_musculus"


def test_leaf_without_uuid_is_skipped_and_missing_ids_raise() -> None:
    hit = {"entryId": "p", "projects": [{"matrices": {"organ": {"x": [{"name": "n.loom"}]}}}]}
    assert parse_project(hit).matrices == ()
    with pytest.raises(ValueError):
        parse_project({"projects": [{}]})


def _matrix(name: str, *, dcp: bool, source: str | None, size: int | None, linked: bool = True) -> MatrixFile:
    return MatrixFile(
        uuid=name, version="v", name=name, format=format_from_name(name), declared_format=None,
        size=size, sha256=None, cell_count=None, dcp_generated=dcp, file_source=source,
        azul_url="https://a/repository/files/x" if linked else None,
    )


def test_preference_order() -> None:
    files = [
        _matrix("contrib.h5ad", dcp=False, source="Contributor", size=1),
        _matrix("legacy.mtx.zip", dcp=True, source="DCP/1 Matrix Service", size=5),
        _matrix("legacy.loom", dcp=True, source="DCP/1 Matrix Service", size=50),
        _matrix("big.loom", dcp=True, source="DCP/2 Analysis", size=900),
        _matrix("small.loom", dcp=True, source="DCP/2 Analysis", size=100),
        _matrix("unlinked.loom", dcp=True, source="DCP/2 Analysis", size=1, linked=False),
        _matrix("dcp.csv.zip", dcp=True, source="DCP/2 Analysis", size=1),
    ]
    order = [m.name for m in sorted(files, key=rank)]
    assert order == [
        "small.loom", "big.loom", "unlinked.loom", "dcp.csv.zip",
        "legacy.loom", "legacy.mtx.zip", "contrib.h5ad",
    ]


def test_choose_matrix_on_fixtures() -> None:
    kidney = parse_project(_hit(1))
    assert choose_matrix(kidney).uuid == KIDNEY_LOOM
    assert choose_matrix(kidney, file_name="kidney_cortex_annotated.h5ad").uuid == KIDNEY_H5AD
    assert choose_matrix(kidney, file_name=KIDNEY_H5AD).uuid == KIDNEY_H5AD
    assert choose_matrix(kidney, file_name="KIDNEY_CORTEX_ANNOTATED.H5AD").uuid == KIDNEY_H5AD
    retina = parse_project(_hit(2))
    assert choose_matrix(retina).uuid == RETINA_LOOM


def test_parse_catalogs() -> None:
    listing = parse_catalogs(json.loads(Path(FIXTURES / "index-catalogs.json").read_text()))
    assert listing.default == "dcp60"
    assert listing.public_hca == ["dcp60"]
    assert "lm10-it" in listing
    assert "dcp1" not in listing
