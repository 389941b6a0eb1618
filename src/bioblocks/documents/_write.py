"""The write verbs: insert, replace, patch, delete one document, delete the matching ones.

Every verb validates with the resource's Cerberus validator (:mod:`bioblocks.resources`;
``data_relation`` checked against the store), checks the client's etag, stores media
uploads (and removes them again when the write fails, or the stored files they replace
when it succeeds), lets the store write ``_created``/``_updated``/``_etag``, and keeps
the files in step (:mod:`._cascade`). They raise, never answer: the Eve router turns
each exception into its status (``spec/eve-wire.md``)::

    InvalidDocuments (store.ValidationError)  the documents break their schema (422)
    ImmutableId (InputError)                  a body names another ``_id`` (400)
    EmptyBulk (InputError)                    an insert of no documents (400)
    DocumentMissing (NotFoundError)           no document with this ``_id`` (404)
    EtagRequired (ConflictError)              an existing document, no etag given (428)
    store.EtagMismatch (ConflictError)        the etag is not the stored one (412)
    store.DuplicateId (ConflictError)         an inserted ``_id`` exists already (409)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..errors import ConflictError, InputError, NotFoundError
from ..resources import MediaUpload, Resource, expand_dotted
from ..store import Doc, EtagMismatch, Store, ValidationError
from ._cascade import CASCADING, after_delete, after_write, keep_server_managed

IMMUTABLE = (
    "Attempt to update an immutable field. Usually happens when PATCH or PUT include a '_id' "
    "field, which is immutable (PUT can include it as long as it is unchanged)."
)
ETAG_REQUIRED = "To edit a document its etag must be provided using the If-Match header"
ETAG_MISMATCH = "Client and server etags don't match"


class InvalidDocuments(ValidationError):
    """Documents break their schema: ``results`` holds one entry per document, its
    ``_issues`` or None; ``on_insert`` tells an insert from a replacement or patch."""

    def __init__(self, results: list[dict[str, Any] | None], *, on_insert: bool) -> None:
        super().__init__(next(r for r in results if r))
        self.results = results
        self.on_insert = on_insert


class ImmutableId(InputError):
    """The body names an ``_id`` other than the document's."""

    def __init__(self) -> None:
        super().__init__(IMMUTABLE)


class EmptyBulk(InputError):
    """An insert of an empty list of documents."""

    def __init__(self) -> None:
        super().__init__("Empty bulk insert: send at least one document")


class DocumentMissing(NotFoundError):
    """No document of the resource has this ``_id``."""


class EtagRequired(ConflictError):
    """An existing document is changed without the etag the client last read."""

    def __init__(self) -> None:
        super().__init__(ETAG_REQUIRED)


def _not_a_document(value: object) -> str:
    return f"'{value}' is not a document, must be a dict"


def check_etag(current: Mapping[str, Any], etag: str | None) -> str:
    """Return ``etag`` if it is ``current``'s; raise EtagRequired (None) or EtagMismatch."""
    if etag is None:
        raise EtagRequired
    if etag != current["_etag"]:
        raise EtagMismatch(ETAG_MISMATCH)
    return etag


@contextmanager
def _media_stored(store: Store, resource: Resource, docs: list[Doc]) -> Iterator[None]:
    """Save the MediaUpload values of ``docs`` as media files (their ids put in place);
    remove those files again when the block fails."""
    saved: list[str] = []
    try:
        for doc in docs:
            for name in resource.media_fields:
                value = doc.get(name)
                if isinstance(value, MediaUpload):
                    doc[name] = store.put_media(filename=value.filename, data=value.data,
                                                content_type=value.content_type).id
                    saved.append(doc[name])
        yield
    except BaseException:
        for media_id in saved:
            store.delete_media(media_id)
        raise


def _drop_replaced_media(store: Store, resource: Resource, old: Doc, new: Doc) -> None:
    for name in resource.media_fields:
        before = old.get(name)
        if isinstance(before, str) and new.get(name) != before:
            store.delete_media(before)


def insert(store: Store, resource: Resource, payload: Sequence[object], *,
           forced_id: str | None = None, stamp: Mapping[str, Any] | None = None) -> list[Doc]:
    """Validate ``payload`` (one entry per document) and insert all of it or none.

    Returns the stored documents (with ``_id``, ``_created``, ``_updated``, ``_etag``).
    Writes the documents and their media uploads. With ``forced_id`` (a PUT that
    creates) the document gets that ``_id``; a body naming another raises ImmutableId.
    ``stamp`` holds fields the server sets (read-only to clients: ``author``), put into
    every document after validation.
    """
    if not payload:
        raise EmptyBulk
    results: list[dict[str, Any] | None] = []
    valid: list[Doc] = []
    for raw in payload:
        if not isinstance(raw, dict):
            results.append({"validation exception": _not_a_document(raw)})
            continue
        body = expand_dotted(raw)
        if forced_id is not None:
            if body.get("_id", forced_id) != forced_id:
                raise ImmutableId
            body["_id"] = forced_id
        doc, issues = resource.validator.validate(body, lookup=store.existing_ids)
        results.append(issues or None)
        valid.append({**doc, **(stamp or {})})
    if any(results):
        raise InvalidDocuments(results, on_insert=True)
    with _media_stored(store, resource, valid):
        return store.insert_many(resource.url, valid, validate=False)


