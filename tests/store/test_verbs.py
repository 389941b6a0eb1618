"""The document verbs and the one retry-on-conflict loop, against a real store."""

from __future__ import annotations

from typing import Any

import pytest

from bioblocks.errors import ConflictError, NotFoundError
from bioblocks.store import (
    EtagMismatch,
    Store,
    find_docs,
    get_doc,
    insert_doc,
    patch_doc,
    require_doc,
    update_with_retry,
)
from bioblocks.store._retry import retry_on_conflict


def test_the_verbs_read_and_write_documents(store: Store) -> None:
    doc = insert_doc(store, "dataset", {"_id": "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a11",
                                        "name": "a", "species": "mus_musculus"})
    insert_doc(store, "dataset", {"name": "b", "species": "homo_sapiens"})
    assert get_doc(store, "dataset", doc["_id"]) == doc
    assert get_doc(store, "dataset", "6c1b4c1f-0b62-4a5c-9e1f-3c9c3b2a8b22") is None
    assert [d["name"] for d in find_docs(store, "dataset", {"species": "mus_musculus"})] == ["a"]
    assert [d["name"] for d in find_docs(store, "dataset", sort=[("name", -1)], limit=1)] == ["b"]
    with pytest.raises(NotFoundError, match="dataset 'nope' does not exist"):
        require_doc(store, "dataset", "nope")
    patched = patch_doc(store, "dataset", doc["_id"], {"name": "c"}, etag=doc["_etag"])
    assert patched["name"] == "c" and patched["_etag"] != doc["_etag"]
    with pytest.raises(ConflictError):
        patch_doc(store, "dataset", doc["_id"], {"name": "d"}, etag=doc["_etag"])


def test_a_change_that_lost_a_race_is_made_again_on_the_new_document(store: Store) -> None:
    doc = insert_doc(store, "dataset", {"name": "a"})
    seen: list[str] = []

    def change(current: dict[str, Any]) -> dict[str, Any]:
        seen.append(current["name"])
        if len(seen) == 1:  # another writer changes the document after this read
            store.patch("dataset", doc["_id"], {"name": "b"})
        return {"species": "mus_musculus"}

    updated = update_with_retry(store, "dataset", doc["_id"], change)
    assert seen == ["a", "b"]
    assert updated is not None
    assert (updated["name"], updated["species"]) == ("b", "mus_musculus")  # both writes kept


def test_a_declined_change_writes_nothing(store: Store) -> None:
    doc = insert_doc(store, "dataset", {"name": "a"})
    assert update_with_retry(store, "dataset", doc["_id"], lambda current: None) is None
    assert require_doc(store, "dataset", doc["_id"])["_etag"] == doc["_etag"]
    with pytest.raises(NotFoundError):
        update_with_retry(store, "dataset", "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a11",
                          lambda current: {"name": "x"})


def test_a_document_that_keeps_changing_is_given_up_on(store: Store) -> None:
    doc = insert_doc(store, "dataset", {"name": "a"})
    calls = []

    def change(current: dict[str, Any]) -> dict[str, Any]:
        calls.append(current["_etag"])
        store.patch("dataset", doc["_id"], {"name": f"n{len(calls)}"})  # always one write ahead
        return {"species": "mus_musculus"}

    with pytest.raises(ConflictError, match=f"dataset {doc['_id']} kept changing; gave up after 3"):
        update_with_retry(store, "dataset", doc["_id"], change, attempts=3)
    assert len(set(calls)) == 3
    assert require_doc(store, "dataset", doc["_id"])["name"] == "n3"


def test_the_retry_loop_keeps_the_conflict_type_and_lets_other_errors_through() -> None:
    results = iter([EtagMismatch("lost"), EtagMismatch("lost"), "done"])

    def attempt() -> str:
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    assert retry_on_conflict(attempt, attempts=3, what="x", conflict=EtagMismatch) == "done"

    def always() -> str:
        raise EtagMismatch("lost")

    with pytest.raises(EtagMismatch, match="job 1 kept changing; gave up after 2 attempts"):
        retry_on_conflict(always, attempts=2, what="job 1", conflict=EtagMismatch)

    calls = []

    def missing() -> str:
        calls.append(1)
        raise NotFoundError("gone")

    with pytest.raises(NotFoundError):
        retry_on_conflict(missing, attempts=5, what="x")
    assert calls == [1]
