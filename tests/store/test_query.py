"""The ``where``/``sort`` → SQL translation (``store/_query.py``) on SQLite and PostgreSQL.

Every case runs the SQL filter over a small corpus and compares the ids it returns with
the same documents filtered in Python by :func:`_matches`, an independent reading of the
Mongo semantics the README promises (type-strict equality, "any element" through the
list fields of the schema, ``None`` for missing, comparisons within one type).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bioblocks.api._params import parse_where
from bioblocks.errors import InputError
from bioblocks.store import QueryError, Store

#: The list-typed fields of the dataset and job schemas (a path through them means
#: "any element"), written out here so the oracle does not read the schema code.
SCHEMA_LISTS = frozenset({
    "authors", "analyses", "derivedFrom", "cellMetadata", "matrixInfo.renamed",
    "matrixInfo.dropped",
})
DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"
MISSING = object()

#: Field names that try to break out of a JSON path or an SQL string literal; each is
#: stored as a key of the free-form ``hca`` dict and must be found exactly.
HOSTILE_KEYS = [
    "q'uote", "''", "'", "x' OR '1'='1", "it's'; DROP TABLE documents; --", "back\\slash",
    "\\", "\\\\", "end\\", "dollar$", "$lead", "$", "br]acket", "[0]", "[", "$[0]", "semi;colon",
    "dash--dash", "--", "/* c */", "*", "sp ace", "%", "_", "?", ":name", "ünïcödé", "日本語",
    "emoji😀", "\u2028", "\x7f", "k" * 5000, "0", "-1", "1e3", "true", "null",
]

#: Paths refused with a QueryError (→ 400 naming the field), never an SQL error.
REFUSED_PATHS = [
    'dq"uote', '"', 'hca."', 'hca.a"]', "a..b", ".lead", "trail.", "hca..n", "", ".", "..",
    "nul\x00", "hca.\x00", "new\nline", "tab\tx", "hca.\x1f", "lone\ud800", "hca.\udfff",
    ".".join(["a"] * 40),
]


def _dataset_corpus() -> list[dict[str, Any]]:
    return [
        {"name": "d0", "authors": ["ann", "bob"], "cellMetadata": ["cluster", "batch"],
         "species": "mus_musculus",
         "matrixInfo": {"colCount": 10, "rowCount": 5,
                        "renamed": [{"column": "x", "as": "y"}]},
         "hca": {"n": 1, "f": 1.5, "s": "1", "b": True, "z": None, "tags": ["t1", "t2"],
                 "sub": {"k": "v", "j": 1}, "neg": -3, "big": 2**63 - 1}},
        {"name": "d1", "authors": ["cid"], "matrixInfo": {"colCount": 30},
         "hca": {"n": 2, "s": "2", "b": False, "tags": "t1", "sub": {"k": "w"}, "zero": 0,
                 "empty": "", "none": [], "neg": -3.5}},
        # strings that spell numbers, booleans, null and the JSON text of a dict/list
        {"name": "d2", "authors": ["5", "ann"],
         "hca": {"n": "1", "b": 1, "z": 0, "f": 1, "s": "10", "sub": '{"k":"v","j":1}',
                 "tags": '["t1","t2"]', "zero": "0", "empty": None, "big": -(2**63)}},
        {"name": "d3"},
        {"name": "d4", "authors": ["ann"], "species": "homo_sapiens",
         "matrixInfo": {"colCount": 10, "renamed": [{"column": "a"}, {"as": "b"}],
                        "dropped": []},
         "hca": {"n": 1.0, "b": None, "s": "B", "sub": {"k": "v", "deep": {"x": [1, 2]}},
                 "tags": [], "zero": False, "neg": 0}},
        {"name": "O'Brien; -- \"x\"", "authors": [],
         "cellMetadata": [], "matrixInfo": {"rowCount": 7, "renamed": []},
         "hca": {"n": -1, "s": "a' OR '1'='1", "b": "true", "z": "null", "f": 2.5}},
    ]


# ---- the oracle: Mongo semantics in Python ---------------------------------------------


def _date(value: Any) -> Any:
    """DATE_FORMAT strings become datetimes at any depth, as Eve does with `where` values."""
    if isinstance(value, str):
        try:
            return datetime.strptime(value, DATE_FORMAT)
        except ValueError:
            return value
    if isinstance(value, list):
        return [_date(v) for v in value]
    if isinstance(value, dict):
        return {k: _date(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Type-strict equality: True is not 1, "1" is not 1, 1 is 1.0; dicts and lists deep."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _reach(doc: dict[str, Any], path: str, *, whole: bool, missing: bool = False) -> list[Any]:
    """The values at ``path``: through a schema list, each element (the list itself at
    the end when ``whole``); with ``missing``, MISSING where a step finds no key."""
    parts = path.split(".")
    nodes: list[Any] = [doc]
    for i, part in enumerate(parts):
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, dict) and part in node:
                found.append(node[part])
            elif missing:
                found.append(MISSING)
        prefix = ".".join(parts[: i + 1])
        if prefix in SCHEMA_LISTS and not (whole and i == len(parts) - 1):
            found = [e for f in found if isinstance(f, list) for e in f]
        nodes = found
    return nodes


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date"
    return "other"


def _eq(doc: dict[str, Any], path: str, value: Any) -> bool:
    if value is None:
        reached = _reach(doc, path, whole=False, missing=True)
        return any(v is None or v is MISSING for v in reached) or not _reach(
            doc, path, whole=True
        )
    whole = isinstance(value, list | dict)
    return any(_same(v, value) for v in _reach(doc, path, whole=whole))


_CMP = {
    "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
}


def _op(doc: dict[str, Any], path: str, op: str, arg: Any) -> bool:
    if op == "$eq":
        return _eq(doc, path, arg)
    if op == "$ne":
        return not _eq(doc, path, arg)
    if op == "$in":
        return any(_eq(doc, path, v) for v in arg)
    if op == "$nin":
        return not any(_eq(doc, path, v) for v in arg)
    if op == "$all":
        return all(_eq(doc, path, v) for v in arg)
    if op == "$exists":
        return bool(_reach(doc, path, whole=True)) == bool(arg)
    if op == "$size":
        return any(isinstance(v, list) and len(v) == arg for v in _reach(doc, path, whole=True))
    if op == "$not":
        return not _field(doc, path, arg)
    kind = _kind(arg)
    if kind not in ("number", "string", "date"):
        return False
    return any(
        _kind(v) == kind and _CMP[op](v, arg) for v in _reach(doc, path, whole=False)
    )


def _field(doc: dict[str, Any], path: str, cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        return all(_op(doc, path, op, arg) for op, arg in cond.items())
    return _eq(doc, path, cond)


def _matches(doc: dict[str, Any], where: dict[str, Any]) -> bool:
    """Whether ``doc`` matches ``where``, computed in Python (the oracle)."""
    where = _date(where)
    for key, cond in where.items():
        if key == "$and" and not all(_matches(doc, c) for c in cond):
            return False
        if key == "$or" and not any(_matches(doc, c) for c in cond):
            return False
        if key == "$nor" and any(_matches(doc, c) for c in cond):
            return False
        if not key.startswith("$") and not _field(doc, key, cond):
            return False
    return True


def _check(store: Store, resource: str, cases: list[dict[str, Any]]) -> int:
    """Compare SQL and Python on each case; return how many cases matched something."""
    docs = store.find(resource)
    wrong, hits = [], 0
    for where in cases:
        expected = sorted(d["_id"] for d in docs if _matches(d, where))
        got = sorted(d["_id"] for d in store.find(resource, where))
        if got != expected or store.count(resource, where) != len(expected):
            names = {d["_id"]: d.get("name", d.get("message")) for d in docs}
            wrong.append((where, [names[i] for i in got], [names[i] for i in expected]))
        hits += 0 < len(expected) < len(docs)
    assert not wrong, "\n".join(f"{w!r}: SQL {g}, Python {e}" for w, g, e in wrong)
    return hits


# ---- every operator, against the oracle ------------------------------------------------

DATASET_CASES: list[dict[str, Any]] = [
    # equality, numbers vs strings vs booleans, floats
    {"name": "d0"}, {"name": "O'Brien; -- \"x\""}, {"name": {"$eq": "d1"}},
    {"hca.n": 1}, {"hca.n": 1.0}, {"hca.n": "1"}, {"hca.n": -1}, {"hca.f": 1}, {"hca.f": 1.5},
    {"hca.b": True}, {"hca.b": False}, {"hca.b": 1}, {"hca.b": "true"}, {"hca.zero": 0},
    {"hca.zero": False}, {"hca.zero": "0"}, {"hca.empty": ""}, {"hca.big": 2**63 - 1},
    {"hca.big": -(2**63)}, {"hca.s": "a' OR '1'='1"}, {"hca.s": "' OR 1=1 --"},
    # nulls and missing fields
    {"hca.z": None}, {"hca.z": "null"}, {"hca.empty": None}, {"hca.missing": None},
    {"hca": None}, {"hca.b": None}, {"species": None}, {"cellMetadata": None},
    {"matrixInfo.renamed": None}, {"matrixInfo.renamed.column": None},
    {"matrixInfo.renamed.as": None}, {"analyses.x": None}, {"hca.s.x": None},
    {"hca.z": {"$ne": None}}, {"cellMetadata": {"$ne": None}}, {"hca.z": {"$in": [None, 0]}},
    {"hca.z": {"$nin": [None]}}, {"matrixInfo.rowCount": {"$in": [None, 7]}},
    # a string never equals a dict or list (nor the JSON text of one)
    {"hca.sub": '{"k":"v","j":1}'}, {"hca.tags": '["t1","t2"]'},
    {"hca.sub": {"$in": ['{"k":"v","j":1}', "x"]}}, {"hca.tags": {"$in": ['["t1","t2"]']}},
    {"hca.sub": {"$ne": '{"k":"v","j":1}'}},
    # whole dicts and lists
    {"hca.sub": {"k": "v", "j": 1}}, {"hca.sub": {"k": "w"}}, {"hca.tags": ["t1", "t2"]},
    {"hca.tags": []}, {"hca.none": []}, {"authors": ["cid"]}, {"authors": []},
    {"authors": ["bob", "ann"]}, {"matrixInfo": {"colCount": 30}},
    {"hca.sub.deep": {"x": [1, 2]}}, {"hca.sub.deep.x": [1, 2]},
    # array contains (schema lists), positions through lists of dicts
    {"authors": "ann"}, {"authors": "5"}, {"authors": 5}, {"authors": "nobody"},
    {"cellMetadata": "batch"}, {"matrixInfo.renamed.column": "x"},
    {"matrixInfo.renamed.as": "b"}, {"hca.tags": "t1"},
    # comparisons within one type
    {"hca.n": {"$gt": 1}}, {"hca.n": {"$gte": 1}}, {"hca.n": {"$lt": 1}},
    {"hca.n": {"$lte": 1.0}}, {"hca.n": {"$gt": 0, "$lt": 2}}, {"hca.n": {"$gt": "0"}},
    {"hca.neg": {"$lt": -3}}, {"hca.neg": {"$gte": -3.5, "$lte": 0}}, {"hca.f": {"$gt": 1}},
    {"hca.s": {"$gt": "1"}}, {"hca.s": {"$lt": "a"}}, {"hca.s": {"$gte": "B"}},
    {"hca.b": {"$gt": 0}}, {"hca.b": {"$gte": False}}, {"hca.n": {"$gt": None}},
    {"hca.n": {"$gt": [0]}}, {"name": {"$gte": "d1", "$lt": "d4"}}, {"name": {"$gt": "O"}},
    {"authors": {"$gt": "b"}}, {"matrixInfo.colCount": {"$gte": 10}},
    {"matrixInfo.renamed.column": {"$gt": "a"}}, {"hca.big": {"$gt": 2**62}},
    {"hca.tags": {"$gt": "["}}, {"hca.sub": {"$gt": "{"}},
    # $ne $in $nin $all $exists $size
    {"hca.n": {"$ne": 1}}, {"authors": {"$ne": "ann"}}, {"species": {"$ne": "mus_musculus"}},
    {"hca.n": {"$in": [1, "1"]}}, {"hca.n": {"$in": [2, -1]}}, {"hca.n": {"$nin": [1, "1"]}},
    {"hca.b": {"$in": [True, 1]}}, {"hca.s": {"$in": ["1", "2", "B"]}},
    {"hca.s": {"$nin": ["1", "2"]}}, {"authors": {"$in": ["cid", "bob"]}},
    {"authors": {"$in": ["5", 5]}}, {"authors": {"$nin": ["ann", "cid"]}},
    {"matrixInfo.renamed.column": {"$in": ["a", "x"]}}, {"name": {"$in": []}},
    {"name": {"$nin": []}}, {"authors": {"$all": ["ann", "bob"]}}, {"authors": {"$all": []}},
    {"hca.z": {"$exists": True}}, {"hca.z": {"$exists": False}}, {"hca": {"$exists": False}},
    {"matrixInfo.renamed.column": {"$exists": True}}, {"matrixInfo.dropped": {"$exists": 1}},
    {"cellMetadata": {"$exists": False}}, {"hca.sub.deep.x": {"$exists": True}},
    {"authors": {"$size": 1}}, {"authors": {"$size": 0}}, {"hca.tags": {"$size": 2}},
    {"matrixInfo.renamed": {"$size": 2}},
    # $not, $and, $or, $nor, several fields
    {"hca.n": {"$not": {"$gt": 1}}}, {"authors": {"$not": {"$in": ["ann"]}}},
    {"hca.z": {"$not": {"$exists": True}}},
    {"$and": [{"hca.n": {"$gte": 1}}, {"authors": "ann"}]},
    {"$or": [{"name": "d3"}, {"hca.b": True}, {"authors": "5"}]},
    {"$nor": [{"name": "d3"}, {"authors": "ann"}]},
    {"$or": [{"$and": [{"hca.n": 1}, {"hca.s": "B"}]}, {"$nor": [{"hca": {"$exists": True}}]}]},
    {"name": "d0", "hca.n": 1}, {"name": "d0", "hca.n": 2},
    {"hca.n": 1, "$or": [{"species": "homo_sapiens"}, {"cellMetadata": "cluster"}]},
    # meta fields
    {"_id": {"$exists": True}}, {"_id": {"$exists": False}}, {"_id": None},
    {"_id": {"$ne": None}}, {"_id": 5}, {"_id": {"$gt": ""}}, {"_id": {"$in": ["x", 1]}},
    {"_created": {"$gte": "Mon, 01 Jan 2001 00:00:00 GMT"}},
    {"_created": {"$lt": "Mon, 01 Jan 2001 00:00:00 GMT"}}, {"_created": "x"},
    {"_updated": {"$gt": 5}},
]


def test_every_operator_matches_python(store: Store) -> None:
    store.insert_many("dataset", _dataset_corpus())
    hits = _check(store, "dataset", DATASET_CASES)
    # the table is not vacuous: most cases pick some documents but not all
    assert hits >= len(DATASET_CASES) // 2


def test_the_oracle_agrees_with_hand_checked_answers(store: Store) -> None:
    """Guard the Python oracle itself on cases whose answers are plain from the corpus."""
    store.insert_many("dataset", _dataset_corpus())
    docs = store.find("dataset")

    def names(where: dict[str, Any]) -> list[str]:
        return sorted(d["name"] for d in docs if _matches(d, where))

    assert names({"hca.n": 1}) == ["d0", "d4"]
    assert names({"hca.b": 1}) == ["d2"]
    assert names({"authors": "ann"}) == ["d0", "d2", "d4"]
    assert names({"cellMetadata": None}) == ["d1", "d2", "d3", "d4"]
    assert names({"matrixInfo.renamed.column": None}) == sorted(
        ["d1", "d2", "d3", "d4", "O'Brien; -- \"x\""])
    assert names({"hca.sub": '{"k":"v","j":1}'}) == ["d2"]
    assert names({"hca.s": {"$lt": "a"}}) == ["d0", "d1", "d2", "d4"]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda k: ascii(k)[:24])
def test_hostile_field_names_are_found_exactly(store: Store, key: str) -> None:
    store.insert_many("dataset", [
        {"name": "one", "hca": {key: 1, "other": 1}},
        {"name": "two", "hca": {key: 2, "other": 2}},
        {"name": "text", "hca": {key: "1' OR 1=1 --", "other": 1}},
        {"name": "none", "hca": {"other": 1}},
        {"name": "listed", "hca": {key: [1, 2]}},
    ])
    path = f"hca.{key}"
    cases: list[dict[str, Any]] = [
        {path: 1}, {path: 2}, {path: "1' OR 1=1 --"}, {path: [1, 2]}, {path: None},
        {path: {"$gt": 1}}, {path: {"$gte": 1}}, {path: {"$lte": "2"}}, {path: {"$ne": 1}},
        {path: {"$in": [2, "1' OR 1=1 --"]}}, {path: {"$nin": [1]}},
        {path: {"$exists": True}}, {path: {"$exists": False}}, {path: {"$size": 2}},
        {path: {"$not": {"$lt": 2}}}, {"$or": [{path: 1}, {"hca.other": 2}]},
    ]
    assert _check(store, "dataset", cases) >= 10
    numbers = store.find("dataset", {path: {"$gte": 1}}, sort=[(path, -1)])
    assert [d["name"] for d in numbers] == ["two", "one"]
    assert store.delete_where("dataset", {path: 2}) == 1
    assert sorted(d["name"] for d in store.find("dataset")) == [
        "listed", "none", "one", "text"]


@pytest.mark.parametrize("path", REFUSED_PATHS, ids=lambda p: ascii(p)[:24])
def test_malformed_field_names_are_query_errors(store: Store, path: str) -> None:
    store.insert("dataset", {"name": "d", "hca": {"a": 1}})
    for where in ({path: 1}, {path: {"$gt": 1}}, {path: {"$in": ["a", 1]}},
                  {path: {"$exists": False}}, {path: None}, {"$or": [{path: 1}]}):
        with pytest.raises(QueryError) as info:
            store.find("dataset", where)
        assert isinstance(info.value, InputError)  # the API answers 400
        str(info.value).encode("utf-8")  # the message itself can be sent
        with pytest.raises(QueryError):
            store.delete_where("dataset", where)
    with pytest.raises(QueryError):
        store.find("dataset", sort=[(path, 1)])
    assert store.count("dataset") == 1


@pytest.mark.parametrize("where", [
    {"name": "lone \ud800 surrogate"}, {"name": {"$in": ["ok", "\udfff"]}},
    {"hca.a": {"$gt": "\ud83d"}}, {"hca": {"\ud800": 1}}, {"$or": [{"name": "\udc00"}]},
    {"_id": "\ud800"},
])
def test_values_that_are_not_unicode_are_query_errors(store: Store, where: dict) -> None:
    store.insert("dataset", {"name": "d"})
    with pytest.raises(QueryError, match="lone surrogate") as info:
        store.find("dataset", where)
    str(info.value).encode("utf-8")
    with pytest.raises(QueryError):
        store.delete_where("dataset", where)
    assert store.count("dataset") == 1


# ---- dates, sort, the python-style syntax ------------------------------------------------


def _job_corpus() -> list[dict[str, Any]]:
    started = [None, datetime(2024, 6, 2), datetime(2025, 1, 1), "missing", None]
    created = [datetime(2024, 1, 1), datetime(2024, 6, 1, 12), datetime(2025, 1, 1),
               "missing", datetime(2024, 6, 1, 12)]
    docs = []
    for i, (c, s) in enumerate(zip(created, started, strict=True)):
        doc: dict[str, Any] = {"status": "COMPLETE", "message": f"m{i}", "attempts": i % 3}
        if c != "missing":
            doc["createdAt"] = c
        if s != "missing":
            doc["startedAt"] = s
        docs.append(doc)
    return docs


JOB_CASES: list[dict[str, Any]] = [
    {"createdAt": "Sat, 01 Jun 2024 12:00:00 GMT"},
    {"createdAt": {"$gt": "Sat, 01 Jun 2024 00:00:00 GMT"}},
    {"createdAt": {"$gte": "Sat, 01 Jun 2024 12:00:00 GMT"}},
    {"createdAt": {"$lt": "Sat, 01 Jun 2024 12:00:00 GMT"}},
    {"createdAt": {"$lte": "Wed, 01 Jan 2025 00:00:00 GMT", "$gt": "Mon, 01 Jan 2024 00:00:00 GMT"}},
    {"createdAt": {"$in": ["Mon, 01 Jan 2024 00:00:00 GMT", "Wed, 01 Jan 2025 00:00:00 GMT"]}},
    {"createdAt": {"$nin": ["Mon, 01 Jan 2024 00:00:00 GMT"]}},
    {"createdAt": {"$ne": "Sat, 01 Jun 2024 12:00:00 GMT"}},
    {"createdAt": {"$exists": False}}, {"createdAt": {"$gt": 5}},
    {"startedAt": None}, {"startedAt": {"$ne": None}}, {"startedAt": {"$exists": True}},
    {"startedAt": {"$gte": "Sun, 02 Jun 2024 00:00:00 GMT"}},
    {"attempts": {"$gte": 1}}, {"attempts": 0},
    {"$or": [{"startedAt": None}, {"createdAt": {"$gt": "Tue, 31 Dec 2024 00:00:00 GMT"}}]},
]


def test_dates_match_python(store: Store) -> None:
    store.insert_many("job", _job_corpus())
    assert _check(store, "job", JOB_CASES) >= 10


def _python_sort(docs: list[dict[str, Any]], sort: list[tuple[str, int]]) -> list[str]:
    """Mongo's order: null and missing first ascending, last descending; ties by insertion."""
    ordered = list(docs)
    for path, direction in reversed(sort):
        def key(doc: dict[str, Any], path: str = path) -> tuple[int, Any]:
            values = _reach(doc, path, whole=True)
            value = values[0] if values else None
            return (0, 0) if value is None else (1, value)

        ordered.sort(key=key, reverse=direction < 0)
    return [d["_id"] for d in ordered]


