"""FastAPI dependencies that apply :mod:`bioblocks.access` to routes named by an id in
their path, so the routers of the other areas need one ``Depends`` each.

* :func:`install_read_filter` (app-wide): sets the store's ``READ_FILTER`` to what the
  principal may not see, so every route answers for a hidden document (an analysis of a
  private dataset, its jobs, ...) byte for byte as for a missing one.
* :func:`dataset_hidden`: the files router's test (the tree is ``<dataset id>/...``; a
  file of a hidden dataset is the 404 of a missing file).
* :func:`write_dataset` / :func:`dataset_writable` (``{item_id}`` of a dataset write
  outside the Eve router): a hidden dataset is a missing one, one the principal may
  read but not write a 403.
* :func:`item_guard` (``{item_id}`` of a resource's own routes, e.g. annotations): a
  hidden document is a 404, a write the principal may not make a 403.
* :func:`authorize` / :func:`checked`: any write of a resource (the Eve router's, and the
  job routes'), through :func:`bioblocks.access.authorize_write`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..access import (
    NOTHING_HIDDEN,
    Hidden,
    WriteRefused,
    authorize_bulk_delete,
    authorize_write,
    can_read,
    hidden_for,
)
from ..store import READ_FILTER
from .auth import principal
from .errors import EveHTTPError


async def install_read_filter(request: Request) -> None:
    """App-wide dependency: make what the principal may not see missing to every store
    read of this request (:data:`bioblocks.store.READ_FILTER`), before any route runs."""
    store = getattr(request.app.state, "store", None)
    if store is None:
        return
    READ_FILTER.set(None)
    hidden = await run_in_threadpool(hidden_for, store, principal(request))
    READ_FILTER.set(hidden if hidden else None)


def request_hidden(request: Request) -> Hidden:
    """What this request's principal may not see (set by :func:`install_read_filter`)."""
    current = READ_FILTER.get()
    if isinstance(current, Hidden):
        return current
    return NOTHING_HIDDEN


def dataset_hidden(request: Request, dataset_id: str) -> bool:
    """True when the request's principal may not see dataset ``dataset_id`` (its files too)."""
    return dataset_id in request_hidden(request).dataset


def dataset_writable(request: Request, item_id: str) -> bool:
    """Return False when dataset ``item_id`` is hidden from the principal (answer as for a
    missing one), True when it may write it or the dataset does not exist; else a 403."""
    if item_id in request_hidden(request).dataset:
        return False  # the store would call it missing; its folder must stay too
    store, who = request.app.state.store, principal(request)
    current = store.get("dataset", item_id)
    if current is None:
        return True
    if not can_read(who, current):
        return False
    try:
        authorize_write(store, who, "dataset", current, None)
    except WriteRefused as exc:
        if exc.hidden:
            return False
        raise EveHTTPError(403, exc.message) from None
    return True


async def write_dataset(request: Request) -> None:
    """Dependency: the principal must be allowed to write the ``{item_id}`` dataset (a
    hidden one is a 404)."""
    item_id = request.path_params.get("item_id")
    if isinstance(item_id, str) and not await run_in_threadpool(
            dataset_writable, request, item_id):
        raise EveHTTPError(404)


def authorize(request: Request, resource: str, item_id: str | None, payload: Any) -> bool:
    """Check a write (:func:`bioblocks.access.authorize_write`); return False when its
    target is hidden from the principal (answered as a missing document), raise a 403
    when it may see but not write it. A new dataset of a user gets its group and
    visibility added to ``payload``."""
    store, who = request.app.state.store, principal(request)
    current = store.get(resource, item_id) if item_id is not None else None
    if item_id is not None and current is None and request.method in ("PATCH", "DELETE"):
        return True  # the write itself answers for a missing document
    bodies = payload if isinstance(payload, list) else [payload]
    try:
        if item_id is None and payload is None:
            authorize_bulk_delete(who, resource)
        for body in bodies:
            extra = authorize_write(store, who, resource, current,
                                    body if isinstance(body, dict) else None)
            if extra and isinstance(body, dict):
                body.update(extra)
    except WriteRefused as exc:
        if exc.hidden:
            return False
        raise EveHTTPError(403, exc.message) from None
    return True


async def checked(request: Request, resource: str, item_id: str | None,
                  payload: Any) -> None:
    """The async handlers' :func:`authorize`: a hidden target is a 404."""
    if not await run_in_threadpool(authorize, request, resource, item_id, payload):
        raise EveHTTPError(404)


def item_guard(resource: str) -> Callable[[Request], Awaitable[None]]:
    """Return a dependency for ``{item_id}`` routes of ``resource`` outside the Eve router:
    a document the principal may not see is a 404 (reads and writes alike), one it may see
    but not write a 403 on writes."""

    async def guard(request: Request) -> None:
        item_id = request.path_params.get("item_id")
        if not isinstance(item_id, str):
            return
        who = principal(request)
        if request.method in ("GET", "HEAD"):
            return  # the store's read filter hides it
        if who.scope is None or not who.can_write_somewhere:
            return  # require_write answers
        if not await run_in_threadpool(authorize, request, resource, item_id, None):
            raise EveHTTPError(404)

    return guard
