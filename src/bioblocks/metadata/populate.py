"""``populate``: load a metadata file into the store through the document service.

A *metadata file* has the shape of the old server's ``db_init.json``: a JSON
object with the lists ``analyses``, ``datasets``, ``visualizations``,
``vignettes`` and optionally ``jobs``; every document carries its ``_id`` (a
lower-case UUID) and the fields of its resource; a media field (``icon``) is a
path to an image file, relative to the JSON file. Keys starting with ``$``
(such as ``$schema``) are ignored, and so are the server-assigned ``_created``,
``_updated``, ``_etag`` and ``_links`` of a document.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import documents
from ..config import Settings
from ..errors import ConflictError, InputError
from ..progress import Progress, null_progress
from ..resources import RESOURCES, UUID_RE, MediaUpload, Resource
from ..store import Doc, Store, open_store
from ._shared import COLLECTIONS, KEY_OF, Counts, first_issue, references

log = logging.getLogger(__name__)

#: The example metadata shipped with the package (``bioblocks populate`` without a file).
EXAMPLE_METADATA = Path(__file__).resolve().parent.parent / "data" / "example_metadata.json"
#: Keys of a metadata file's documents that populate ignores (server-assigned ones
#: included, so a document saved from a GET can be loaded back).
_IGNORED = frozenset({"_id", "_created", "_updated", "_etag", "_links"})


@dataclass
class PopulateReport:
    """Result of :func:`populate`: counts per resource (in load order) and icons uploaded."""

    source: Path
    counts: dict[str, Counts] = field(default_factory=dict)
    media_uploaded: int = 0


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _label(key: str, index: int, doc: Mapping[str, Any] | None = None) -> str:
    doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
    return f"{key}[{index}]" + (f" (_id {doc_id})" if isinstance(doc_id, str) else "")


def read_metadata_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read and shape-check a metadata file; return ``{resource: [documents]}``.

    Checks the structure only (top-level keys, lists of objects, UUID ``_id``s,
    no duplicate ids); field rules are checked by :func:`populate`. Raises
    :class:`InputError` naming the document at fault.
    """
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(
            f"{path}: the top level must be a JSON object with the lists "
            f"{', '.join(k for k, _ in COLLECTIONS)}"
        )
    known = {k for k, _ in COLLECTIONS}
    unknown = [k for k in data if k not in known and not k.startswith("$")]
    if unknown:
        raise InputError(
            f"{path}: unknown top-level key {unknown[0]!r}; expected "
            f"{', '.join(k for k, _ in COLLECTIONS)}"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for key, resource in COLLECTIONS:
        docs = data.get(key, [])
        if not isinstance(docs, list):
            raise InputError(f"{path}: {key!r} must be a list of documents")
        seen: set[str] = set()
        for index, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise InputError(f"{path}: {key}[{index}] must be a JSON object")
            doc_id = doc.get("_id")
            if not isinstance(doc_id, str) or not UUID_RE.fullmatch(doc_id):
                raise InputError(
                    f"{path}: {_label(key, index, doc)}: field '_id': populate needs a "
                    f"lower-case UUID _id in every document (e.g. {uuid.uuid4()}), got "
                    f"{doc_id!r}"
                )
            if doc_id in seen:
                raise InputError(f"{path}: {_label(key, index, doc)}: _id appears twice")
            seen.add(doc_id)
        out[resource] = docs
    return out


def _dependency_order(docs: list[dict[str, Any]], resource: Resource) -> list[int]:
    """Indices of ``docs`` ordered so that references within the resource come first."""
    ids = {d["_id"]: i for i, d in enumerate(docs)}
    deps = {
        i: {ids[ref] for _, res, ref in references(resource, d) if res == resource.url
            and ref in ids and ids[ref] != i}
        for i, d in enumerate(docs)
    }
    order: list[int] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(i: int) -> None:
        if state.get(i) == 2:
            return
        if state.get(i) == 1:
            raise InputError(
                f"{KEY_OF[resource.url]}: documents reference each other in a cycle "
                f"(through {docs[i]['_id']}); break the cycle"
            )
        state[i] = 1
        for j in sorted(deps[i]):
            visit(j)
        state[i] = 2
        order.append(i)

    for i in range(len(docs)):
        visit(i)
    return order


@dataclass
class _Planned:
    """One document of the file, ready to send: fields, media files and where it came from."""

    resource: Resource
    label: str
    doc_id: str
    fields: dict[str, Any]
    media: dict[str, MediaUpload]


def _read_media(base: Path, value: Any, label: str, name: str) -> MediaUpload:
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{label}: field '{name}': give the path of an image file, relative to the "
            "JSON file"
        )
    path = (base / value).resolve()
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"{label}: field '{name}': cannot read the file {path}") from None
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return MediaUpload(filename=path.name, content_type=content_type, data=data)


