"""``bioblocks.metadata``: populate, export, MongoDB import, and their commands."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.api import create_app
from bioblocks.config import Settings
from bioblocks.errors import ConflictError, InputError
from bioblocks.metadata import (
    EXAMPLE_METADATA,
    decode_extended_json,
    export_metadata,
    import_mongo,
    populate,
    read_metadata_file,
)
from bioblocks.store import open_store

EXAMPLE = json.loads(EXAMPLE_METADATA.read_text())
EXPECTED = {"analysis": 4, "dataset": 2, "visualization": 3, "vignette": 4}
HPC = "bbdeeded-0000-0000-0001-a1234567890b"
SPRING_VIZ = "bbfacade-0000-0000-0001-a1234567890b"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "files", log_level="WARNING")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _items(client: TestClient, resource: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/{resource}?max_results=50{query}")
    assert response.status_code == 200, response.text
    return response.json()["_items"]


def _copy_example(target: Path) -> Path:
    shutil.copytree(EXAMPLE_METADATA.parent / "icons", target / "icons")
    path = target / "metadata.json"
    path.write_text(json.dumps(EXAMPLE))
    return path


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and k != "icon"}


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
    datasets = _items(client, "dataset", '&embedded={"analyses":1}')
    hpc = next(d for d in datasets if d["_id"] == HPC)
    assert [a["processType"] for a in hpc["analyses"]] == ["SPRING", "TSNE"]
    assert hpc["species"] == "mus_musculus"
    assert hpc["matrixInfo"] == {"rowCount": 28205, "colCount": 6933}  # genes, cells
    item = client.get(f"/dataset/{HPC}", params={"embedded": '{"analyses":1}'}).json()
    assert item["analyses"][0]["name"] == "Hematopoietic Progenitor Cells - SPRING"
    by_id = {d["_id"]: d for d in EXAMPLE["visualizations"] + EXAMPLE["vignettes"]}
    served = _items(client, "visualization") + _items(client, "vignette")
    assert len(served) == 7
    for doc in served:
        assert doc["icon"].startswith("/media/") and len(doc["icon"]) == len("/media/") + 24
        media = client.get(doc["icon"])
        assert media.status_code == 200
        assert media.headers["content-type"] == "image/png"
        expected = (EXAMPLE_METADATA.parent / by_id[doc["_id"]]["icon"]).read_bytes()
        assert media.content == expected
    # the short-lived token is revoked
    store = open_store(settings)
    assert [t.revoked is not None for t in store.list_tokens()] == [True]
    store.close()


def test_example_analyses_without_files_are_not_listed_as_ready(
    settings: Settings, client: TestClient
) -> None:
    """No dead end on the first screen: an analysis has its folder or says it has none."""
    populate(settings)
    root = settings.resolved_data_dir
    listed = 0
    for dataset in _items(client, "dataset", '&embedded={"analyses":1}'):
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
    before = {r: _items(client, r) for r in EXPECTED}

    report = populate(settings)

    assert {k: c.unchanged for k, c in report.counts.items()} == EXPECTED
    assert all(c.created == 0 and c.updated == 0 for c in report.counts.values())
    assert report.media_uploaded == 0
    after = {r: _items(client, r) for r in EXPECTED}
    assert after == before  # same documents, etags and icon URLs: no duplicates


def test_populate_updates_changed_documents(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    populate(settings)
    old = client.get(f"/visualization/{SPRING_VIZ}").json()
    changed = json.loads(json.dumps(EXAMPLE))
    changed["visualizations"][0]["summary"] = "A new summary of the SPRING viewer."
    changed["visualizations"][0].pop("labels")
    source = _copy_example(tmp_path / "changed")
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


# ---- export ------------------------------------------------------------------------------


def test_export_then_populate_round_trips(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    populate(settings)
    target = tmp_path / "export" / "metadata.json"

    report = export_metadata(settings, target)

    assert report.counts == EXPECTED
    assert report.media_written == 7
    written = json.loads(target.read_text())
    assert list(written) == ["analyses", "datasets", "visualizations", "vignettes"]
    exported_viz = {d["_id"]: d for d in written["visualizations"]}
    for viz in EXAMPLE["visualizations"]:
        out = exported_viz[viz["_id"]]
        assert _fields(out) == _fields(viz)
        assert (target.parent / out["icon"]).read_bytes() == (
            EXAMPLE_METADATA.parent / viz["icon"]
        ).read_bytes()
    # into the same store: nothing to do
    again = populate(settings, target)
    assert {k: c.unchanged for k, c in again.counts.items()} == EXPECTED
    # into a fresh store: the same documents
    fresh = Settings(data_dir=tmp_path / "fresh", log_level="WARNING")
    populate(fresh, target)
    with TestClient(create_app(fresh)) as other:
        for resource in EXPECTED:
            mine = {d["_id"]: _fields(d) for d in _items(client, resource)}
            theirs = {d["_id"]: _fields(d) for d in _items(other, resource)}
            assert theirs == mine
        icon = other.get(other.get(f"/visualization/{SPRING_VIZ}").json()["icon"])
        assert icon.content == (EXAMPLE_METADATA.parent / "icons" / "spring.png").read_bytes()


def test_export_writes_jobs_with_dates(settings: Settings, tmp_path: Path) -> None:
    populate(settings)
    store = open_store(settings)
    store.insert("job", {
        "_id": "cccccccc-0000-4000-8000-000000000001",
        "associatedDataset": {"dataset": HPC}, "status": "COMPLETE",
        "createdAt": datetime(2024, 3, 4, 10, 11, 12),
    })
    store.close()

    export_metadata(settings, tmp_path / "out.json")

    jobs = json.loads((tmp_path / "out.json").read_text())["jobs"]
    assert jobs[0]["createdAt"] == "Mon, 04 Mar 2024 10:11:12 GMT"
    fresh = Settings(data_dir=tmp_path / "fresh", log_level="WARNING")
    assert populate(fresh, tmp_path / "out.json").counts["job"].created == 1
    store = open_store(fresh)
    assert store.get("job", jobs[0]["_id"])["createdAt"] == datetime(2024, 3, 4, 10, 11, 12)
    store.close()


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
    source = _copy_example(tmp_path / "bad")
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
    source = _copy_example(tmp_path / "both")
    source.write_text(json.dumps(data))

    first = populate(settings, source)
    second = populate(settings, source)

    assert {k: c.created for k, c in first.counts.items()} == EXPECTED
    assert {k: c.unchanged for k, c in second.counts.items()} == EXPECTED
    spring = client.get("/analysis/aaaaaaaa-0000-0000-0001-a1234567890b").json()
    assert spring["dataset"] == HPC
    hpc = client.get(f"/dataset/{HPC}").json()
    assert hpc["analyses"][0] == spring["_id"]


# ---- MongoDB import ----------------------------------------------------------------------

ETAG = "5f0c3e1d2a4b6c8d9e0f1a2b3c4d5e6f7a8b9c0d"
ICON_OID = "5c7d0f6e1c9d440000a1b2e1"
ICON = (EXAMPLE_METADATA.parent / "icons" / "hpc-spring.png").read_bytes()


def _write_mongo_export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "analyses.json").write_text(json.dumps([{
        "_id": "aaaaaaaa-0000-0000-0001-a1234567890b", "name": "HPC - SPRING",
        "processType": "SPRING", "legacyField": 1,
        "_created": {"$date": "2019-03-04T10:11:12.345Z"},
        "_updated": {"$date": 1551781872000},
        "_etag": ETAG,
    }]))
    (folder / "dataset.json").write_text(json.dumps([
        {
            "_id": HPC, "name": "Hematopoietic Progenitor Cells",
            "analyses": ["aaaaaaaa-0000-0000-0001-a1234567890b"],
            "matrixInfo": {"colCount": {"$numberInt": "28205"}, "rowCount": 6933,
                           "oldKey": "x"},
            "species": "mus_musculus",
            "_created": {"$date": {"$numberLong": "1520848800000"}},
            "_updated": {"$date": "2018-03-13T00:00:00+01:00"},
            "_etag": "0123456789abcdef0123456789abcdef01234567",
        },
        {"_id": {"$oid": "5c7d0f6e1c9d440000a1b2c3"}, "name": "made without an _id"},
        {"_id": "bbdeeded-0000-0000-0002-a1234567890b", "name": "no meta fields"},
    ]))
    (folder / "vignette.json").write_text(json.dumps([
        {
            "_id": "bbdecade-0000-0000-0001-a1234567890b", "authors": ["A"], "dataset": HPC,
            "visualizations": [], "icon": {"$oid": "5c7d0f6e1c9d440000a1b2c4"},
            "_created": {"$date": "2019-01-01T00:00:00Z"},
            "_updated": {"$date": "2019-01-02T00:00:00Z"}, "_etag": "e" * 40,
        },
        {
            "_id": "bbdecade-0000-0000-0002-a1234567890b", "authors": ["B"], "dataset": HPC,
            "visualizations": [], "icon": {"$oid": ICON_OID},
        },
    ]))
    # GridFS: the icon in two chunks (canonical and legacy $binary forms)
    (folder / "fs.files.json").write_text(json.dumps([{
        "_id": {"$oid": ICON_OID}, "filename": "hpc.png", "contentType": "image/png",
        "length": len(ICON), "chunkSize": 1000, "uploadDate": {"$date": "2019-02-03T04:05:06Z"},
    }]))
    (folder / "fs.chunks.json").write_text(json.dumps([
        {"_id": {"$oid": "5c7d0f6e1c9d440000a1b2d2"}, "files_id": {"$oid": ICON_OID}, "n": 1,
         "data": {"$binary": base64.b64encode(ICON[1000:]).decode(), "$type": "00"}},
        {"_id": {"$oid": "5c7d0f6e1c9d440000a1b2d1"}, "files_id": {"$oid": ICON_OID}, "n": 0,
         "data": {"$binary": {"base64": base64.b64encode(ICON[:1000]).decode(),
                              "subType": "00"}}},
    ]))


def test_decode_extended_json() -> None:
    value = decode_extended_json({
        "a": {"$date": "2019-03-04T10:11:12.345Z"}, "b": {"$date": 1551694272000},
        "c": [{"$oid": "5C7D0F6E1C9D440000A1B2C3"}], "d": {"$numberLong": "7"},
        "e": {"$numberDouble": "0.5"}, "f": {"x": {"$date": {"$numberLong": "0"}}},
    })
    assert value == {
        "a": datetime(2019, 3, 4, 10, 11, 12), "b": datetime(2019, 3, 4, 10, 11, 12),
        "c": ["5c7d0f6e1c9d440000a1b2c3"], "d": 7, "e": 0.5,
        "f": {"x": datetime(1970, 1, 1)},
    }
    with pytest.raises(ValueError, match="unreadable"):
        decode_extended_json({"$date": "yesterday"})


def test_mongo_import_keeps_ids_dates_and_etags(
    settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    _write_mongo_export(tmp_path / "dump")

    report = import_mongo(settings, [tmp_path / "dump"])

    assert {k: (c.created, c.updated) for k, c in report.counts.items()} == {
        "analysis": (1, 0), "dataset": (2, 0), "vignette": (2, 0),
    }
    assert report.media_imported == 1
    assert report.dropped_fields == {
        "analysis": {"legacyField": 1}, "dataset": {"matrixInfo.oldKey": 1},
    }
    assert any("5c7d0f6e1c9d440000a1b2c3" in w and "skipped" in w for w in report.warnings)
    assert any("'icon'" in w and "dropped" in w for w in report.warnings)
    analysis = client.get("/analysis/aaaaaaaa-0000-0000-0001-a1234567890b")
    assert analysis.headers["etag"] == f'"{ETAG}"'
    body = analysis.json()
    assert body["_created"] == "Mon, 04 Mar 2019 10:11:12 GMT"
    assert body["_updated"] == "Tue, 05 Mar 2019 10:31:12 GMT"
    assert "legacyField" not in body and body["parameters"] == {}
    dataset = client.get(f"/dataset/{HPC}").json()
    assert dataset["_created"] == "Mon, 12 Mar 2018 10:00:00 GMT"
    assert dataset["_updated"] == "Mon, 12 Mar 2018 23:00:00 GMT"
    assert dataset["matrixInfo"] == {"colCount": 28205, "rowCount": 6933}
    # the cached etag of a client still works for a conditional request
    cached = client.get(f"/dataset/{HPC}",
                        headers={"If-None-Match": '"0123456789abcdef0123456789abcdef01234567"'})
    assert cached.status_code == 304
    bare = client.get("/dataset/bbdeeded-0000-0000-0002-a1234567890b")
    assert bare.json()["_created"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert len(bare.json()["_etag"]) == 40
    assert "icon" not in client.get("/vignette/bbdecade-0000-0000-0001-a1234567890b").json()
    vignette = client.get("/vignette/bbdecade-0000-0000-0002-a1234567890b").json()
    assert vignette["icon"] == f"/media/{ICON_OID}"
    icon = client.get(vignette["icon"])
    assert icon.content == ICON and icon.headers["content-type"] == "image/png"
    assert icon.headers["last-modified"] == "Sun, 03 Feb 2019 04:05:06 GMT"

    again = import_mongo(settings, [tmp_path / "dump" / "dataset.json"])
    assert (again.counts["dataset"].created, again.counts["dataset"].updated) == (0, 2)
    assert client.get(f"/dataset/{HPC}").headers["etag"] == (
        '"0123456789abcdef0123456789abcdef01234567"'
    )
    with pytest.raises(ConflictError, match="1 analysis document"):
        import_mongo(settings, [tmp_path / "dump"], replace=False)
    assert client.get("/analysis/aaaaaaaa-0000-0000-0001-a1234567890b").headers["etag"] == (
        f'"{ETAG}"'
    )


def test_mongo_import_on_postgres(postgres_schema_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "files", database_url=postgres_schema_url,
                        log_level="WARNING")
    _write_mongo_export(tmp_path / "dump")

    import_mongo(settings, [tmp_path / "dump"])
    report = import_mongo(settings, [tmp_path / "dump" / "analyses.json"])

    assert report.counts["analysis"].updated == 1
    store = open_store(settings)
    doc = store.get("analysis", "aaaaaaaa-0000-0000-0001-a1234567890b")
    store.close()
    assert doc["_etag"] == ETAG
    assert doc["_created"] == datetime(2019, 3, 4, 10, 11, 12)


def test_mongo_import_rejects_bad_input(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "dataset.json"
    bad.write_text(json.dumps([{"_id": HPC, "name": 5}]))
    with pytest.raises(InputError, match=rf"dataset.json\[0\] \(_id {HPC}\): field 'name': "
                                         "must be of string type"):
        import_mongo(settings, [bad])
    bad.write_text(json.dumps([{"_id": HPC, "name": "x"}, {"_id": HPC, "name": "y"}]))
    with pytest.raises(InputError, match=r"dataset.json\[1\] .* appears twice"):
        import_mongo(settings, [bad])
    bad.write_text(json.dumps([{"_id": HPC, "name": "x", "_created": {"$date": "soon"}}]))
    with pytest.raises(InputError, match="unreadable \\$date value 'soon'"):
        import_mongo(settings, [bad])
    other = tmp_path / "users.json"
    other.write_text("[]")
    with pytest.raises(InputError, match="unknown collection 'users'"):
        import_mongo(settings, [other])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mongoexport files found"):
        import_mongo(settings, [tmp_path / "empty"])
    store = open_store(settings)
    assert store.count("dataset") == 0
    store.close()


def test_mongo_import_reads_one_document_per_line(settings: Settings, tmp_path: Path) -> None:
    lines = tmp_path / "analysis.json"
    lines.write_text(
        '{"_id": "aaaaaaaa-0000-0000-0001-a1234567890b", "name": "a", "processType": "TSNE"}\n'
        '{"_id": "aaaaaaaa-0000-0000-0002-a1234567890b", "name": "b", "processType": "UMAP"}\n'
    )
    assert import_mongo(settings, [lines]).counts["analysis"].created == 2


# ---- commands ----------------------------------------------------------------------------


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

    _write_mongo_export(tmp_path / "dump")
    imported = runner.invoke(cli.app, ["import-mongo", str(tmp_path / "dump")])
    assert imported.exit_code == 0, imported.output
    assert "warning(s)" in imported.output
