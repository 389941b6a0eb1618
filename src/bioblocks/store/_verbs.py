"""Document verbs: the store operations the service's layers use, as plain functions.

Jobs, the pipeline, the API's cascades and the CLI read and write documents
through these functions (``get_doc``, ``find_docs``, ``insert_doc``,
``patch_doc``, ``require_doc`` and the read-modify-write
``update_with_retry``), so the calling code reads as verbs and a change of the
store's interface touches one module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ._retry import retry_on_conflict
from ._store import Doc

if TYPE_CHECKING:
    from ._store import Store

#: Lost races :func:`update_with_retry` takes before it gives up.
UPDATE_ATTEMPTS = 50


def get_doc(store: Store, collection: str, doc_id: str) -> Doc | None:
    """Return the document ``doc_id`` of ``collection``, or None when it does not exist."""
    return store.get(collection, doc_id)


def require_doc(store: Store, collection: str, doc_id: str) -> Doc:
    """Return the document ``doc_id``; raise :class:`NotFoundError` naming it when missing."""
    doc = get_doc(store, collection, doc_id)
    if doc is None:
        raise NotFoundError(f"{collection} {doc_id!r} does not exist")
    return doc


def find_docs(
    store: Store,
    collection: str,
    where: dict[str, Any] | None = None,
    *,
    sort: list[tuple[str, int]] | None = None,
    limit: int | None = None,
) -> list[Doc]:
    """Return the documents of ``collection`` matching the Mongo-style ``where``."""
    return list(store.find(collection, where or {}, sort=sort, limit=limit))


def insert_doc(store: Store, collection: str, doc: Doc) -> Doc:
    """Insert ``doc`` (with its ``_id``) and return the stored document with its meta fields."""
    return store.insert(collection, doc)


def patch_doc(store: Store, collection: str, doc_id: str, changes: Doc, *, etag: str) -> Doc:
    """Apply ``changes`` if the stored ``_etag`` is still ``etag``; return the new document.

    Raises :class:`ConflictError` when another writer changed the document first.
    """
    return store.patch(collection, doc_id, changes, etag=etag)


def update_with_retry(
    store: Store,
    collection: str,
    doc_id: str,
    change: Callable[[Doc], Doc | None],
    *,
    attempts: int = UPDATE_ATTEMPTS,
) -> Doc | None:
    """Read-modify-write ``doc_id`` with compare-and-swap, retrying on concurrent changes.

    ``change`` gets the current document and returns the fields to patch, or
    None to leave it alone. Returns the patched document (None when ``change``
    declined). Raises :class:`NotFoundError` if the document is gone and
    :class:`ConflictError` after ``attempts`` lost races.
    """

    def attempt() -> Doc | None:
        doc = require_doc(store, collection, doc_id)
        changes = change(doc)
        if changes is None:
            return None
        return patch_doc(store, collection, doc_id, changes, etag=doc["_etag"])

    return retry_on_conflict(attempt, attempts=attempts, what=f"{collection} {doc_id}")
