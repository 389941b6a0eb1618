"""``bioblocks.metadata.import_mongo``: ids, dates and etags kept; bad exports refused."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bioblocks.config import Settings
from bioblocks.errors import ConflictError, InputError
from bioblocks.metadata import (
    decode_extended_json,
    import_mongo,
)
from bioblocks.store import open_store

from ._example import (
    ETAG,
    HPC,
    ICON,
    ICON_OID,
    write_mongo_export,
)

# ---- MongoDB import ----------------------------------------------------------------------


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
    write_mongo_export(tmp_path / "dump")

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
    write_mongo_export(tmp_path / "dump")

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

