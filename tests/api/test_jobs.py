"""``POST /job`` queues work and ``PATCH /job/<id>`` cancels it, in Eve's wire format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bioblocks.api.app import create_app
from bioblocks.config import Settings
from bioblocks.jobs import claim


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path / "files", job_workers=0)
    app = create_app(settings)
    token = app.state.store.create_token("curator")
    with TestClient(app) as client:
        yield client, app.state.store, {"Authorization": f"Bearer {token}"}


def test_post_job_queues_it_and_answers_at_once(api: tuple[TestClient, Any, dict[str, str]]) -> None:
    client, store, auth = api
    dataset = store.insert("dataset", {"name": "ds", "matrixLocation": "https://example.org/m.mtx"})
    response = client.post("/job", json={"kind": "fetch-matrix", "status": "IN_PROGRESS",
                                         "associatedDataset": {"dataset": dataset["_id"]},
                                         "link": "http://portal/x"}, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["_status"] == "OK" and body["state"] == "queued" and body["kind"] == "fetch-matrix"
    assert body["status"] == "IN_PROGRESS"
    assert body["associatedDataset"] == {"dataset": dataset["_id"], "etag": dataset["_etag"]}
    assert body["link"] == "http://portal/x"
    assert body["_links"]["self"] == {"title": "Job", "href": f"job/{body['_id']}"}
    assert response.headers["Location"].endswith(f"/job/{body['_id']}")
    shown = client.get(f"/job/{body['_id']}").json()
    assert shown["state"] == "queued" and shown["progress"] == 0.0 and shown["attempts"] == 0


def test_post_job_needs_a_credential_and_valid_input(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, store, auth = api
    assert client.post("/job", json={"kind": "SPRING"}).status_code == 401
    cases = [
        ({"kind": "BLAST"}, "kind", "unknown job kind 'BLAST'"),
        ({"kind": "SPRING"}, "dataset", "a SPRING job needs a dataset id"),
        ({"kind": "SPRING", "dataset": "0d6c1c54-5d0c-4a57-9d43-1d1bb3c0b5a1"}, "dataset",
         "does not exist"),
        ({"kind": "pipeline", "parameters": {"steps": ["nap"]}}, "parameters.steps",
         "unknown steps ['nap']"),
        ({"kind": "import", "parameters": {"sources": ["../../etc/passwd"], "name": "x"}},
         "parameters.sources", "'..' is not allowed"),
        ({"kind": "pipeline", "owner": "me"}, "owner", "unknown field"),
    ]
    for body, field, text in cases:
        response = client.post("/job", json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
        answer = response.json()
        assert answer["_status"] == "ERR" and text in answer["_issues"][field], answer
    assert store.count("job") == 0


def test_an_old_style_job_document_is_still_accepted(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, _store, auth = api
    response = client.post("/job", json={"status": "IN_PROGRESS", "link": "http://x/y"},
                           headers=auth)
    assert response.status_code == 201
    assert set(response.json()) == {"_id", "_created", "_updated", "_etag", "_links", "_status"}


def test_patch_state_cancelled_cancels_with_eve_if_match_rules(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, store, auth = api
    job = client.post("/job", json={"kind": "pipeline"}, headers=auth).json()
    url = f"/job/{job['_id']}"
    assert client.patch(url, json={"state": "cancelled"}, headers=auth).status_code == 428
    stale = {**auth, "If-Match": '"0000"'}
    assert client.patch(url, json={"state": "cancelled"}, headers=stale).status_code == 412
    claim(store, job["_id"], worker="somewhere:1")  # now it is running
    etag = store.get("job", job["_id"])["_etag"]
    bad = client.patch(url, json={"state": "complete"}, headers={**auth, "If-Match": etag})
    assert bad.status_code == 422 and "state" in bad.json()["_issues"]

    response = client.patch(url, json={"state": "cancelled"}, headers={**auth, "If-Match": etag})

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{response.json()["_etag"]}"'
    after = client.get(url).json()
    assert after["state"] == "cancelled" and after["status"] == "ERROR"
    again = client.patch(url, json={"state": "cancelled"},
                         headers={**auth, "If-Match": after["_etag"]})
    assert again.status_code == 200
    missing = client.patch("/job/0d6c1c54-5d0c-4a57-9d43-1d1bb3c0b5a1",
                           json={"state": "cancelled"}, headers={**auth, "If-Match": "x"})
    assert missing.status_code == 404


def test_other_patches_are_the_generic_eve_patch(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, store, auth = api
    job = client.post("/job", json={"kind": "pipeline"}, headers=auth).json()
    response = client.patch(f"/job/{job['_id']}", json={"link": "http://portal/x"},
                            headers={**auth, "If-Match": job["_etag"]})
    assert response.status_code == 200
    assert store.get("job", job["_id"])["link"] == "http://portal/x"


def test_post_job_takes_kinds_in_any_case_and_checks_parameters_first(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, store, auth = api
    dataset = store.insert("dataset", {"name": "ds"})
    response = client.post("/job", json={"kind": "spring", "dataset": dataset["_id"],
                                         "parameters": {"n_force_iter": 20}}, headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "SPRING"
    assert response.json()["parameters"] == {"n_force_iter": 20, "seed": 0}
    cases = [
        ({"kind": "Tsne", "dataset": dataset["_id"], "parameters": {"perplexity": "x"}},
         "parameters.perplexity"),
        ({"kind": "SPRING", "dataset": dataset["_id"], "parameters": {"seed": "soon"}},
         "parameters.seed"),
        ({"kind": "pipeline", "parameters": {"params": {"umap": {"min_dist": 5}}}},
         "parameters.params.UMAP.min_dist"),
        ({"kind": "pipeline", "parameters": {"params": {"blast": {}}}},
         "parameters.params.blast"),
    ]
    for body, field in cases:
        answer = client.post("/job", json=body, headers=auth)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.json()["_issues"], answer.json()
    assert store.count("job") == 1


def test_post_job_names_every_bad_field_at_once_by_the_job_schema(
    api: tuple[TestClient, Any, dict[str, str]],
) -> None:
    client, store, auth = api
    response = client.post("/job", json={"kind": 5, "owner": "me", "link": "x",
                                         "associatedDataset": {"dataset": 7}}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["_issues"] == {
        "dataset": "must be of string type",
        "kind": "must be of string type",
        "link": "must be a string of 2 to 256 characters",
        "owner": "unknown field",
    }
    assert response.json()["_error"]["message"] == (
        "Insertion failure: 1 document(s) contain(s) error(s)")
    assert store.count("job") == 0
