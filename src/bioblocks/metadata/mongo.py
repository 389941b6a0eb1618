"""MongoDB import: documents of the old Eve server, with their ids, dates and etags.

:func:`import_mongo` reads ``mongoexport --jsonArray`` files (one per collection,
Mongo extended JSON) and writes their documents with their own ``_id``,
``_created``, ``_updated`` and ``_etag`` so that clients' cached etags keep
working; fields the schemas do not know are dropped with a warning.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import InputError
from ..progress import Progress, null_progress
from ..resources import RESOURCES, UUID_RE, parse_date
from ..store import DuplicateId, open_store
from ._shared import COLLECTIONS, Counts, first_issue, references

log = logging.getLogger(__name__)

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
_MEDIA_ID = frozenset("0123456789abcdef")
_EPOCH = datetime(1970, 1, 1)


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
                        where, message = first_issue(issues)
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
                for _, target, ref in references(resource, doc):
                    refs.setdefault(target, set()).add(ref)
            for target, wanted in refs.items():
                missing = wanted - store.existing_ids(target, wanted)
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
