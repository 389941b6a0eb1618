"""``bioblocks.metadata.populate``: the shipped example, updates, bad files, load order."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bioblocks.config import Settings
from bioblocks.errors import InputError
from bioblocks.metadata import (
    EXAMPLE_METADATA,
    populate,
    read_metadata_file,
)
from bioblocks.store import open_store

from ._example import (
    EXAMPLE,
    EXPECTED,
    HPC,
    SPRING_VIZ,
    copy_example,
    list_items,
)

# ---- the shipped example -----------------------------------------------------------------


def test_example_follows_the_field_rules() -> None:
    docs = read_metadata_file(EXAMPLE_METADATA)
    assert {k: len(v) for k, v in docs.items() if v} == EXPECTED
    for viz in docs["visualization"]:
        assert viz["citations"] and viz["repo"]["version"]
        assert (EXAMPLE_METADATA.parent / viz["icon"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for vignette in docs["vignette"]:
        assert (EXAMPLE_METADATA.parent / vignette["icon"]).is_file()


def test_populate_example_serves_metadata_and_icons(
    settings: Settings, client: TestClient
) -> None:
    report = populate(settings)

    assert {k: c.created for k, c in report.counts.items()} == EXPECTED
    assert all(c.updated == 0 and c.unchanged == 0 for c in report.counts.values())
    assert report.media_uploaded == 7
    # what the portal does
    datasets = list_items(client, "dataset", '&embedded={"analyses":1}')
    hpc = next(d for d in datasets if d["_id"] == HPC)
    assert [a["processType"] for a in hpc["analyses"]] == ["SPRING", "TSNE"]
    assert hpc["species"] == "mus_musculus"
    assert hpc["matrixInfo"] == {"rowCount": 28205, "colCount": 6933}  # genes, cells
    item = client.get(f"/dataset/{HPC}", params={"embedded": '{"analyses":1}'}).json()
    assert item["analyses"][0]["name"] == "Hematopoietic Progenitor Cells - SPRING"
    by_id = {d["_id"]: d for d in EXAMPLE["visualizations"] + EXAMPLE["vignettes"]}
    served = list_items(client, "visualization") + list_items(client, "vignette")
    assert len(served) == 7
    for doc in served:
        assert doc["icon"].startswith("/media/") and len(doc["icon"]) == len("/media/") + 24
        media = client.get(doc["icon"])
        assert media.status_code == 200
        assert media.headers["content-type"] == "image/png"
        expected = (EXAMPLE_METADATA.parent / by_id[doc["_id"]]["icon"]).read_bytes()
        assert media.content == expected
    # written through the document service, not over HTTP: no token was needed
    store = open_store(settings)
    assert store.list_tokens() == []
    store.close()


def test_example_analyses_without_files_are_not_listed_as_ready(
    settings: Settings, client: TestClient
) -> None:
    """No dead end on the first screen: an analysis has its folder or says it has none."""
    populate(settings)
    root = settings.resolved_data_dir
    listed = 0
    for dataset in list_items(client, "dataset", '&embedded={"analyses":1}'):
        for analysis in dataset["analyses"]:
            folder = root / "datasets" / dataset["_id"] / "analyses" / analysis["_id"]
            assert folder.is_dir() or analysis.get("status") == "NO_FILES", analysis["name"]
            listed += 1
    assert listed == EXPECTED["analysis"]


def test_example_matrix_info_reads_rows_as_genes(hpc_dir: Path) -> None:
    """``rowCount`` = genes, ``colCount`` = cells, as the importer writes them (README)."""
    hpc = next(d for d in EXAMPLE["datasets"] if d["_id"] == HPC)
    genes, cells = set(), 0
    for path in sorted(hpc_dir.glob("*.counts.tsv.gz")):
        with gzip.open(path, "rt") as handle:
            genes.add(len(handle.readline().rstrip("\n").split("\t")) - 1)  # minus `barcode`
            cells += sum(1 for _ in handle)
    assert len(genes) == 1 and cells > 0
    assert hpc["matrixInfo"] == {"rowCount": genes.pop(), "colCount": cells}


def test_populate_twice_changes_nothing(settings: Settings, client: TestClient) -> None:
    populate(settings)
    before = {r: list_items(client, r) for r in EXPECTED}

    report = populate(settings)

    assert {k: c.unchanged for k, c in report.counts.items()} == EXPECTED
    assert all(c.created == 0 and c.updated == 0 for c in report.counts.values())
    assert report.media_uploaded == 0
    after = {r: list_items(client, r) for r in EXPECTED}
    assert after == before  # same documents, etags and icon URLs: no duplicates


def test_populate_updates_changed_documents(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    populate(settings)
    old = client.get(f"/visualization/{SPRING_VIZ}").json()
    changed = json.loads(json.dumps(EXAMPLE))
    changed["visualizations"][0]["summary"] = "A new summary of the SPRING viewer."
    changed["visualizations"][0].pop("labels")
    source = copy_example(tmp_path / "changed")
    source.write_text(json.dumps(changed))
    (source.parent / "icons" / "spring.png").write_bytes(
        (source.parent / "icons" / "anatomogram.png").read_bytes()
    )

    report = populate(settings, source)

    assert report.counts["visualization"].updated == 1
    assert report.counts["visualization"].unchanged == 2
    assert report.counts["vignette"].unchanged == 4
    new = client.get(f"/visualization/{SPRING_VIZ}").json()
    assert new["summary"] == "A new summary of the SPRING viewer."
    assert "labels" not in new  # replaced, not merged
    assert new["_etag"] != old["_etag"] and new["_created"] == old["_created"]
    assert client.get(new["icon"]).content == (
        EXAMPLE_METADATA.parent / "icons" / "anatomogram.png"
    ).read_bytes()
    assert client.get(old["icon"]).status_code == 404  # the replaced icon is gone


# ---- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["datasets"][1].update(species="martian"),
         "datasets[1] (_id bbdeeded-0000-0000-0002-a1234567890b): field 'species': "
         "unallowed value martian"),
        (lambda d: d["visualizations"][2].update(version="1.0"),
         "visualizations[2] (_id bbfacade-0000-0000-0003-a1234567890b): field 'version': "
         "value does not match regex"),
        (lambda d: d["visualizations"][0]["repo"].pop("link"),
         "field 'repo.link': required field"),
        (lambda d: d["analyses"][0].update(colour="red"),
         "analyses[0] (_id aaaaaaaa-0000-0000-0001-a1234567890b): field 'colour': unknown field"),
        (lambda d: d["datasets"][0].update(analyses=["aaaaaaaa-0000-0000-0009-a1234567890b"]),
         "datasets[0] (_id bbdeeded-0000-0000-0001-a1234567890b): field 'analyses': value "
         "'aaaaaaaa-0000-0000-0009-a1234567890b' must exist in resource 'analysis'"),
        (lambda d: d["vignettes"][3].update(icon="icons/nope.png"),
         "vignettes[3] (_id bbdecade-0000-0000-0004-a1234567890b): field 'icon': cannot read"),
        (lambda d: d["analyses"][1].pop("_id"),
         "analyses[1]: field '_id': populate needs a lower-case UUID _id"),
        (lambda d: d["analyses"].append(dict(d["analyses"][0])),
         "analyses[4] (_id aaaaaaaa-0000-0000-0001-a1234567890b): _id appears twice"),
        (lambda d: d.update(dataset=[]), "unknown top-level key 'dataset'"),
        (lambda d: d.update(vignettes={}), "'vignettes' must be a list"),
    ],
)
def test_bad_files_name_document_and_field_and_write_nothing(
    settings: Settings, tmp_path: Path, edit: Any, message: str
) -> None:
    data = json.loads(json.dumps(EXAMPLE))
    edit(data)
    source = copy_example(tmp_path / "bad")
    source.write_text(json.dumps(data))

    with pytest.raises(InputError) as info:
        populate(settings, source)

    assert message in str(info.value)
    assert "\n" not in str(info.value)
    store = open_store(settings)
    assert sum(store.count(r) for r in EXPECTED) == 0
    store.close()


def test_malformed_json_reports_the_position(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text('{"analyses": [\n  {"_id": }\n]}')
    with pytest.raises(InputError, match=r"broken.json: not valid JSON: .* line 2 column 11"):
        populate(settings, source)
    with pytest.raises(InputError, match="top level must be a JSON object"):
        source.write_text("[]")
        populate(settings, source)


def test_dataset_derived_from_a_later_one_loads_in_order(
    settings: Settings, tmp_path: Path
) -> None:
    parent = "dddddddd-0000-4000-8000-000000000001"
    child = "dddddddd-0000-4000-8000-000000000002"
    source = tmp_path / "derived.json"
    source.write_text(json.dumps({"datasets": [
        {"_id": child, "name": "subset", "derivedFrom": [parent]},
        {"_id": parent, "name": "whole", "_etag": "f" * 40, "_links": {},
         "_created": "Mon, 04 Mar 2024 10:11:12 GMT"},  # as saved from a GET: ignored
    ]}))

    report = populate(settings, source)

    assert report.counts["dataset"].created == 2


def test_references_in_both_directions_load_in_two_passes(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    data = json.loads(json.dumps(EXAMPLE))
    for analysis in data["analyses"][:2]:
        analysis["dataset"] = HPC  # analyses load before datasets
    source = copy_example(tmp_path / "both")
    source.write_text(json.dumps(data))

    first = populate(settings, source)
    second = populate(settings, source)

    assert {k: c.created for k, c in first.counts.items()} == EXPECTED
    assert {k: c.unchanged for k, c in second.counts.items()} == EXPECTED
    spring = client.get("/analysis/aaaaaaaa-0000-0000-0001-a1234567890b").json()
    assert spring["dataset"] == HPC
    hpc = client.get(f"/dataset/{HPC}").json()
    assert hpc["analyses"][0] == spring["_id"]