def _plan(
    path: Path, docs: dict[str, list[dict[str, Any]]], store: Store
) -> list[_Planned]:
    """Check every document against its schema and references; return them in load order."""
    in_file = {resource: {d["_id"] for d in items} for resource, items in docs.items()}
    wanted: dict[str, set[str]] = {}
    planned: list[_Planned] = []
    for key, resource_name in COLLECTIONS:
        resource = RESOURCES[resource_name]
        items = docs[resource_name]
        for index in _dependency_order(items, resource):
            doc = items[index]
            label = f"{path.name}: {_label(key, index, doc)}"
            media = {
                name: _read_media(path.parent, doc[name], label, name)
                for name in resource.media_fields
                if doc.get(name) is not None
            }
            fields = {
                k: v for k, v in doc.items()
                if k not in _IGNORED and k not in resource.media_fields
            }
            _, issues = resource.validator.validate(dict(fields), lookup=None)
            if issues:
                where, message = first_issue(issues)
                raise InputError(f"{label}: field '{where}': {message}")
            for _path, target, ref in references(resource, fields):
                if ref not in in_file.get(target, set()):
                    wanted.setdefault(target, set()).add(ref)
            planned.append(_Planned(resource, label, doc["_id"], fields, media))
    for target, ids in wanted.items():
        missing = ids - store.existing_ids(target, ids)
        if missing:
            ref = sorted(missing)[0]
            for item in planned:
                hit = [w for w, t, r in references(item.resource, item.fields)
                       if t == target and r == ref]
                if hit:
                    raise InputError(
                        f"{item.label}: field '{hit[0]}': value '{ref}' must exist in "
                        f"resource '{target}' (add it to the file's "
                        f"{KEY_OF.get(target, target)!r} or to the server first)"
                    )
    return planned


def _same(item: _Planned, existing: Mapping[str, Any], store: Store) -> bool:
    """True if the stored document already equals the file's document (and its media)."""
    resource = item.resource
    normalised, _ = resource.validator.validate(dict(item.fields), lookup=None)
    stored = {
        k: v for k, v in existing.items()
        if not k.startswith("_") and k not in resource.media_fields and k in resource.schema
    }
    if normalised != stored:
        return False
    for name in resource.media_fields:
        current = existing.get(name)
        if name not in item.media:
            if current is not None:
                return False
            continue
        info = store.get_media(current) if isinstance(current, str) else None
        if info is None:
            return False
        try:
            if info.path.read_bytes() != item.media[name].data:
                return False
        except OSError:
            return False
    return True



