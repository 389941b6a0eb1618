"""The application's middleware: a full disk anywhere is a 507 envelope, never a 500."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient


@pytest.mark.parametrize("failure", ["sqlite", "oserror"])
def test_a_full_disk_in_the_store_is_507(
    failure: str, api_app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def full(*args: Any, **kwargs: Any) -> Any:
        if failure == "sqlite":
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError(
                "database or disk is full"))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(api_app.state.store, "insert_many", full)
    answer = client.post("/dataset", json={"name": "x"})

    assert answer.status_code == 507, answer.text
    body = answer.json()
    assert body["_status"] == "ERR" and body["_error"]["code"] == 507
    assert "Insufficient Storage" in body["_error"]["message"]
    monkeypatch.undo()
    assert client.post("/dataset", json={"name": "x"}).status_code == 201
