"""The document service without HTTP: validation, etags, media and what a write keeps.

The wire answers of the same verbs are checked through the router in ``tests/api``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bioblocks import documents
from bioblocks.config import Settings
from bioblocks.resources import RESOURCES, MediaUpload
from bioblocks.storage import media_dir
from bioblocks.store import DuplicateId, EtagMismatch, Store, open_store

DATASET, ANALYSIS, VIGNETTE = RESOURCES["dataset"], RESOURCES["analysis"], RESOURCES["vignette"]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
MISSING_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "files", log_level="WARNING")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


def _media_files(settings: Settings) -> list[str]:
    folder = media_dir(settings.resolved_data_dir)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _vignette(dataset_id: str, **extra: Any) -> dict[str, Any]:
    return {"authors": ["A. Author"], "dataset": dataset_id, "visualizations": [], **extra}


def test_insert_checks_every_document_and_writes_none_when_one_fails(store: Store) -> None:
    good = {"name": "kept out", "processType": "SPRING"}
    dangling = {"name": "dangling", "processType": "SPRING", "dataset": MISSING_ID}
    with pytest.raises(documents.InvalidDocuments) as caught:
        documents.insert(store, ANALYSIS, [good, dangling, "not a dict"])
    results = caught.value.results
    assert results[0] is None
    assert results[1] == {"dataset": f"value '{MISSING_ID}' must exist in resource "
                                     "'dataset', field '_id'."}
    assert results[2] == {"validation exception": "'not a dict' is not a document, must be a dict"}
    assert caught.value.on_insert and caught.value.issues == results[1]
    assert store.count("analysis") == 0


def test_insert_returns_the_stored_documents_with_meta(store: Store) -> None:
    [first, second] = documents.insert(store, DATASET, [{"name": "one"}, {"name": "two"}])
    assert [first["name"], second["name"]] == ["one", "two"]
    assert store.get("dataset", first["_id"])["_etag"] == first["_etag"]
    assert first["_created"] == first["_updated"]
    with pytest.raises(documents.EmptyBulk):
        documents.insert(store, DATASET, [])
    with pytest.raises(documents.ImmutableId):
        documents.insert(store, DATASET, [{"_id": first["_id"], "name": "x"}],
                         forced_id=second["_id"])


def test_a_failed_insert_takes_its_media_uploads_back(store: Store, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    icon = MediaUpload(filename="icon.png", content_type="image/png", data=PNG)
    [vignette] = documents.insert(store, VIGNETTE, [_vignette(dataset["_id"], icon=icon)])
    stored = store.get_media(vignette["icon"])
    assert stored is not None and stored.path.read_bytes() == PNG
    assert _media_files(settings) == [vignette["icon"]]
    again = _vignette(dataset["_id"], _id=vignette["_id"], icon=icon)
    with pytest.raises(DuplicateId):
        documents.insert(store, VIGNETTE, [again])
    assert _media_files(settings) == [vignette["icon"]]  # the second upload was removed


def test_replace_needs_the_current_etag_and_keeps_server_managed_fields(store: Store) -> None:
    dataset = store.insert("dataset", {"name": "d", "matrixLocation": "datasets/x/matrix.h5ad"})
    with pytest.raises(documents.EtagRequired):
        documents.replace(store, DATASET, dataset["_id"], {"name": "e"}, etag=None)
    with pytest.raises(EtagMismatch):
        documents.replace(store, DATASET, dataset["_id"], {"name": "e"}, etag="stale")
    with pytest.raises(documents.ImmutableId):
        documents.replace(store, DATASET, dataset["_id"], {"_id": MISSING_ID, "name": "e"},
                          etag=dataset["_etag"])
    new, created = documents.replace(store, DATASET, dataset["_id"], {"name": "e"},
                                     etag=dataset["_etag"])
    assert not created
    assert (new["name"], new["matrixLocation"]) == ("e", "datasets/x/matrix.h5ad")
    assert new["_created"] == dataset["_created"] and new["_etag"] != dataset["_etag"]
    made, created = documents.replace(store, DATASET, MISSING_ID, {"name": "new"}, etag=None)
    assert created and made["_id"] == MISSING_ID and store.get("dataset", MISSING_ID)


def test_patch_merges_validates_and_swaps_the_media_it_replaces(
    store: Store, settings: Settings
) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    first = MediaUpload(filename="a.png", content_type="image/png", data=PNG)
    [vignette] = documents.insert(store, VIGNETTE, [_vignette(dataset["_id"], icon=first)])
    with pytest.raises(documents.InvalidDocuments) as caught:
        documents.patch(store, VIGNETTE, vignette["_id"], {"name": "x"}, etag=vignette["_etag"])
    assert caught.value.results == [{"name": "min length is 2"}]
    assert not caught.value.on_insert
    second = MediaUpload(filename="b.png", content_type="image/png", data=PNG[::-1])
    new = documents.patch(store, VIGNETTE, vignette["_id"], {"name": "Story", "icon": second},
                          etag=vignette["_etag"])
    assert new["name"] == "Story" and new["authors"] == ["A. Author"]
    assert _media_files(settings) == [new["icon"]] and new["icon"] != vignette["icon"]
    with pytest.raises(documents.DocumentMissing):
        documents.patch(store, VIGNETTE, MISSING_ID, {"name": "Story"}, etag="x")


def test_delete_and_delete_matching(store: Store, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "d"})
    icon = MediaUpload(filename="a.png", content_type="image/png", data=PNG)
    [with_icon, plain] = documents.insert(
        store, VIGNETTE, [_vignette(dataset["_id"], icon=icon, name="Aa"),
                          _vignette(dataset["_id"], name="Bb")])
    assert documents.delete(store, VIGNETTE, MISSING_ID, etag=None) is False
    with pytest.raises(documents.EtagRequired):
        documents.delete(store, VIGNETTE, with_icon["_id"], etag=None)
    assert documents.delete(store, VIGNETTE, with_icon["_id"], etag=with_icon["_etag"])
    assert _media_files(settings) == []  # the icon went with its document
    documents.delete_matching(store, VIGNETTE, {"name": "Zz"}, settings=settings)
    assert store.get("vignette", plain["_id"]) is not None
    documents.delete_matching(store, VIGNETTE, {"name": "Bb"}, settings=settings)
    assert store.count("vignette") == 0
