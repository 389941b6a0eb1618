"""The store: documents, Mongo-style filters in SQL, compare-and-swap, media, tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from bioblocks.config import Settings
from bioblocks.errors import NotFoundError
from bioblocks.store import (
    DuplicateId,
    EtagMismatch,
    QueryError,
    Store,
    ValidationError,
    make_engine,
    open_store,
    upgrade,
)


def _seed(store: Store) -> dict[str, str]:
    a1 = store.insert("analysis", {"name": "spring", "processType": "SPRING", "seed": 3})
    a2 = store.insert("analysis", {"name": "tsne", "processType": "TSNE", "seed": -2})
    store.insert_many("dataset", [
        {"name": "hpc", "analyses": [a1["_id"], a2["_id"]], "authors": ["ann", "bob"],
         "matrixInfo": {"colCount": 10, "rowCount": 5}, "species": "mus_musculus"},
        {"name": "tm", "analyses": [a2["_id"]], "authors": ["cid"],
         "matrixInfo": {"colCount": 30}},
        {"name": "empty", "hca": {"project": {"title": "x"}, "flag": True}},
    ])
    store.insert_many("visualization", [], validate=False)
    return {"a1": a1["_id"], "a2": a2["_id"]}


def _names(store: Store, where: dict[str, Any], resource: str = "dataset") -> list[str]:
    return sorted(d["name"] for d in store.find(resource, where))


def test_where_operators(store: Store) -> None:
    ids = _seed(store)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"name": "hpc"}, ["hpc"]),
        ({"analyses": ids["a2"]}, ["hpc", "tm"]),
        ({"analyses": ids["a1"]}, ["hpc"]),
        ({"analyses": {"$in": [ids["a1"], "zz"]}}, ["hpc"]),
        ({"analyses": {"$all": [ids["a1"], ids["a2"]]}}, ["hpc"]),
        ({"analyses": {"$size": 1}}, ["tm"]),
        ({"authors": {"$nin": ["ann", "cid"]}}, ["empty"]),
        ({"matrixInfo.colCount": {"$gt": 10}}, ["tm"]),
        ({"matrixInfo.colCount": {"$gte": 10, "$lt": 30}}, ["hpc"]),
        ({"matrixInfo.rowCount": {"$exists": False}}, ["empty", "tm"]),
        ({"matrixInfo.rowCount": None}, ["empty", "tm"]),
        ({"species": {"$ne": "mus_musculus"}}, ["empty", "tm"]),
        ({"name": {"$not": {"$in": ["hpc"]}}}, ["empty", "tm"]),
        ({"$or": [{"name": "tm"}, {"authors": "ann"}]}, ["hpc", "tm"]),
        ({"$nor": [{"name": "tm"}, {"authors": "ann"}]}, ["empty"]),
        ({"$and": [{"name": {"$gte": "f"}}, {"name": {"$lte": "i"}}]}, ["hpc"]),
        ({"hca.project.title": "x"}, ["empty"]),
        ({"hca.flag": True}, ["empty"]),
        ({"hca.flag": 1}, []),
        ({"matrixInfo": {"colCount": 30}}, ["tm"]),
        ({"authors": ["cid"]}, ["tm"]),
        ({"name": {"$gt": 5}}, []),
        ({"_id": {"$in": []}}, []),
    ]
    for where, expected in cases:
        assert _names(store, where) == expected, where
    assert _names(store, {"seed": {"$lt": 0}}, "analysis") == ["tsne"]
    assert _names(store, {"seed": -2}, "analysis") == ["tsne"]
    assert store.count("dataset", {"authors": {"$exists": True}}) == 3
    first = store.find("dataset", sort=[("name", 1)])[0]
    assert store.count("dataset", {"_id": first["_id"]}) == 1
    assert store.count("dataset", {"_created": {"$gte": datetime(2001, 1, 1)}}) == 3
    assert store.count("dataset", {"_created": {"$gte": "Mon, 01 Jan 2001 00:00:00 GMT"}}) == 3


def test_sort_skip_limit(store: Store) -> None:
    _seed(store)
    assert [d["name"] for d in store.find("dataset")] == ["hpc", "tm", "empty"]
    assert [d["name"] for d in store.find("dataset", sort=[("name", 1)])] == [
        "empty", "hpc", "tm"]
    by_cols = store.find("dataset", sort=[("matrixInfo.colCount", -1)], skip=1, limit=1)
    assert [d["name"] for d in by_cols] == ["hpc"]


@pytest.mark.parametrize("where", [{"$where": "1"}, {"name": {"$regex": "x"}},
                                   {"name": {"$mod": [2, 0]}}, {"$or": []}, {"a..b": 1}])
def test_bad_where(store: Store, where: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        store.find("dataset", where)


def test_documents_and_compare_and_swap(store: Store) -> None:
    doc = store.insert("job", {"status": "IN_PROGRESS", "createdAt": datetime(2024, 3, 4, 5)})
    assert uuid.UUID(doc["_id"]).version == 4
    assert doc["_created"] == doc["_updated"] and len(doc["_etag"]) == 40
    got = store.get("job", doc["_id"])
    assert got is not None and got["createdAt"] == datetime(2024, 3, 4, 5)
    patched = store.patch("job", doc["_id"], {"progress": 0.5}, etag=doc["_etag"])
    assert patched["progress"] == 0.5 and patched["_etag"] != doc["_etag"]
    with pytest.raises(EtagMismatch):
        store.patch("job", doc["_id"], {"progress": 0.7}, etag=doc["_etag"])
    with pytest.raises(EtagMismatch):
        store.replace("job", doc["_id"], {"status": "ERROR"}, etag=doc["_etag"])
    with pytest.raises(EtagMismatch):
        store.delete("job", doc["_id"], etag=doc["_etag"])
    assert store.patch("job", doc["_id"], {"state": "running"})["progress"] == 0.5
    replaced, created = store.replace("job", doc["_id"], {"status": "COMPLETE"})
    assert not created and "progress" not in replaced and replaced["status"] == "COMPLETE"
    assert replaced["_created"] == doc["_created"]
    fresh = str(uuid.uuid4())
    upserted, created = store.replace("job", fresh, {"status": "ERROR"}, upsert=True)
    assert created and upserted["_id"] == fresh
    with pytest.raises(DuplicateId):
        store.insert("job", {"_id": fresh, "status": "ERROR"})
    with pytest.raises(ValidationError) as info:
        store.insert("job", {"status": "nope"})
    assert info.value.issues == {"status": "unallowed value nope"}
    with pytest.raises(NotFoundError):
        store.patch("job", str(uuid.uuid4()), {})
    assert store.delete("job", fresh, etag=upserted["_etag"]) is True
    assert store.delete("job", fresh) is False
    assert store.delete_where("job", {"status": "COMPLETE"}) == 1
    assert store.count("job") == 0
    with pytest.raises(NotFoundError):
        store.get("nothing", "x")


def test_import_keeps_meta(store: Store) -> None:
    when = datetime(2019, 5, 6, 7, 8, 9)
    doc_id = str(uuid.uuid4())
    assert store.import_documents("analysis", [{
        "_id": doc_id, "_created": when, "_updated": when, "_etag": "e" * 40,
        "name": "old", "processType": "UMAP", "parameters": {},
    }]) == (1, 0)
    got = store.get("analysis", doc_id)
    assert got is not None and got["_etag"] == "e" * 40 and got["_created"] == when


def test_media(store: Store) -> None:
    info = store.put_media(filename="icon.png", content_type="image/png", data=b"abc")
    assert len(info.id) == 24 and info.path.read_bytes() == b"abc"
    again = store.get_media(info.id)
    assert again is not None and (again.size, again.content_type) == (3, "image/png")
    assert store.existing_media([info.id, "0" * 24]) == {info.id}
    assert store.get_media("../../etc/passwd") is None
    assert store.delete_media(info.id) and not info.path.exists()
    assert store.get_media(info.id) is None


def test_tokens(store: Store) -> None:
    token = store.create_token("curator")
    assert store.check_token(token) and not store.check_token(token + "x")
    listed = store.list_tokens()
    assert [(t.name, t.revoked) for t in listed] == [("curator", None)]
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT hash FROM tokens")).scalar_one()
    assert token not in stored and len(stored) == 64
    assert store.revoke_token("curator") == 1
    assert not store.check_token(token)
    with pytest.raises(NotFoundError):
        store.revoke_token("curator")


def test_upgrade_is_idempotent_and_indexed(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "files")
    store = open_store(settings)
    try:
        assert upgrade(store.engine) is False
        engine = make_engine(settings.resolved_database_url)
        assert upgrade(engine) is False
        engine.dispose()
        query = sa.select(sa.literal(1)).where(
            store._where("job", {"status": "COMPLETE"})  # noqa: SLF001 - the SQL we run
        )
        sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
        with store.engine.connect() as conn:
            plan = " ".join(str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        assert "ix_documents_status" in plan
    finally:
        store.close()


def _patch_in_child(args: tuple[str | None, str, str, str, int]) -> str:
    url, data_dir, doc_id, etag, number = args
    store = open_store(Settings(data_dir=data_dir, database_url=url), migrate=False)
    try:
        store.patch("dataset", doc_id, {"authors": [f"p{number}"]}, etag=etag)
        return "won"
    except EtagMismatch:
        return "lost"
    finally:
        store.close()


def test_compare_and_swap_across_processes(store: Store) -> None:
    import multiprocessing

    doc = store.insert("dataset", {"name": "shared"})
    url = None if store.dialect == "sqlite" else store.engine.url.render_as_string(
        hide_password=False)
    args = [(url, str(store.data_dir), doc["_id"], doc["_etag"], n) for n in range(8)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        outcomes = pool.map(_patch_in_child, args)
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    stored = store.get("dataset", doc["_id"])
    assert stored is not None and stored["authors"] == [f"p{outcomes.index('won')}"]


# ---- hostile filters and documents: a clear QueryError/ValidationError, never a crash ----


def test_where_on_a_list_position_is_a_query_error(store: Store) -> None:
    analysis = store.insert("analysis", {"name": "a", "processType": "SPRING"})
    store.insert("dataset", {"name": "d", "analyses": [analysis["_id"]], "authors": ["x"]})
    for where in ({"analyses.0": analysis["_id"]}, {"analyses.0": {"$gt": "a"}},
                  {"authors.1": {"$in": ["x"]}}, {"analyses.0": {"$exists": True}}):
        with pytest.raises(QueryError, match="position in the list"):
            store.find("dataset", where)
    # a field below the elements of a list of strings matches nothing (no SQL error)
    assert store.find("dataset", {"analyses.x": "y"}) == []
    assert store.count("dataset", {"analyses": analysis["_id"]}) == 1


@pytest.mark.parametrize("where", [
    {"$or": [{"name": str(i)} for i in range(100_000)]},
    {"$and": [{"name": {"$ne": str(i)}} for i in range(2_000)]},
    {"name": {"$in": list(range(5_000))}},
    {"_id": {"$in": [str(uuid.uuid4()) for _ in range(5_000)]}},
    {f"f{i}": 1 for i in range(1_000)},
])
def test_where_with_too_many_terms_is_a_query_error(store: Store, where: dict) -> None:
    store.insert("dataset", {"name": "d"})
    with pytest.raises(QueryError, match="more than 500 conditions"):
        store.find("dataset", where)
    with pytest.raises(QueryError):
        store.delete_where("dataset", where)
    assert store.count("dataset") == 1


def test_where_within_the_limits_still_works(store: Store) -> None:
    docs = [store.insert("dataset", {"name": f"n{i}"}) for i in range(5)]
    where = {"$or": [{"name": f"n{i}"} for i in range(400)]}
    assert store.count("dataset", where) == 5
    ids = [d["_id"] for d in docs[:2]] + [str(uuid.uuid4()) for _ in range(300)]
    assert {d["_id"] for d in store.find("dataset", {"_id": {"$in": ids}})} == set(ids[:2])


def test_sort_on_too_many_fields_and_too_long_paths_are_query_errors(store: Store) -> None:
    store.insert("dataset", {"name": "d"})
    with pytest.raises(QueryError, match="at most 32"):
        store.find("dataset", sort=[(f"f{i}", 1) for i in range(5_000)])
    assert len(store.find("dataset", sort=[(f"f{i}", 1) for i in range(32)])) == 1
    with pytest.raises(QueryError, match="dotted parts"):
        store.find("dataset", {".".join(["a"] * 5_000): 1})


@pytest.mark.parametrize(("value", "path"), [
    (2**63, "hca.n"), (-(2**63) - 1, "hca.n"), (2**64 - 1, "hca.n"), (10**30, "hca.n"),
])
def test_integers_beyond_64_bits_are_refused_not_coerced(
    store: Store, value: int, path: str
) -> None:
    with pytest.raises(ValidationError) as info:
        store.insert("dataset", {"name": "d", "hca": {"n": value}})
    assert list(info.value.issues) == [path]
    doc = store.insert("dataset", {"name": "d", "hca": {"n": 2**63 - 1, "m": -(2**63)}})
    assert store.get("dataset", doc["_id"])["hca"] == {"n": 2**63 - 1, "m": -(2**63)}
    assert store.count("dataset", {"hca.n": 2**63 - 1}) == 1
    with pytest.raises(ValidationError):
        store.patch("dataset", doc["_id"], {"hca": {"n": value}})
    with pytest.raises(ValidationError):
        store.replace("dataset", doc["_id"], {"name": "d", "hca": {"n": value}})
    assert store.get("dataset", doc["_id"])["hca"]["n"] == 2**63 - 1


def test_documents_nested_too_deeply_are_refused(store: Store) -> None:
    deep: Any = 1
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(ValidationError, match="levels deep"):
        store.insert("dataset", {"name": "d", "hca": deep})
    ok: Any = 1
    for level in range(40):  # 60 levels of dicts and lists, under the limit of 64
        ok = {"a": [ok]} if level % 2 else {"a": ok}
    doc = store.insert("dataset", {"name": "d", "hca": ok})
    assert store.get("dataset", doc["_id"])["hca"] == ok
    assert store.count("dataset") == 1
