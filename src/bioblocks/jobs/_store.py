"""The few store operations jobs and the pipeline use, in one place.

Every read and write of documents by ``jobs`` and ``pipeline`` goes through
these functions, so the calling code reads as plain verbs and a change of the
store's interface touches one module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)

Doc = dict[str, Any]


def get_doc(store: Any, collection: str, doc_id: str) -> Doc | None:
    """Return the document ``doc_id`` of ``collection``, or None when it does not exist."""
    return store.get(collection, doc_id)


def require_doc(store: Any, collection: str, doc_id: str) -> Doc:
    """Return the document ``doc_id``; raise :class:`NotFoundError` naming it when missing."""
    doc = get_doc(store, collection, doc_id)
    if doc is None:
        raise NotFoundError(f"{collection} {doc_id!r} does not exist")
    return doc


def find_docs(
    store: Any,
    collection: str,
    where: dict[str, Any] | None = None,
    *,
    sort: list[tuple[str, int]] | None = None,
    limit: int | None = None,
) -> list[Doc]:
    """Return the documents of ``collection`` matching the Mongo-style ``where``."""
    return list(store.find(collection, where or {}, sort=sort, limit=limit))


def insert_doc(store: Any, collection: str, doc: Doc) -> Doc:
    """Insert ``doc`` (with its ``_id``) and return the stored document with its meta fields."""
    return store.insert(collection, doc)


def patch_doc(store: Any, collection: str, doc_id: str, changes: Doc, *, etag: str) -> Doc:
    """Apply ``changes`` if the stored ``_etag`` is still ``etag``; return the new document.

    Raises :class:`ConflictError` when another writer changed the document first.
    """
    return store.patch(collection, doc_id, changes, etag=etag)


def delete_doc(store: Any, collection: str, doc_id: str) -> None:
    """Delete the document ``doc_id`` (no error when it is already gone)."""
    store.delete(collection, doc_id)


def update_with_retry(
    store: Any,
    collection: str,
    doc_id: str,
    change: Callable[[Doc], Doc | None],
    *,
    attempts: int = 50,
) -> Doc | None:
    """Read-modify-write ``doc_id`` with compare-and-swap, retrying on concurrent changes.

    ``change`` gets the current document and returns the fields to patch, or
    None to leave it alone. Returns the patched document (None when ``change``
    declined). Raises :class:`NotFoundError` if the document is gone and
    :class:`ConflictError` after ``attempts`` lost races.
    """
    for _ in range(attempts):
        doc = require_doc(store, collection, doc_id)
        changes = change(doc)
        if changes is None:
            return None
        try:
            return patch_doc(store, collection, doc_id, changes, etag=doc["_etag"])
        except ConflictError:
            log.debug("concurrent change of %s %s; retrying", collection, doc_id)
    raise ConflictError(f"{collection} {doc_id} kept changing; gave up after {attempts} attempts")
