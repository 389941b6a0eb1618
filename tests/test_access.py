"""The authorization rules (:mod:`bioblocks.access`) over a real store, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bioblocks.access import (
    ANONYMOUS,
    Principal,
    WriteRefused,
    authorize_write,
    can_govern,
    can_read,
    can_write,
    combine,
    hidden_for,
    restrict,
    visible,
)
from bioblocks.config import Settings
from bioblocks.store import Store, open_store

LAB_READER = Principal(name="r", user="r", scope="read", roles={"lab": "reader"})
LAB_WRITER = Principal(name="w", user="w", scope="write", roles={"lab": "writer"})
LAB_ADMIN = Principal(name="a", user="a", scope="admin", roles={"lab": "admin"})
CAPPED = Principal(name="a", user="a", scope="read", roles={"lab": "admin"})
OUTSIDER = Principal(name="o", user="o", scope="admin", roles={"other": "admin"})
LEGACY = Principal(name="robot", scope="write", server_wide=True)
ROOT = Principal(name="root", user="root", scope="admin", admin=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("postgres_schema_url") if request.param == "postgres" else None
    opened = open_store(Settings(data_dir=tmp_path / "files", database_url=url))
    yield opened
    opened.close()


def test_roles_scopes_and_the_three_questions() -> None:
    private = {"_id": "d", "visibility": "private", "group": "lab"}
    public = {"_id": "p", "group": "lab"}
    legacy = {"_id": "l"}
    assert [can_read(p, private) for p in (ANONYMOUS, LAB_READER, OUTSIDER, LEGACY, ROOT)] == [
        False, True, False, True, True]
    assert all(can_read(p, public) and can_read(p, legacy) for p in (ANONYMOUS, OUTSIDER))
    assert [can_write(p, private) for p in (LAB_READER, LAB_WRITER, CAPPED, OUTSIDER)] == [
        False, True, False, False]
    assert [can_write(p, legacy) for p in (LAB_WRITER, LEGACY, ROOT)] == [False, True, True]
    assert can_govern(LAB_ADMIN, private, None) and not can_govern(LAB_WRITER, private, None)
    assert not can_govern(LAB_ADMIN, private, "other")  # no writer role where it would go
    assert not can_govern(LEGACY, private, None) and can_govern(ROOT, private, "other")
    assert can_read(Principal(share="d"), private) and not can_read(Principal(share="x"), private)


def test_hidden_documents_are_filtered_by_the_store(store: Store) -> None:
    public = store.insert("dataset", {"name": "pub"})
    mine = store.insert("dataset", {"name": "lab", "visibility": "private", "group": "lab"})
    theirs = store.insert("dataset", {"name": "other", "visibility": "private",
                                      "group": "other"})
    listed = store.insert("analysis", {"name": "listed", "processType": "SPRING"})
    store.patch("dataset", theirs["_id"], {"analyses": [listed["_id"]]})
    pointing = store.insert("analysis", {"name": "pointing", "processType": "SPRING",
                                       "dataset": theirs["_id"]})
    job = store.insert("job", {"status": "COMPLETE",
                               "associatedDataset": {"dataset": theirs["_id"]}})
    hidden = hidden_for(store, LAB_READER)
    assert hidden.dataset == {theirs["_id"]}
    assert hidden.analysis == {listed["_id"], pointing["_id"]}
    names = {d["name"] for d in store.find("dataset", restrict("dataset", hidden))}
    assert names == {"pub", "lab"}
    assert store.count("analysis", restrict("analysis", hidden)) == 0
    assert store.count("job", restrict("job", hidden)) == 0
    probe = combine({"name": "other"}, restrict("dataset", hidden))  # where cannot reach it
    assert store.find("dataset", probe) == []
    assert not visible("job", job, hidden) and visible("dataset", public, hidden)
    anonymous = hidden_for(store, ANONYMOUS)
    assert anonymous.dataset == {mine["_id"], theirs["_id"]}
    assert not hidden_for(store, LEGACY) and not hidden_for(store, ROOT)
    shared = hidden_for(store, Principal(share=theirs["_id"]))
    assert shared.dataset == {mine["_id"]} and shared.analysis == frozenset()


def test_writes(store: Store) -> None:
    lab = store.insert("dataset", {"name": "lab", "visibility": "private", "group": "lab"})
    other = store.insert("dataset", {"name": "o", "visibility": "private", "group": "other"})
    assert authorize_write(store, LAB_WRITER, "dataset", None, {"name": "new"}) == {
        "group": "lab", "visibility": "private"}
    with pytest.raises(WriteRefused, match="admin role"):
        authorize_write(store, LAB_WRITER, "dataset", None, {"name": "n", "visibility": "public"})
    assert authorize_write(store, LAB_ADMIN, "dataset", None,
                           {"name": "n", "visibility": "public"})["visibility"] == "public"
    assert authorize_write(store, LEGACY, "dataset", None, {"name": "old style"}) == {}
    with pytest.raises(WriteRefused, match="admin role"):
        authorize_write(store, LEGACY, "dataset", None, {"name": "n", "group": "lab"})
    authorize_write(store, LAB_WRITER, "analysis", None, {"name": "a", "dataset": lab["_id"]})
    with pytest.raises(WriteRefused) as refused:
        authorize_write(store, LAB_WRITER, "dataset", other, {"name": "x"})
    assert refused.value.hidden
    with pytest.raises(WriteRefused) as refused:
        authorize_write(store, LAB_READER, "dataset", lab, {"name": "x"})
    assert not refused.value.hidden
    with pytest.raises(WriteRefused, match="admin role"):
        authorize_write(store, LAB_WRITER, "dataset", lab, {"visibility": "public"})
    authorize_write(store, LAB_ADMIN, "dataset", lab, {"visibility": "public"})
    with pytest.raises(WriteRefused, match="names its dataset"):
        authorize_write(store, LAB_WRITER, "analysis", None, {"name": "orphan"})
    with pytest.raises(WriteRefused):
        authorize_write(store, LAB_WRITER, "analysis", None,
                        {"name": "a", "dataset": other["_id"]})


def test_a_replacement_keeps_group_and_visibility(store: Store) -> None:
    lab = store.insert("dataset", {"name": "lab", "visibility": "private", "group": "lab"})
    assert authorize_write(store, LAB_WRITER, "dataset", lab, {"name": "renamed"}) == {
        "group": "lab", "visibility": "private"}