def _without_forward_refs(item: _Planned, store: Store) -> _Planned | None:
    """The document minus references to documents not stored yet; None if it has none.

    Such references (e.g. an analysis's ``dataset`` naming a dataset later in the
    file) are sent in a second pass, once their targets exist: list items are
    filtered out, any other field holding one is left out.
    """
    refs = list(references(item.resource, item.fields))
    by_target: dict[str, set[str]] = {}
    for _, target, ref in refs:
        by_target.setdefault(target, set()).add(ref)
    present = {t: store.existing_ids(t, ids) for t, ids in by_target.items()}
    forward = [(path, ref) for path, target, ref in refs if ref not in present[target]]
    if not forward:
        return None
    fields = dict(item.fields)
    for path, ref in forward:
        relation_is_list = item.resource.relations[path][1]
        if "." not in path and relation_is_list and isinstance(fields.get(path), list):
            fields[path] = [v for v in fields[path] if v != ref]
        else:
            fields.pop(path.split(".")[0], None)
    return _Planned(item.resource, item.label, item.doc_id, fields, item.media)



def _write(store: Store, settings: Settings, item: _Planned, existing: Doc | None) -> None:
    """Insert ``item`` if ``existing`` is None, else replace it (with its etag), through
    :mod:`bioblocks.documents`; raise InputError or ConflictError naming the document."""
    fields = {**item.fields, **item.media}
    try:
        if existing is None:
            documents.insert(store, item.resource, [{"_id": item.doc_id, **fields}])
        else:
            documents.replace(store, item.resource, item.doc_id, fields,
                              etag=existing["_etag"], settings=settings)
    except documents.InvalidDocuments as exc:
        where, message = first_issue(exc.issues)
        raise InputError(f"{item.label}: field '{where}': {message}") from None
    except ConflictError as exc:
        raise ConflictError(
            f"{item.label}: changed by someone else while loading ({exc}); run again"
        ) from None


def _load(store: Store, settings: Settings, planned: list[_Planned], report: PopulateReport,
          progress: Progress) -> None:
    """Write the planned documents that differ from the stored ones; count them in ``report``."""
    deferred: list[_Planned] = []
    for number, item in enumerate(planned):
        resource = item.resource.url
        progress(number / len(planned), f"{resource} {item.doc_id}")
        counts = report.counts[resource]
        existing = store.get(resource, item.doc_id)
        if existing is not None and _same(item, existing, store):
            counts.unchanged += 1
            continue
        first_pass = _without_forward_refs(item, store)
        if first_pass is not None:
            deferred.append(item)
        _write(store, settings, first_pass or item, existing)
        if existing is None:
            counts.created += 1
        else:
            counts.updated += 1
        report.media_uploaded += len(item.media)
    for item in deferred:
        current = store.get(item.resource.url, item.doc_id)
        if current is None or not _same(item, current, store):
            _write(store, settings, item, current)
            report.media_uploaded += len(item.media)


def populate(
    settings: Settings, path: Path | None = None, *, progress: Progress = null_progress
) -> PopulateReport:
    """Load a metadata file (default: the shipped example) into the store.

    Documents are loaded in dependency order (analyses, datasets, visualizations,
    vignettes, jobs; within a resource, referenced documents first; a reference
    to a document later in the file, such as an analysis's ``dataset``, is
    written in a second pass once its target exists). Documents are written by
    the service the API's routes call (:mod:`bioblocks.documents`, so validation,
    media and etags are the API's): a new ``_id`` is inserted with its icons, a
    changed one replaced with the stored etag (the stored document becomes the
    file's: fields left out get their defaults), an identical one is not touched.
    Returns the counts. Raises :class:`InputError` naming the document and field
    for a bad file, before anything is written.
    """
    source = Path(path) if path is not None else EXAMPLE_METADATA
    docs = read_metadata_file(source)
    store = open_store(settings)
    try:
        planned = _plan(source, docs, store)
        report = PopulateReport(source=source)
        for _, resource_name in COLLECTIONS:
            if docs[resource_name]:
                report.counts[resource_name] = Counts()
        if planned:
            _load(store, settings, planned, report, progress)
        progress(1.0, "metadata loaded")
        log.info("populated from %s: %s", source, {
            k: (c.created, c.updated, c.unchanged) for k, c in report.counts.items()
        })
        return report
    finally:
        store.close()

