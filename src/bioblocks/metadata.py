"""Loading and exporting metadata: ``populate``, ``export`` and MongoDB import.

A *metadata file* has the shape of the old server's ``db_init.json``: a JSON
object with the lists ``analyses``, ``datasets``, ``visualizations``,
``vignettes`` and optionally ``jobs``; every document carries its ``_id`` (a
lower-case UUID) and the fields of its resource; a media field (``icon``) is a
path to an image file, relative to the JSON file. Keys starting with ``$``
(such as ``$schema``) are ignored, and so are the server-assigned ``_created``,
``_updated``, ``_etag`` and ``_links`` of a document.

- :func:`populate` loads such a file through the real API, in-process (so
  validation, media handling and etags are exactly the API's), in dependency
  order, idempotently: a new ``_id`` is created, a changed one replaced (PUT with
  If-Match), an identical one left alone. The whole file is checked first; a
  bad file writes nothing.
- :func:`export_metadata` writes the same shape from the store, icons as files
  in ``icons/`` beside the JSON file, so that export then populate round-trips.
- :func:`import_mongo` reads ``mongoexport --jsonArray`` files (one per
  collection, Mongo extended JSON) and writes their documents with their own
  ``_id``, ``_created``, ``_updated`` and ``_etag`` so that clients' cached
  etags keep working; fields the schemas do not know are dropped with a warning.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .config import Settings
from .errors import BioblocksError, ConflictError, InputError
from .progress import Progress, null_progress
from .resources import RESOURCES, UUID_RE, Resource, format_date, parse_date
from .store import DuplicateId, Store, open_store

__all__ = [
    "COLLECTIONS",
    "EXAMPLE_METADATA",
    "GRIDFS_CHUNKS",
    "GRIDFS_FILES",
    "MONGO_COLLECTIONS",
    "Counts",
    "ExportReport",
    "MongoImportReport",
    "PopulateReport",
    "api_client",
    "decode_extended_json",
    "export_metadata",
    "import_mongo",
    "mongo_export_files",
    "populate",
    "read_metadata_file",
]

log = logging.getLogger(__name__)

#: Top-level keys of a metadata file and their resources, in dependency order.
COLLECTIONS: tuple[tuple[str, str], ...] = (
    ("analyses", "analysis"),
    ("datasets", "dataset"),
    ("visualizations", "visualization"),
    ("vignettes", "vignette"),
    ("jobs", "job"),
)
_KEY_OF = {resource: key for key, resource in COLLECTIONS}

#: The example metadata shipped with the package (``bioblocks populate`` without a file).
EXAMPLE_METADATA = Path(__file__).resolve().parent / "data" / "example_metadata.json"

#: ``mongoexport`` file names (without ``.json``) → resource.
MONGO_COLLECTIONS = {
    "analyses": "analysis",
    "analysis": "analysis",
    "dataset": "dataset",
    "datasets": "dataset",
    "job": "job",
    "jobs": "job",
    "vignette": "vignette",
    "vignettes": "vignette",
    "visualization": "visualization",
    "visualizations": "visualization",
}
#: ``mongoexport`` files of GridFS (where Eve kept media such as icons).
GRIDFS_FILES, GRIDFS_CHUNKS = "fs.files", "fs.chunks"
_META = ("_id", "_created", "_updated", "_etag")
#: Keys of a metadata file's documents that populate ignores (server-assigned ones
#: included, so a document saved from a GET can be loaded back).
_IGNORED = frozenset({*_META, "_links"})
_MEDIA_ID = frozenset("0123456789abcdef")
_SUFFIX_RE = re.compile(r"\.[A-Za-z0-9]{1,8}")
_EPOCH = datetime(1970, 1, 1)


@dataclass
class Counts:
    """What happened to the documents of one resource."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class PopulateReport:
    """Result of :func:`populate`: counts per resource (in load order) and icons uploaded."""

    source: Path
    counts: dict[str, Counts] = field(default_factory=dict)
    media_uploaded: int = 0


