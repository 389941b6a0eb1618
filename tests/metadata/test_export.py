"""``bioblocks.metadata.export_metadata``: round trip through populate, jobs with dates."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from bioblocks.api import create_app
from bioblocks.config import Settings
from bioblocks.metadata import (
    EXAMPLE_METADATA,
    export_metadata,
    populate,
)
from bioblocks.store import open_store

from ._example import (
    EXAMPLE,
    EXPECTED,
    HPC,
    SPRING_VIZ,
    list_items,
    plain_fields,
)

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
        assert plain_fields(out) == plain_fields(viz)
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
            mine = {d["_id"]: plain_fields(d) for d in list_items(client, resource)}
            theirs = {d["_id"]: plain_fields(d) for d in list_items(other, resource)}
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