def _changes(item_id: str, payload: object) -> Doc:
    """The body of a PATCH or PUT of ``item_id``: dotted keys expanded, ``_id`` checked."""
    if not isinstance(payload, dict):
        raise InvalidDocuments([{"validator exception": _not_a_document(payload)}],
                               on_insert=False)
    body = expand_dotted(payload)
    if body.get("_id", item_id) != item_id:
        raise ImmutableId
    return body


def _current(store: Store, resource: Resource, item_id: str) -> Doc:
    current = store.get(resource.url, item_id)
    if current is None:
        raise DocumentMissing(f"no {resource.url} with _id {item_id}")
    return current


def patch(store: Store, resource: Resource, item_id: str, payload: object, *,
          etag: str | None, settings: Settings | None = None) -> Doc:
    """Merge ``payload`` into the stored document, only if its etag is still ``etag``.

    Returns the new document. Writes it (and its media uploads, removing the media it
    replaces); with ``settings`` the files follow (:func:`._cascade.after_write`).
    """
    current = _current(store, resource, item_id)
    etag = check_etag(current, etag)
    body = _changes(item_id, payload)
    body.pop("_id", None)
    doc, issues = resource.validator.validate(body, update=True, lookup=store.existing_ids)
    if issues:
        raise InvalidDocuments([issues], on_insert=False)
    with _media_stored(store, resource, [doc]):
        new = store.patch(resource.url, item_id, doc, etag=etag, validate=False)
    _drop_replaced_media(store, resource, current, new)
    if settings is not None:
        after_write(store, settings, resource.url, current, new)
    return new


def replace(store: Store, resource: Resource, item_id: str, payload: object, *,
            etag: str | None, settings: Settings | None = None,
            stamp: Mapping[str, Any] | None = None) -> tuple[Doc, bool]:
    """Replace the stored document by ``payload`` (its etag must be ``etag``), or create it.

    Returns ``(document, created)``. A replacement keeps the server-managed fields it
    leaves out (:data:`._cascade.SERVER_MANAGED`), since the files they describe stay,
    and the stored values of the ``stamp`` fields (a created document gets ``stamp``'s);
    writes as :func:`patch` does.
    """
    current = store.get(resource.url, item_id)
    if current is None:
        if isinstance(payload, list):
            raise InvalidDocuments([{"validator exception": _not_a_document(payload)}],
                                   on_insert=False)
        return insert(store, resource, [payload], forced_id=item_id, stamp=stamp)[0], True
    etag = check_etag(current, etag)
    body = _changes(item_id, payload)
    body["_id"] = item_id
    body = keep_server_managed(resource.url, current, body)
    doc, issues = resource.validator.validate(body, lookup=store.existing_ids)
    if issues:
        raise InvalidDocuments([issues], on_insert=False)
    doc.update({name: current.get(name, value) for name, value in (stamp or {}).items()})
    with _media_stored(store, resource, [doc]):
        new, _ = store.replace(resource.url, item_id, doc, etag=etag, validate=False)
    _drop_replaced_media(store, resource, current, new)
    if settings is not None:
        after_write(store, settings, resource.url, current, new)
    return new, False


def delete(store: Store, resource: Resource, item_id: str, *, etag: str | None,
           settings: Settings | None = None) -> bool:
    """Delete the document if its etag is ``etag``; return False when there was none.

    Removes its media files; with ``settings`` what it owned goes with it
    (:func:`._cascade.after_delete`: folders, analysis documents, links).
    """
    current = store.get(resource.url, item_id)
    if current is None:
        return False
    etag = check_etag(current, etag)
    deleted = store.delete(resource.url, item_id, etag=etag)  # EtagMismatch if it changed
    if deleted and settings is not None:
        after_delete(store, settings, resource.url, current)
    return deleted


def delete_matching(store: Store, resource: Resource, where: Mapping[str, Any] | None, *,
                    settings: Settings | None = None) -> None:
    """Delete every document matching ``where`` (all of them without it).

    Datasets, analyses and documents with media go one by one, each followed by
    :func:`._cascade.after_delete` (with ``settings``) or, by :meth:`Store.delete`, the
    removal of its media files; the rest in one statement.
    """
    if resource.url not in CASCADING and not resource.media_fields:
        store.delete_where(resource.url, where)
        return
    for doc in store.find(resource.url, where):
        if store.delete(resource.url, doc["_id"]) and settings is not None:
            after_delete(store, settings, resource.url, doc)