@dataclass
class ExportReport:
    """Result of :func:`export_metadata`: documents per resource and icon files written."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    media_written: int = 0


@dataclass
class MongoImportReport:
    """Result of :func:`import_mongo`.

    ``counts`` per resource (``created``/``updated``), ``media_imported`` the
    GridFS files stored, ``dropped_fields`` maps a resource to the unknown
    (dotted) field names removed and how many documents had each, ``warnings``
    holds every message also logged as a warning.
    """

    counts: dict[str, Counts] = field(default_factory=dict)
    media_imported: int = 0
    dropped_fields: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---- metadata files ----------------------------------------------------------------------


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


def _first_issue(issues: Any, prefix: str = "") -> tuple[str, str]:
    """Return ``(dotted field, message)`` of the first problem in Eve's ``_issues``."""
    if isinstance(issues, Mapping):
        for name, value in issues.items():
            return _first_issue(value, f"{prefix}.{name}" if prefix else str(name))
    if isinstance(issues, list) and issues:
        return _first_issue(issues[0], prefix)
    return prefix or "document", str(issues)


def _get_path(doc: Mapping[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _references(resource: Resource, doc: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield ``(field path, referenced resource, id)`` for every data_relation value."""
    for path, (relation, is_list) in resource.relations.items():
        value = _get_path(doc, path)
        values = value if is_list and isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                yield path, relation.resource, item


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
        i: {ids[ref] for _, res, ref in _references(resource, d) if res == resource.url
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
                f"{_KEY_OF[resource.url]}: documents reference each other in a cycle "
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
    media: dict[str, tuple[str, bytes, str]]


def _read_media(base: Path, value: Any, label: str, name: str) -> tuple[str, bytes, str]:
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
    return path.name, data, content_type


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
                where, message = _first_issue(issues)
                raise InputError(f"{label}: field '{where}': {message}")
            for _path, target, ref in _references(resource, fields):
                if ref not in in_file.get(target, set()):
                    wanted.setdefault(target, set()).add(ref)
            planned.append(_Planned(resource, label, doc["_id"], fields, media))
    for target, ids in wanted.items():
        missing = ids - store.existing_ids(target, ids)
        if missing:
            ref = sorted(missing)[0]
            for item in planned:
                hit = [w for w, t, r in _references(item.resource, item.fields)
                       if t == target and r == ref]
                if hit:
                    raise InputError(
                        f"{item.label}: field '{hit[0]}': value '{ref}' must exist in "
                        f"resource '{target}' (add it to the file's "
                        f"{_KEY_OF.get(target, target)!r} or to the server first)"
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
            if info.path.read_bytes() != item.media[name][1]:
                return False
        except OSError:
            return False
    return True


@asynccontextmanager
async def api_client(
    settings: Settings, store: Store, *, purpose: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an HTTP client bound in-process to the real API, holding a short-lived token.

    The app (:func:`bioblocks.api.create_app`) shares ``store``; the token (named
    ``<purpose>-<random>``) is created in it and revoked when the block ends,
    whatever happens.
    """
    from .api import create_app

    name = f"{purpose}-{uuid.uuid4().hex[:8]}"
    token = store.create_token(name)
    try:
        app = create_app(settings, store=store)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bioblocks.local",
            headers={"Authorization": f"Bearer {token}"},
            timeout=None,
        ) as client:
            yield client
    finally:
        store.revoke_token(name)


async def _send(
    client: httpx.AsyncClient, method: str, url: str, item: _Planned,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    body = dict(item.fields)
    if method == "POST":
        body = {"_id": item.doc_id, **body}
    if item.media:
        form = {k: json.dumps(v) for k, v in body.items()}
        return await client.request(method, url, data=form, files=item.media, headers=headers)
    return await client.request(method, url, json=body, headers=headers)


def _check(response: httpx.Response, item: _Planned, expected: int) -> None:
    if response.status_code == expected:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 422 and isinstance(body, dict) and "_issues" in body:
        where, message = _first_issue(body["_issues"])
        raise InputError(f"{item.label}: field '{where}': {message}")
    message = body.get("_error", {}).get("message") if isinstance(body, dict) else None
    if response.status_code in (409, 412):
        raise ConflictError(
            f"{item.label}: changed by someone else while loading ({message}); run again"
        )
    raise BioblocksError(
        f"{item.label}: the API answered {response.status_code} "
        f"{message or response.text[:200]}"
    )


def _without_forward_refs(item: _Planned, store: Store) -> _Planned | None:
    """The document minus references to documents not stored yet; None if it has none.

    Such references (e.g. an analysis's ``dataset`` naming a dataset later in the
    file) are sent in a second pass, once their targets exist: list items are
    filtered out, any other field holding one is left out.
    """
    refs = list(_references(item.resource, item.fields))
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


async def _write(
    client: httpx.AsyncClient, store: Store, item: _Planned, existing: Mapping[str, Any] | None
) -> None:
    """POST ``item`` if ``existing`` is None, else PUT it with If-Match."""
    resource = item.resource.url
    if existing is None:
        _check(await _send(client, "POST", f"/{resource}", item), item, 201)
        return
    response = await _send(
        client, "PUT", f"/{resource}/{item.doc_id}", item,
        headers={"If-Match": f'"{existing["_etag"]}"'},
    )
    _check(response, item, 200)


async def _load(
    settings: Settings, store: Store, planned: list[_Planned], report: PopulateReport,
    progress: Progress,
) -> None:
    deferred: list[_Planned] = []
    async with api_client(settings, store, purpose="populate") as client:
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
            await _write(client, store, first_pass or item, existing)
            if existing is None:
                counts.created += 1
            else:
                counts.updated += 1
            report.media_uploaded += len(item.media)
        for item in deferred:
            current = store.get(item.resource.url, item.doc_id)
            if current is None or not _same(item, current, store):
                await _write(client, store, item, current)
                report.media_uploaded += len(item.media)


def populate(
    settings: Settings, path: Path | None = None, *, progress: Progress = null_progress
) -> PopulateReport:
    """Load a metadata file (default: the shipped example) into the store, through the API.

    Documents are loaded in dependency order (analyses, datasets, visualizations,
    vignettes, jobs; within a resource, referenced documents first; a reference
    to a document later in the file, such as an analysis's ``dataset``, is
    written in a second pass once its target exists). A new
    ``_id`` is POSTed (multipart when it has an icon), a changed one is PUT with
    If-Match (the stored document becomes the file's: fields left out get their
    defaults), an identical one is not touched. Returns the counts.
    Raises :class:`InputError` naming the document and field for a bad file,
    before anything is written. Call it from synchronous code (it runs its own
    event loop).
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
            asyncio.run(_load(settings, store, planned, report, progress))
        progress(1.0, "metadata loaded")
        log.info("populated from %s: %s", source, {
            k: (c.created, c.updated, c.unchanged) for k, c in report.counts.items()
        })
        return report
    finally:
        store.close()


# ---- export ------------------------------------------------------------------------------


def _to_file_value(value: Any) -> Any:
    """Datetimes → DATE_FORMAT strings (what the API accepts back), recursively."""
    if isinstance(value, datetime):
        return format_date(value)
    if isinstance(value, dict):
        return {k: _to_file_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_file_value(v) for v in value]
    return value


def export_metadata(
    settings: Settings, path: Path, *, progress: Progress = null_progress
) -> ExportReport:
    """Write every document of the store to a metadata file that :func:`populate` reads back.

    Writes ``path`` (replaced atomically) and the media files of media fields to
    ``icons/<resource>-<_id>-<field><ext>`` beside it. Only ``_id`` and schema
    fields are written (no ``_created``/``_updated``/``_etag``); ``jobs`` is
    written only when there are jobs. Returns the counts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    icons = path.parent / "icons"
    report = ExportReport(path=path)
    out: dict[str, list[dict[str, Any]]] = {}
    store = open_store(settings)
    try:
        for number, (key, resource_name) in enumerate(COLLECTIONS):
            progress(number / len(COLLECTIONS), f"exporting {key}")
            resource = RESOURCES[resource_name]
            items = []
            for doc in store.find(resource_name):
                item: dict[str, Any] = {"_id": doc["_id"]}
                for name in resource.schema:
                    if name == "_id" or name not in doc:
                        continue
                    if name in resource.media_fields:
                        info = store.get_media(doc[name]) if isinstance(doc[name], str) else None
                        if info is None:
                            log.warning("%s %s: media %r is missing; not exported",
                                        resource_name, doc["_id"], doc[name])
                            continue
                        suffix = Path(info.filename).suffix
                        ext = (suffix if _SUFFIX_RE.fullmatch(suffix)
                               else mimetypes.guess_extension(info.content_type) or ".bin")
                        target = icons / f"{resource_name}-{doc['_id']}-{name}{ext}"
                        try:
                            data = info.path.read_bytes()
                        except OSError:
                            log.warning("%s %s: media file %s is unreadable; not exported",
                                        resource_name, doc["_id"], info.path)
                            continue
                        icons.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(data)
                        report.media_written += 1
                        item[name] = f"icons/{target.name}"
                    else:
                        item[name] = _to_file_value(doc[name])
                items.append(item)
            if items or key != "jobs":
                out[key] = items
                report.counts[resource_name] = len(items)
    finally:
        store.close()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    progress(1.0, f"wrote {path}")
    return report


# ---- MongoDB import ----------------------------------------------------------------------


def _mongo_date(value: Any) -> datetime:
    if isinstance(value, Mapping) and "$numberLong" in value:
        value = int(value["$numberLong"])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC).replace(tzinfo=None, microsecond=0)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC).replace(tzinfo=None)
            return parsed.replace(microsecond=0)
    raise ValueError(f"unreadable $date value {value!r}")


def decode_extended_json(value: Any) -> Any:
    """Turn MongoDB extended JSON (relaxed or canonical) into plain Python values.

    ``{"$date": ISO text | epoch ms | {"$numberLong": ...}}`` → naive UTC datetime
    (whole seconds), ``{"$oid": hex}`` → the hex string, ``$numberInt``/
    ``$numberLong`` → int, ``$numberDouble``/``$numberDecimal`` → float,
    ``$binary`` → bytes; anything else unchanged (recursively).
    Raises ValueError for a malformed ``$date``.
    """
    if isinstance(value, list):
        return [decode_extended_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, inner), = value.items()
        if key == "$date":
            return _mongo_date(inner)
        if key == "$oid" and isinstance(inner, str):
            return inner.lower()
        if key in ("$numberInt", "$numberLong"):
            return int(inner)
        if key in ("$numberDouble", "$numberDecimal"):
            return float(inner)
        if key == "$binary":
            data = inner.get("base64", "") if isinstance(inner, dict) else inner
            return base64.b64decode(data)
    if set(value) == {"$binary", "$type"}:
        return base64.b64decode(value["$binary"])
    return {k: decode_extended_json(v) for k, v in value.items()}


def _read_mongo_file(path: Path) -> list[Any]:
    """Read a ``mongoexport`` file: a JSON array (``--jsonArray``) or one document a line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            docs = json.loads(text)
        else:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not a mongoexport file: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    return docs


def mongo_export_files(paths: Sequence[Path]) -> dict[str, list[Path]]:
    """Map ``mongoexport`` files (or folders holding them) to resources.

    A folder contributes every ``<collection>.json`` whose name is known
    (:data:`MONGO_COLLECTIONS`, plus GridFS's ``fs.files.json`` and
    ``fs.chunks.json``, returned under :data:`GRIDFS_FILES`/:data:`GRIDFS_CHUNKS`);
    a file given by name must have a known name. Raises :class:`InputError`
    when nothing usable is found.
    """
    known = {**MONGO_COLLECTIONS, GRIDFS_FILES: GRIDFS_FILES, GRIDFS_CHUNKS: GRIDFS_CHUNKS}
    found: dict[str, list[Path]] = {}
    for given in paths:
        given = Path(given)
        if given.is_dir():
            for child in sorted(given.glob("*.json")):
                if child.stem.lower() in known:
                    found.setdefault(known[child.stem.lower()], []).append(child)
        elif given.is_file():
            stem = given.name.lower().removesuffix(".json")
            if stem not in known:
                raise InputError(
                    f"{given}: unknown collection {stem!r}; name the file after its "
                    f"collection ({', '.join(sorted(known))}).json"
                )
            found.setdefault(known[stem], []).append(given)
        else:
            raise InputError(f"{given}: no such file or folder")
    if not found:
        raise InputError(
            "no mongoexport files found; expected dataset.json, analyses.json, job.json, "
            "vignette.json or visualization.json"
        )
    return found


def _strip_unknown(
    value: dict[str, Any], schema: Mapping[str, Any], prefix: str, dropped: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, item in value.items():
        rules = schema.get(name)
        if rules is None:
            dropped.append(f"{prefix}{name}")
            continue
        sub = rules.get("schema")
        types = rules.get("type")
        if types == "dict" and isinstance(sub, dict) and isinstance(item, dict):
            item = _strip_unknown(item, sub, f"{prefix}{name}.", dropped)
        elif (types == "list" and isinstance(sub, dict) and sub.get("type") == "dict"
              and isinstance(sub.get("schema"), dict) and isinstance(item, list)):
            item = [
                _strip_unknown(x, sub["schema"], f"{prefix}{name}.", dropped)
                if isinstance(x, dict) else x
                for x in item
            ]
        out[name] = item
    return out


@dataclass
class _GridFile:
    filename: str
    content_type: str
    data: bytes
    uploaded: datetime


def _decode(raw: Any, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"{path}: every entry must be a JSON object")
    try:
        return decode_extended_json(raw)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None


def _read_gridfs(
    file_paths: Sequence[Path], chunk_paths: Sequence[Path], warnings: list[str]
) -> dict[str, _GridFile]:
    """Reassemble GridFS files from ``fs.files``/``fs.chunks`` exports; skip incomplete ones."""
    meta: dict[str, dict[str, Any]] = {}
    for path in file_paths:
        for raw in _read_mongo_file(path):
            doc = _decode(raw, path)
            file_id = doc.get("_id")
            if isinstance(file_id, str) and len(file_id) == 24 and set(file_id) <= _MEDIA_ID:
                meta[file_id] = doc
            else:
                warnings.append(f"{path.name}: skipped a file whose _id {file_id!r} is not "
                                "an ObjectId")
    chunks: dict[str, list[tuple[int, bytes]]] = {}
    for path in chunk_paths:
        for raw in _read_mongo_file(path):
            doc = _decode(raw, path)
            file_id, number, data = doc.get("files_id"), doc.get("n"), doc.get("data")
            if isinstance(file_id, str) and isinstance(number, int) and isinstance(data, bytes):
                chunks.setdefault(file_id, []).append((number, data))
    out: dict[str, _GridFile] = {}
    for file_id, doc in meta.items():
        parts = sorted(chunks.get(file_id, []))
        data = b"".join(part for _, part in parts)
        length = doc.get("length")
        filename = str(doc.get("filename") or file_id)
        if [n for n, _ in parts] != list(range(len(parts))) or (
            isinstance(length, int) and length != len(data)
        ):
            warnings.append(
                f"GridFS file {file_id} ({filename}): chunks missing from the export; skipped"
            )
            continue
        uploaded = doc.get("uploadDate")
        out[file_id] = _GridFile(
            filename=filename,
            content_type=str(doc.get("contentType") or mimetypes.guess_type(filename)[0]
                             or "application/octet-stream"),
            data=data,
            uploaded=uploaded if isinstance(uploaded, datetime) else _EPOCH,
        )
    return out


def _meta_date(value: Any, label: str, name: str) -> datetime:
    if value is None:
        return _EPOCH
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
        try:
            return _mongo_date(value)
        except ValueError:
            pass
    raise InputError(f"{label}: field '{name}': not a date: {value!r}")


def import_mongo(
    settings: Settings,
    paths: Sequence[Path],
    *,
    replace: bool = True,
    progress: Progress = null_progress,
) -> MongoImportReport:
    """Import a MongoDB export of the old server into the store, keeping ids, dates and etags.

    ``paths`` are ``mongoexport --jsonArray`` files named after their collection
    or folders holding them; GridFS exports (``fs.files.json`` and
    ``fs.chunks.json``) bring the media files along under their old ids, so
    ``/media/<id>`` URLs keep working. Every document keeps ``_id``, ``_created``,
    ``_updated`` (``1970-01-01`` when absent, as Eve served them) and ``_etag``
    (computed when absent). Unknown fields are dropped (listed in the report and
    logged); documents whose ``_id`` is not a UUID are skipped with a warning
    (the old API could not address them). Every document is checked against its
    schema before anything is written; existing ids are overwritten when
    ``replace`` (else :class:`bioblocks.store.DuplicateId`, raised before
    anything is written). Media fields keep their value only if that media file
    is in the export or already in the store. Raises :class:`InputError` naming
    the file, document and field for bad input.
    """
    files = mongo_export_files(paths)
    report = MongoImportReport()
    prepared: dict[str, list[dict[str, Any]]] = {}
    store = open_store(settings)
    try:
        gridfs = _read_gridfs(files.get(GRIDFS_FILES, []), files.get(GRIDFS_CHUNKS, []),
                              report.warnings)
        for _, resource_name in COLLECTIONS:
            if resource_name not in files:
                continue
            resource = RESOURCES[resource_name]
            docs_out: list[dict[str, Any]] = []
            seen: set[str] = set()
            dropped_count: dict[str, int] = {}
            for path in files[resource_name]:
                for index, raw in enumerate(_read_mongo_file(path)):
                    label = f"{path.name}[{index}]"
                    if not isinstance(raw, dict):
                        raise InputError(f"{label}: not a JSON object")
                    try:
                        doc = decode_extended_json(raw)
                    except ValueError as exc:
                        raise InputError(f"{label}: {exc}") from None
                    doc_id = doc.get("_id")
                    label = f"{path.name}[{index}] (_id {doc_id})"
                    if not isinstance(doc_id, str) or not UUID_RE.fullmatch(doc_id):
                        report.warnings.append(
                            f"{label}: skipped: _id is not a lower-case UUID"
                        )
                        continue
                    if doc_id in seen:
                        raise InputError(f"{label}: this _id appears twice in the export")
                    seen.add(doc_id)
                    dropped: list[str] = []
                    body = {k: v for k, v in doc.items() if k not in _META}
                    fields = _strip_unknown(body, resource.schema, "", dropped)
                    for name in dropped:
                        dropped_count[name] = dropped_count.get(name, 0) + 1
                    for name in resource.media_fields:
                        value = fields.get(name)
                        if value is not None and (
                            not isinstance(value, str)
                            or (value not in gridfs and store.get_media(value) is None)
                        ):
                            report.warnings.append(
                                f"{label}: field '{name}': media {value!r} is not in this "
                                "store; dropped (upload it again with populate or PATCH)"
                            )
                            fields.pop(name)
                    media = {n: fields.pop(n) for n in resource.media_fields if n in fields}
                    normalised, issues = resource.validator.validate(fields, lookup=None)
                    if issues:
                        where, message = _first_issue(issues)
                        raise InputError(f"{label}: field '{where}': {message}")
                    etag = doc.get("_etag")
                    docs_out.append({
                        **normalised,
                        **media,
                        "_id": doc_id,
                        "_created": _meta_date(doc.get("_created"), label, "_created"),
                        "_updated": _meta_date(doc.get("_updated"), label, "_updated"),
                        "_etag": etag if isinstance(etag, str) and etag else None,
                    })
            prepared[resource_name] = docs_out
            if dropped_count:
                report.dropped_fields[resource_name] = dict(sorted(dropped_count.items()))
                report.warnings.append(
                    f"{resource_name}: dropped unknown fields "
                    + ", ".join(f"{k} ({n} documents)" for k, n in sorted(dropped_count.items()))
                )
        if not replace:
            for resource_name, docs_out in prepared.items():
                ids = [d["_id"] for d in docs_out]
                clash = set().union(*(
                    store.existing_ids(resource_name, ids[i:i + 1000])
                    for i in range(0, len(ids), 1000)
                ))
                if clash:
                    raise DuplicateId(
                        f"{len(clash)} {resource_name} document(s) already exist (e.g. "
                        f"{sorted(clash)[0]}); leave out --keep-existing to overwrite them"
                    )
        for media_id, grid_file in gridfs.items():
            store.import_media(
                media_id, filename=grid_file.filename, content_type=grid_file.content_type,
                data=grid_file.data, uploaded=grid_file.uploaded,
            )
            report.media_imported += 1
        total = sum(len(v) for v in prepared.values()) or 1
        done = 0
        for resource_name, docs_out in prepared.items():
            progress(done / total, f"writing {resource_name}")
            created, updated = store.import_documents(resource_name, docs_out, replace=replace)
            report.counts[resource_name] = Counts(created=created, updated=updated)
            done += len(docs_out)
        for resource_name, docs_out in prepared.items():
            resource = RESOURCES[resource_name]
            refs: dict[str, set[str]] = {}
            for doc in docs_out:
                for _, target, ref in _references(resource, doc):
                    refs.setdefault(target, set()).add(ref)
            for target, ids in refs.items():
                missing = ids - store.existing_ids(target, ids)
                if missing:
                    report.warnings.append(
                        f"{resource_name}: {len(missing)} reference(s) to missing {target} "
                        f"documents (e.g. {sorted(missing)[0]}); embedding will skip them"
                    )
    finally:
        store.close()
    for message in report.warnings:
        log.warning("%s", message)
    progress(1.0, "import finished")
    return report
