"""The shipped example metadata and a MongoDB export of it, for the metadata tests."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bioblocks.metadata import (
    EXAMPLE_METADATA,
)

EXAMPLE = json.loads(EXAMPLE_METADATA.read_text())
EXPECTED = {"analysis": 4, "dataset": 2, "visualization": 3, "vignette": 4}
HPC = "bbdeeded-0000-0000-0001-a1234567890b"
SPRING_VIZ = "bbfacade-0000-0000-0001-a1234567890b"


def list_items(client: TestClient, resource: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/{resource}?max_results=50{query}")
    assert response.status_code == 200, response.text
    return response.json()["_items"]


def copy_example(target: Path) -> Path:
    shutil.copytree(EXAMPLE_METADATA.parent / "icons", target / "icons")
    path = target / "metadata.json"
    path.write_text(json.dumps(EXAMPLE))
    return path


def plain_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and k != "icon"}


ETAG = "5f0c3e1d2a4b6c8d9e0f1a2b3c4d5e6f7a8b9c0d"
ICON_OID = "5c7d0f6e1c9d440000a1b2e1"
ICON = (EXAMPLE_METADATA.parent / "icons" / "hpc-spring.png").read_bytes()


def write_mongo_export(folder: Path) -> None:
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

