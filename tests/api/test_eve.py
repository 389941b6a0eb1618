"""The conformance checklist of spec/eve-wire.md §14, plus our deliberate deviations.

Every test runs on SQLite and on PostgreSQL (the ``api_settings`` fixture).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bioblocks.resources import format_date, parse_date

GENERIC_400 = "The browser (or proxy) sent a request that this server could not understand."
DATE_RE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def new_id() -> str:
    return str(uuid.uuid4())


def post(client: TestClient, resource: str, body: Any, status: int = 201) -> dict[str, Any]:
    response = client.post(f"/{resource}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def analysis(client: TestClient, name: str = "a", **extra: Any) -> dict[str, Any]:
    return post(client, "analysis", {"name": name, "processType": "SPRING", **extra})


def seed_datasets(client: TestClient, count: int) -> None:
    store = client.app.state.store
    store.insert_many(
        "dataset", [{"name": f"ds{i:02d}", "authors": [f"a{i % 3}"]} for i in range(count)]
    )


# -- 1, 2: collection GET and paging --------------------------------------------------------


def test_empty_collection(client: TestClient) -> None:
    response = client.get("/dataset")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-total-count"] == "0"
    assert "last-modified" not in response.headers
    assert response.json() == {
        "_items": [],
        "_links": {"parent": {"title": "home", "href": "/"},
                   "self": {"title": "dataset", "href": "dataset"}},
        "_meta": {"page": 1, "max_results": 25, "total": 0},
    }


def test_paging_links_and_rules(client: TestClient) -> None:
    seed_datasets(client, 60)
    body = client.get("/dataset?max_results=10&page=2").json()
    assert body["_meta"] == {"page": 2, "max_results": 10, "total": 60}
    assert [i["name"] for i in body["_items"]] == [f"ds{i:02d}" for i in range(10, 20)]
    assert body["_links"] == {
        "parent": {"title": "home", "href": "/"},
        "self": {"title": "dataset", "href": "dataset?max_results=10&page=2"},
        "next": {"title": "next page", "href": "dataset?max_results=10&page=3"},
        "last": {"title": "last page", "href": "dataset?max_results=10&page=6"},
        "prev": {"title": "previous page", "href": "dataset?max_results=10"},
    }
    capped = client.get("/dataset?max_results=100").json()
    assert capped["_meta"]["max_results"] == 50 and len(capped["_items"]) == 50
    assert capped["_links"]["next"]["href"] == "dataset?max_results=50&page=2"
    beyond = client.get("/dataset?page=9")
    assert beyond.status_code == 200 and beyond.headers["x-total-count"] == "60"
    assert beyond.json()["_items"] == []
    assert beyond.json()["_links"] == {
        "parent": {"title": "home", "href": "/"},
        "self": {"title": "dataset", "href": "dataset?page=9"},
        "prev": {"title": "previous page", "href": "dataset?page=8"},
    }
    assert client.get("/dataset?max_results=abc").json()["_meta"]["max_results"] == 25
    assert client.get("/dataset?max_results=7.9").json()["_meta"]["max_results"] == 7
    assert client.get("/dataset?page=-2").json()["_meta"]["page"] == 2
    assert client.get("/dataset?page=abc").json()["_meta"]["page"] == 1
    # other parameters are echoed in request order, embedded/projection dropped
    links = client.get('/dataset?foo=bar&embedded={"analyses":1}&page=2').json()["_links"]
    assert links["self"]["href"] == "dataset?page=2&foo=bar"


# -- 3: where -------------------------------------------------------------------------------


def test_where_json_and_python_forms(client: TestClient) -> None:
    seed_datasets(client, 12)
    by_json = client.get('/dataset?where={"name": "ds05"}').json()
    by_python = client.get('/dataset?where=name=="ds05"').json()
    assert [i["name"] for i in by_json["_items"]] == ["ds05"]
    assert by_json["_items"] == by_python["_items"]
    assert by_json["_links"]["self"]["href"] == 'dataset?where={"name": "ds05"}'
    both = client.get('/dataset?where=name>="ds10" or (name<"ds02" and name!="ds00")').json()
    assert sorted(i["name"] for i in both["_items"]) == ["ds01", "ds10", "ds11"]
    listed = client.get('/dataset?where={"name": {"$in": ["ds01", "ds03", "zz"]}}').json()
    assert [i["name"] for i in listed["_items"]] == ["ds01", "ds03"]
    # a list field matches when one element equals the value (Mongo's "array contains")
    authors = client.get('/dataset?where={"authors": "a1"}').json()
    assert authors["_meta"]["total"] == 4
    empty = client.get('/dataset?where={"name": "none"}')
    assert empty.json()["_links"]["self"]["href"] == "dataset"
    assert empty.headers["x-total-count"] == "0"


def test_where_python_fixes_and_dates(client: TestClient) -> None:
    analysis(client, "neg", seed=-1, status="done")
    analysis(client, "pos", seed=2)
    assert client.get("/analysis?where=seed==-1").json()["_meta"]["total"] == 1
    assert client.get("/analysis?where=seed<0").json()["_meta"]["total"] == 1
    assert client.get("/analysis?where=status==None").json()["_meta"]["total"] == 1
    assert client.get('/analysis?where={"status": {"$exists": true}}').json()["_meta"][
        "total"] == 1
    assert client.get('/analysis?where={"seed": {"$gt": -5}}').json()["_meta"]["total"] == 2
    past = format_date(datetime(2001, 1, 1))
    where = json.dumps({"_created": {"$gte": past}})
    assert client.get(f"/analysis?where={where}").json()["_meta"]["total"] == 2
    assert client.get("/analysis?where=_created<datetime(2001,1,1)").json()["_meta"]["total"] == 0
    post(client, "job", {"status": "COMPLETE", "state": "running", "progress": 1})
    assert client.get("/job?where=progress==1.0").json()["_meta"]["total"] == 1
    assert client.get("/job?where=progress>0.5 and state=='running'").json()["_meta"][
        "total"] == 1


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ('{"name": {"$regex": "^d"}}', "banned"),
        ('{"$where": "1"}', "banned"),
        ('{"name": {"$foo": 1}}', "unknown or unsupported operators: $foo"),
        ("name", "Unable to parse `where` clause"),
        ("__import__('os')", "Unable to parse `where` clause"),
        ("[1, 2]", "Unable to parse `where` clause"),
    ],
)
def test_where_errors_are_400(client: TestClient, where: str, message: str) -> None:
    response = client.get("/dataset", params={"where": where})
    assert response.status_code == 400
    assert response.json()["_status"] == "ERR"
    assert message in response.json()["_error"]["message"]


# -- 4: sort --------------------------------------------------------------------------------


def test_sort_forms(client: TestClient) -> None:
    seed_datasets(client, 5)
    names = ["ds04", "ds03", "ds02", "ds01", "ds00"]
    for sort in ('[("name",-1)]', "[('name', -1)]", "-name", '{"name": -1}'):
        body = client.get("/dataset", params={"sort": sort}).json()
        assert [i["name"] for i in body["_items"]] == names, sort
    two = client.get("/dataset", params={"sort": "authors, -name"}).json()
    assert [i["name"] for i in two["_items"]] == ["ds03", "ds00", "ds04", "ds01", "ds02"]
    for bad in ("[(name", "name,", '[("name", 2)]'):
        response = client.get("/dataset", params={"sort": bad})
        assert response.status_code == 400, bad
        assert "sort" in response.json()["_error"]["message"]


# -- 5: projection --------------------------------------------------------------------------


def test_projection(client: TestClient) -> None:
    post(client, "dataset", {"name": "p", "authors": ["x"], "species": "mus_musculus"})
    item = client.get('/dataset?projection={"name": 1}').json()["_items"][0]
    assert set(item) == {"name", "_id", "_created", "_updated", "_etag", "_links"}
    item = client.get('/dataset?projection={"authors": 0, "_id": 0}').json()["_items"][0]
    assert "authors" not in item and item["species"] == "mus_musculus" and "_id" in item
    assert client.get('/dataset?projection={"_id": 0}').json()["_items"][0]["authors"] == ["x"]
    response = client.get("/dataset?projection=[1]")
    assert response.status_code == 400
    assert "projection" in response.json()["_error"]["message"]


# -- 6: embedded ----------------------------------------------------------------------------


def test_embedded(client: TestClient) -> None:
    a1, a2 = analysis(client, "one"), analysis(client, "two")
    ds = post(client, "dataset", {"name": "d", "analyses": [a2["_id"], a1["_id"], a2["_id"]]})
    store = client.app.state.store
    store.delete("analysis", a1["_id"])
    item = client.get('/dataset?embedded={"analyses": 1}').json()["_items"][0]
    assert [a["name"] for a in item["analyses"]] == ["two", "two"]
    assert "_links" not in item["analyses"][0]
    assert item["analyses"][0]["_id"] == a2["_id"]
    related = item["_links"]["related"]["analyses"]
    assert [r["href"] for r in related] == [
        f"analysis/{a2['_id']}", f"analysis/{a1['_id']}", f"analysis/{a2['_id']}"
    ]
    assert related[0]["title"] == "Analysi"
    # scalar dangling reference → null; nested embedding through the analysis' dataset
    analysis(client, "three", dataset=ds["_id"])
    nested = client.get(
        '/analysis?where={"name": "three"}&embedded={"dataset": 1, "dataset.analyses": 1}'
    ).json()["_items"][0]
    assert nested["dataset"]["name"] == "d"
    assert [a["name"] for a in nested["dataset"]["analyses"]] == ["two", "two"]
    store.delete("dataset", ds["_id"])
    dangling = client.get('/analysis?where={"name": "three"}&embedded={"dataset": 1}').json()
    assert dangling["_items"][0]["dataset"] is None
    ignored = client.get('/analysis?embedded={"name": 1, "bogus": 1}')
    assert ignored.status_code == 200
    for bad in ("{bad", "[1]"):
        response = client.get("/dataset", params={"embedded": bad})
        assert response.status_code == 400
        assert response.json()["_error"]["message"] == "Unable to parse `embedded` clause"


# -- 7: item GET ----------------------------------------------------------------------------


def test_item_get_and_conditional(client: TestClient) -> None:
    ds = post(client, "dataset", {"name": "item"})
    response = client.get(f"/dataset/{ds['_id']}/")
    assert response.status_code == 200
    etag = response.json()["_etag"]
    assert response.headers["etag"] == f'"{etag}"'
    assert DATE_RE.match(response.headers["last-modified"])
    links = response.json()["_links"]
    assert links == {
        "self": {"title": "Dataset", "href": f"dataset/{ds['_id']}"},
        "parent": {"title": "home", "href": "/"},
        "collection": {"title": "dataset", "href": "dataset"},
    }
    for inm in (f'"{etag}"', f'W/"{etag}"', etag):
        cached = client.get(f"/dataset/{ds['_id']}", headers={"If-None-Match": inm})
        assert cached.status_code == 304 and cached.content == b""
        assert cached.headers["etag"] == f'"{etag}"'
    assert client.get(f"/dataset/{ds['_id']}", headers={"If-None-Match": "*"}).status_code == 200
    updated = parse_date(response.headers["last-modified"])
    assert updated is not None
    ims = format_date(updated)
    assert client.get(f"/dataset/{ds['_id']}",
                      headers={"If-Modified-Since": ims}).status_code == 304
    old = format_date(updated - timedelta(days=1))
    both = {"If-None-Match": f'"{etag}"', "If-Modified-Since": old}
    assert client.get(f"/dataset/{ds['_id']}", headers=both).status_code == 200
    # a malformed If-Modified-Since is ignored (Eve: 500)
    bad = client.get(f"/dataset/{ds['_id']}", headers={"If-Modified-Since": "yesterday"})
    assert bad.status_code == 200
    assert client.get(f"/dataset/{ds['_id']}?version=all").status_code == 200
    missing = client.get(f"/dataset/{new_id()}")
    assert missing.status_code == 404 and missing.json()["_error"]["code"] == 404
    upper = client.get(f"/dataset/{ds['_id'].upper()}")
    assert upper.status_code == 404


# -- 8, 9: POST -----------------------------------------------------------------------------


def test_post_single_bulk_duplicate(client: TestClient) -> None:
    response = client.post("/dataset", json={"name": "single", "meta.x": 1} | {})
    assert response.status_code == 422
    assert response.json()["_issues"] == {"meta": "unknown field"}
    response = client.post("/dataset", json={"name": "single"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"_id", "_updated", "_created", "_etag", "_links", "_status"}
    assert body["_created"] == body["_updated"] and body["_status"] == "OK"
    assert response.headers["location"] == f"http://testserver/dataset/{body['_id']}"
    assert "etag" not in response.headers
    stored = client.get(f"/dataset/{body['_id']}").json()
    assert stored["analyses"] == [] and stored["authors"] == [] and stored["derivedFrom"] == []
    fixed = new_id()
    bulk = client.post("/dataset", json=[{"name": "b1", "_id": fixed}, {"name": "b2"}])
    assert bulk.status_code == 201
    items = bulk.json()["_items"]
    assert bulk.json()["_status"] == "OK" and [i["_status"] for i in items] == ["OK", "OK"]
    assert items[0]["_id"] == fixed
    assert bulk.headers["location"].endswith(f"/dataset/{fixed}")
    one = client.post("/dataset", json=[{"name": "one"}])
    assert one.status_code == 201 and "_items" not in one.json()
    dup = client.post("/dataset", json={"name": "dup", "_id": fixed})
    assert dup.status_code == 409 and dup.json()["_error"]["code"] == 409
    assert client.get("/dataset").json()["_meta"]["total"] == 4
    empty = client.post("/dataset", json=[])
    assert empty.status_code == 400


def test_post_validation_messages(client: TestClient) -> None:
    response = client.post("/dataset", json={"zzz": 1})
    assert response.status_code == 422
    assert response.json() == {
        "_status": "ERR",
        "_issues": {"name": "required field", "zzz": "unknown field"},
        "_error": {"code": 422, "message": "Insertion failure: 1 document(s) contain(s) error(s)"},
    }
    issues = post(client, "dataset", {
        "name": "", "authors": ["ok", "", 5], "species": "cat", "analyses": ["nope"],
        "matrixInfo": {"colCount": "x", "zz": 1}, "_created": "x",
    }, 422)["_issues"]
    assert issues == {
        "name": "min length is 1",
        "authors": {"1": "min length is 1", "2": "must be of string type"},
        "species": "unallowed value cat",
        "analyses": {"0": "value 'nope' must exist in resource 'analysis', field '_id'."},
        "matrixInfo": {"colCount": "must be of integer type", "zz": "unknown field"},
        "_created": "unknown field",
    }
    vis = post(client, "visualization", {
        "authors": ["x" * 33], "citations": [{"link": ""}], "compatibleData": [],
        "exampleDataset": "e", "isOriginal": "yes", "name": "v", "summary": "short",
        "repo": {"link": "l"}, "version": "1.2",
    }, 422)["_issues"]
    assert vis == {
        "authors": {"0": "max length is 32"},
        "citations": {"0": {"link": "min length is 1"}},
        "isOriginal": "must be of boolean type",
        "summary": "min length is 8",
        "repo": {"lastUpdate": "required field", "version": "required field"},
        "version": "value does not match regex '^[0-9]+.[0-9]+.[0-9]+$'",
    }
    job = post(client, "job", {"status": None, "state": "x", "createdAt": "2024-01-01"}, 422)
    assert job["_issues"] == {
        "status": "null value not allowed",
        "state": "unallowed value x",
        "createdAt": "must be of datetime type",
    }
    ok = post(client, "job", {"status": "COMPLETE", "createdAt": "Mon, 04 Mar 2024 10:11:12 GMT"})
    got = client.get(f"/job/{ok['_id']}").json()
    assert got["createdAt"] == "Mon, 04 Mar 2024 10:11:12 GMT"
    bulk = client.post("/dataset", json=[{"name": "fine"}, {"name": 5}, "abc"])
    assert bulk.status_code == 422
    assert bulk.json() == {
        "_status": "ERR",
        "_items": [
            {"_status": "OK"},
            {"_status": "ERR", "_issues": {"name": "must be of string type"}},
            {"_status": "ERR",
             "_issues": {"validation exception": "'abc' is not a document, must be a dict"}},
        ],
        "_error": {"code": 422, "message": "Insertion failure: 2 document(s) contain(s) error(s)"},
    }
    assert client.get("/dataset").json()["_meta"]["total"] == 0
    bad_id = post(client, "dataset", {"name": "x", "_id": "not-a-uuid"}, 422)["_issues"]
    assert "_id" in bad_id and "does not match regex" in bad_id["_id"]


# -- 10: PATCH ------------------------------------------------------------------------------


def test_patch_rules(client: TestClient) -> None:
    ds = post(client, "dataset", {"name": "p", "matrixInfo": {"colCount": 1, "rowCount": 2}})
    url = f"/dataset/{ds['_id']}"
    assert client.patch(url, json={"name": "q"}).status_code == 428
    wrong = client.patch(url, json={"name": "q"}, headers={"If-Match": '"nope"'})
    assert wrong.status_code == 412
    assert wrong.json()["_error"]["message"] == "Client and server etags don't match"
    invalid = client.patch(url, json={"name": 5}, headers={"If-Match": ds["_etag"]})
    assert invalid.status_code == 422
    assert invalid.json() == {"_issues": {"name": "must be of string type"}, "_status": "ERR"}
    listed = client.patch(url, json=[1], headers={"If-Match": ds["_etag"]})
    assert listed.status_code == 422 and "validator exception" in listed.json()["_issues"]
    immutable = client.patch(url, json={"_id": new_id()}, headers={"If-Match": ds["_etag"]})
    assert immutable.status_code == 400
    assert "immutable" in immutable.json()["_error"]["message"]
    response = client.patch(url, json={"matrixInfo": {"colCount": 9}, "_id": ds["_id"]},
                            headers={"If-Match": f'W/"{ds["_etag"]}"'})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == f'"{body["_etag"]}"' and body["_etag"] != ds["_etag"]
    assert "last-modified" not in response.headers
    stored = client.get(url).json()
    assert stored["matrixInfo"] == {"colCount": 9, "rowCount": 2}
    assert stored["_created"] == ds["_created"]
    dotted = client.patch(url, json={"matrixInfo.rowCount": 5},
                          headers={"If-Match": body["_etag"]})
    assert dotted.status_code == 200
    assert client.get(url).json()["matrixInfo"] == {"colCount": 9, "rowCount": 5}
    empty = client.patch(url, json={}, headers={"If-Match": dotted.json()["_etag"]})
    assert empty.status_code == 200 and empty.json()["_etag"] != dotted.json()["_etag"]
    assert client.patch(f"/dataset/{new_id()}", json={}).status_code == 404


# -- 11: PUT --------------------------------------------------------------------------------


def test_put_replace_and_upsert(client: TestClient) -> None:
    ds = post(client, "dataset", {"name": "r", "authors": ["x"], "species": "mus_musculus"})
    url = f"/dataset/{ds['_id']}"
    assert client.put(url, json={"name": "r2"}).status_code == 428
    missing = client.put(url, json={}, headers={"If-Match": ds["_etag"]})
    assert missing.status_code == 422
    assert missing.json() == {"_issues": {"name": "required field"}, "_status": "ERR"}
    response = client.put(url, json={"name": "r2"}, headers={"If-Match": ds["_etag"]})
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{response.json()["_etag"]}"'
    assert DATE_RE.match(response.headers["last-modified"])
    stored = client.get(url).json()
    assert stored["name"] == "r2" and stored["authors"] == [] and "species" not in stored
    assert stored["_created"] == ds["_created"]
    fresh = new_id()
    upsert = client.put(f"/dataset/{fresh}", json={"name": "new"})
    assert upsert.status_code == 201
    assert upsert.headers["location"] == f"http://testserver/dataset/{fresh}"
    assert client.get(f"/dataset/{fresh}").json()["name"] == "new"


# -- 12: DELETE -----------------------------------------------------------------------------


def test_delete_item_and_collection(client: TestClient) -> None:
    ds = post(client, "dataset", {"name": "d"})
    url = f"/dataset/{ds['_id']}"
    assert client.delete(url).status_code == 428
    assert client.delete(url, headers={"If-Match": "x"}).status_code == 412
    gone = client.delete(url, headers={"If-Match": f'"{ds["_etag"]}"'})
    assert gone.status_code == 204 and gone.content == b""
    assert gone.headers["content-type"] == "application/json"
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 204
    seed_datasets(client, 6)
    assert client.delete('/dataset?where={"authors": "a0"}').status_code == 204
    assert client.get("/dataset").json()["_meta"]["total"] == 4
    assert client.delete("/dataset").status_code == 204
    assert client.get("/dataset").json()["_meta"]["total"] == 0


# -- 13: errors -----------------------------------------------------------------------------


def test_error_envelopes(client: TestClient) -> None:
    missing = client.get("/nothing")
    assert missing.status_code == 404
    assert missing.json()["_error"]["message"].startswith("The requested URL was not found")
    not_allowed = client.put("/dataset", json={})
    assert not_allowed.status_code == 405 and "allow" not in not_allowed.headers
    assert not_allowed.json() == {"_status": "ERR", "_error": {
        "code": 405, "message": "The method is not allowed for the requested URL."}}
    assert client.post(f"/dataset/{new_id()}", json={}).status_code == 405
    for content_type in ("text/plain", "application/merge-patch+json", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = client.post("/dataset", content=b'{"name": "x"}', headers=headers)
        assert response.status_code == 400
        assert response.json()["_error"]["message"].startswith(
            "Unknown or no Content-Type header supplied")
    malformed = client.post("/dataset", content=b'{"name": ',
                            headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["_error"][
        "message"]
    assert client.post("/dataset", data={}).status_code == 400
    too_long = client.post("/dataset", json={"name": "x" * 129})
    assert too_long.json()["_issues"] == {"name": "max length is 128"}


def test_body_limit_is_413(api_settings: Any, tmp_path: Any) -> None:
    from bioblocks.api import create_app

    app = create_app(api_settings.model_copy(update={"max_body_bytes": 100}))
    try:
        token = app.state.store.create_token("t")
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        response = client.post("/dataset", json={"name": "x" * 200})
        assert response.status_code == 413
        assert "BIOBLOCKS_MAX_BODY_BYTES" in response.json()["_error"]["message"]
        assert client.post("/dataset", json={"name": "x"}).status_code == 201
    finally:
        app.state.store.close()


def test_credentials(anon: TestClient, client: TestClient) -> None:
    assert anon.get("/dataset").status_code == 200
    for method in ("post", "delete"):
        response = getattr(anon, method)("/dataset", **({"json": {"name": "x"}}
                                                          if method == "post" else {}))
        assert response.status_code == 401
        assert "Bearer" in response.json()["_error"]["message"]
    wrong = anon.post("/dataset", json={"name": "x"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    store = client.app.state.store
    token = store.create_token("temp")
    ok = anon.post("/dataset", json={"name": "x"}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 201
    store.revoke_token("temp")
    revoked = anon.post("/dataset", json={"name": "y"},
                        headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


# -- 14: media ------------------------------------------------------------------------------

VIS_FORM = {
    "name": "SPRING", "authors": '["Weinreb"]', "citations": '[{"link": "https://x"}]',
    "compatibleData": '["spring"]', "exampleDataset": "hpc", "isOriginal": "true",
    "repo": '{"lastUpdate": "2018", "link": "https://github.com/x", "version": "1.0"}',
    "summary": "force-directed layouts", "version": "1.0.0",
}


def test_media_upload_and_download(client: TestClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    response = client.post("/visualization", data=VIS_FORM,
                           files={"icon": ("icon.png", png, "image/png")})
    assert response.status_code == 201, response.text
    vis = client.get(f"/visualization/{response.json()['_id']}").json()
    assert vis["isOriginal"] is True and vis["citations"] == [{"link": "https://x"}]
    assert re.fullmatch(r"/media/[a-f0-9]{24}", vis["icon"])
    got = client.get(vis["icon"])
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    assert got.headers["accept-ranges"] == "bytes" and DATE_RE.match(got.headers["last-modified"])
    part = client.get(vis["icon"], headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and part.content == png[2:6]
    assert part.headers["content-range"] == f"bytes 2-5/{len(png)}"
    tail = client.get(vis["icon"], headers={"Range": "bytes=40-"})
    assert tail.status_code == 206 and tail.content == png[40:]
    later = format_date(datetime.utcnow() + timedelta(days=1))
    assert client.get(vis["icon"], headers={"If-Modified-Since": later}).status_code == 304
    assert client.get("/media/" + "0" * 24).status_code == 404
    assert client.get("/media/nothex").status_code == 404
    as_string = client.post("/visualization", json={"icon": "x"}).json()["_issues"]
    assert as_string["icon"] == "must be of media type"
    typed = client.post("/visualization", data={**VIS_FORM, "name": "123"},
                        files={"icon": ("i.png", png, "image/png")})
    assert typed.json()["_issues"] == {"name": "must be of string type"}
    # replacing the icon deletes the old file; deleting the item deletes the new one
    old_path = client.app.state.store.media_path(vis["icon"].split("/")[-1])
    assert old_path.is_file()
    patched = client.patch(f"/visualization/{vis['_id']}", headers={"If-Match": vis["_etag"]},
                           files={"icon": ("new.png", b"new", "image/png")})
    assert patched.status_code == 200, patched.text
    assert not old_path.exists()
    icon = client.get(f"/visualization/{vis['_id']}").json()["icon"]
    assert client.get(icon).content == b"new"
    client.delete(f"/visualization/{vis['_id']}", headers={"If-Match": patched.json()["_etag"]})
    assert client.get(icon).status_code == 404


# -- 15: home, OPTIONS, HEAD, override, JSON only ----------------------------------------------


def test_home_options_head_override(client: TestClient) -> None:
    home = client.get("/?x=1")
    assert home.json() == {"_links": {"child": [
        {"href": r, "title": r} for r in ("dataset", "analysis", "job", "vignette",
                                          "visualization", "annotation", "geneset")
    ]}}
    options = client.options("/dataset")
    assert options.status_code == 200 and options.content == b""
    assert options.headers["allow"] == "GET, HEAD, POST, DELETE, OPTIONS"
    item_options = client.options(f"/dataset/{new_id()}")
    assert item_options.headers["allow"] == "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
    seed_datasets(client, 3)
    get = client.get("/dataset")
    head = client.head("/dataset")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["x-total-count"] == "3"
    ds = get.json()["_items"][0]
    override = client.post(f"/dataset/{ds['_id']}", json={"name": "over"},
                           headers={"X-HTTP-Method-Override": "PATCH", "If-Match": ds["_etag"]})
    assert override.status_code == 200
    assert client.get(f"/dataset/{ds['_id']}").json()["name"] == "over"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in ("application/xml", browser):
        response = client.get("/dataset", headers={"Accept": accept})
        assert response.headers["content-type"] == "application/json"
        assert response.json()["_meta"]["total"] == 3
    pretty = client.get("/dataset?pretty")
    assert pretty.text.startswith("{\n") and pretty.json()["_links"]["self"]["href"].endswith(
        "pretty=")


def test_unexpected_error_is_envelope(client: TestClient, monkeypatch: Any) -> None:
    store = client.app.state.store

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "find", boom)
    anon = TestClient(client.app, raise_server_exceptions=False)
    response = anon.get("/dataset")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["_error"]["code"] == 500


def test_cors_exposes_headers(api_settings: Any) -> None:
    from bioblocks.api import create_app

    app = create_app(api_settings.model_copy(update={"cors_origins": ["https://portal.org"]}))
    try:
        client = TestClient(app)
        response = client.get("/dataset", headers={"Origin": "https://portal.org"})
        assert response.headers["access-control-allow-origin"] == "https://portal.org"
        exposed = response.headers["access-control-expose-headers"]
        assert {"ETag", "X-Total-Count", "Location"} <= {h.strip() for h in exposed.split(",")}
        preflight = client.options("/dataset", headers={
            "Origin": "https://portal.org", "Access-Control-Request-Method": "PATCH"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://portal.org"
    finally:
        app.state.store.close()


def test_cors_answers_any_origin_by_default(anon: TestClient, api_token: str) -> None:
    """As the old server (Eve's X_DOMAINS='*'): any origin reads; tokens are headers."""
    response = anon.get("/dataset", headers={"Origin": "http://old-portal.example:8080"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    preflight = anon.options("/dataset/00000000-0000-4000-8000-000000000000", headers={
        "Origin": "http://old-portal.example:8080",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match",
    })
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "if-match"} <= allowed
    assert "PATCH" in preflight.headers["access-control-allow-methods"]


def test_cors_can_be_turned_off(api_settings: Any) -> None:
    from bioblocks.api import create_app

    app = create_app(api_settings.model_copy(update={"cors_origins": []}))
    try:
        response = TestClient(app).get("/dataset", headers={"Origin": "https://elsewhere.org"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
    finally:
        app.state.store.close()


def test_openapi_lists_every_resource(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for name in ("dataset", "analysis", "job", "vignette", "visualization"):
        assert {"get", "post", "delete"} <= set(spec["paths"][f"/{name}"])
        assert {"get", "patch", "put", "delete"} <= set(spec["paths"][f"/{name}/{{item_id}}"])
        params = {p["name"] for p in spec["paths"][f"/{name}"]["get"]["parameters"]}
        assert {"where", "sort", "page", "max_results", "projection", "embedded"} <= params
    assert "/media/{media_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_hostile_input_is_never_500(client: TestClient) -> None:
    post(client, "dataset", {"name": "ok"})
    deep_json = '{"$and": [' * 40 + '{"name": "x"}' + "]}" * 40
    deep_python = "(" * 5000 + "name=='x'" + ")" * 5000
    cases = [
        ("get", "/dataset", {"params": {"where": '{"_id": 5}'}}, 200),
        ("get", "/dataset", {"params": {"where": '{"_created": {"$gt": 5}}'}}, 200),
        ("get", "/dataset", {"params": {"where": deep_json}}, 400),
        ("get", "/dataset", {"params": {"where": deep_python}}, None),
        ("get", "/dataset", {"params": {"where": '{"name": "a\\u0000b"}'}}, None),
        ("get", "/dataset", {"params": {"sort": "na\u0000me"}}, None),
        ("get", "/dataset", {"params": {"where": '{"a\\"b": 1}'}}, 400),
        ("post", "/dataset", {"json": {"name": "nul\u0000"}}, None),
        ("get", "/analysis", {"params": {"where": "seed==99999999999999999999"}}, 400),
        ("get", "/dataset", {"params": {"page": "99999999999999999999999"}}, 200),
        ("post", "/dataset", {"json": {"name": "big", "matrixInfo": {"cells": 2**70}}}, None),
    ]
    for method, url, kwargs, expected in cases:
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code < 500, (url, kwargs, response.text)
        assert response.headers["content-type"] == "application/json"
        if expected is not None:
            assert response.status_code == expected, (url, kwargs, response.text)


def test_private_reads(api_settings: Any) -> None:
    from bioblocks.api import create_app

    app = create_app(api_settings.model_copy(update={"public_reads": False}))
    try:
        token = app.state.store.create_token("reader")
        anon = TestClient(app)
        assert anon.get("/dataset").status_code == 401
        assert anon.get("/").status_code == 401
        reader = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        assert reader.get("/dataset").status_code == 200
    finally:
        app.state.store.close()


# ---- hostile queries and bodies: a 4xx envelope with a message, never a 500 -------------


@pytest.mark.parametrize(("params", "words"), [
    ({"where": '{"analyses.0": "x"}'}, "position in the list"),
    ({"where": '{"authors.2": {"$in": ["x"]}}'}, "position in the list"),
    ({"where": '{"$or": [' + ",".join(f'{{"a":{i}}}' for i in range(1000)) + "]}"},
     "more than 500"),
    ({"where": '{"name": {"$in": [' + ",".join(map(str, range(2000))) + "]}}"},
     "more than 500"),
    ({"where": " or ".join(f"a=={i}" for i in range(1000))}, "more than 500"),
    ({"sort": ",".join(f"f{i}" for i in range(3000))}, "at most 32"),
    ({"sort": str([(f"f{i}", 1) for i in range(100)])}, "at most 32"),
    ({"where": '{"a":' * 300 + "1" + "}" * 300}, "where"),
    ({"where": '{"' + ".".join(["a"] * 500) + '": 1}'}, "dotted parts"),
])
def test_hostile_queries_are_400_envelopes(
    client: TestClient, params: dict[str, str], words: str
) -> None:
    client.post("/dataset", json={"name": "x", "authors": ["a", "b"]})
    for method in ("GET", "DELETE") if "where" in params else ("GET",):
        response = client.request(method, "/dataset", params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["_status"] == "ERR" and words in body["_error"]["message"]
    assert client.get("/dataset").json()["_meta"]["total"] == 1


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [300, 5000])
def test_bodies_nested_too_deeply_are_400(client: TestClient, levels: int) -> None:
    body = '{"name": "x", "hca": ' + _deep(levels) + "}"
    response = client.post("/dataset", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["_error"]["message"]
    assert client.get("/dataset").json()["_meta"]["total"] == 0


@pytest.mark.parametrize("number", ["100000000000000000000000", "18446744073709551615",
                                    "-9223372036854775809", "9" * 5000])
def test_integers_beyond_64_bits_are_422_not_floats(client: TestClient, number: str) -> None:
    body = '{"name": "x", "hca": {"counts": [1, ' + number + "]}}"
    response = client.post("/dataset", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert list(response.json()["_issues"]) == ["hca.counts.1"]
    form = client.post("/dataset", files={"name": (None, "x"),
                                          "hca": (None, '{"n": ' + number + "}")})
    assert form.status_code == 422
    assert list(form.json()["_issues"]) == ["hca.n"]
    assert client.get("/dataset").json()["_meta"]["total"] == 0
    ok = client.post("/dataset", content='{"name": "x", "hca": {"n": 9223372036854775807, '
                                         '"s": "100000000000000000000000"}}',
                     headers={"Content-Type": "application/json"})
    assert ok.status_code == 201
    stored = client.get(f"/dataset/{ok.json()['_id']}").json()
    assert stored["hca"] == {"n": 9223372036854775807, "s": "100000000000000000000000"}