@pytest.mark.parametrize("sort", [
    [("createdAt", 1)], [("createdAt", -1)], [("startedAt", 1)], [("startedAt", -1)],
    [("attempts", 1), ("createdAt", -1)], [("attempts", -1), ("startedAt", 1)],
    [("message", -1)], [("_created", 1), ("attempts", -1)], [("nothing.here", 1)],
])
def test_sort_matches_python(store: Store, sort: list[tuple[str, int]]) -> None:
    store.insert_many("job", _job_corpus())
    docs = store.find("job")
    assert [d["_id"] for d in store.find("job", sort=sort)] == _python_sort(docs, sort)


@pytest.mark.parametrize(("text", "where"), [
    ('name == "d0"', {"name": "d0"}),
    ("hca.n > 1", {"hca.n": {"$gt": 1}}),
    ('hca.n >= 1 and hca.s != "2"', {"$and": [{"hca.n": {"$gte": 1}}, {"hca.s": {"$ne": "2"}}]}),
    ('hca.n == 1 or name == "d3"', {"$or": [{"hca.n": 1}, {"name": "d3"}]}),
    ("hca.b == True", {"hca.b": True}),
    ("hca.b == 1", {"hca.b": 1}),
    ("hca.z == None", {"hca.z": None}),
    ("hca.neg < -3", {"hca.neg": {"$lt": -3}}),
    ("hca.neg <= -3.5", {"hca.neg": {"$lte": -3.5}}),
    ('hca.n in [1, "1"]', {"hca.n": {"$in": [1, "1"]}}),
    ("hca.n not in [1, 2]", {"hca.n": {"$nin": [1, 2]}}),
    ('authors == "ann"', {"authors": "ann"}),
    ("(name == 'd0' or name == 'd1') and hca.n > 1",
     {"$and": [{"$or": [{"name": "d0"}, {"name": "d1"}]}, {"hca.n": {"$gt": 1}}]}),
    ("_created > datetime(2001, 1, 1)", {"_created": {"$gt": "Mon, 01 Jan 2001 00:00:00 GMT"}}),
    ("name == \"O'Brien; -- \\\"x\\\"\"", {"name": "O'Brien; -- \"x\""}),
])
def test_python_style_where_is_the_same_filter(
    store: Store, text: str, where: dict[str, Any]
) -> None:
    assert parse_where(text) == where
    store.insert_many("dataset", _dataset_corpus())
    _check(store, "dataset", [parse_where(text)])
