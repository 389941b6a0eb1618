"""The :class:`Store`: documents, media and tokens over SQLAlchemy Core."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..config import Settings
from ..errors import ConflictError, InputError, NotFoundError
from ..resources import RESOURCES, Resource, deep_merge, from_iso, to_iso
from ..storage import media_dir
from ._query import WhereCompiler
from ._retry import retry_on_conflict
from ._tables import documents, media, tokens

log = logging.getLogger(__name__)

#: A document as the store takes and returns it: schema fields plus ``_id``,
#: ``_created``, ``_updated`` and ``_etag``.
Doc = dict[str, Any]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Lost races :meth:`Store.patch` without an etag takes before it gives up.
PATCH_ATTEMPTS = 20
_MEDIA_ID = frozenset("0123456789abcdef")
#: An expanding bind parameter: ``IN`` lists are not coerced element by element.
_IDS: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)


class ValidationError(InputError):
    """A document breaks its resource schema; ``issues`` is Eve's ``_issues`` dict."""

    def __init__(self, issues: dict[str, Any]) -> None:
        super().__init__(f"document is invalid: {orjson.dumps(issues).decode()}")
        self.issues = issues


class EtagMismatch(ConflictError):
    """The document changed since the client read it (If-Match failed → 412)."""


class DuplicateId(ConflictError):
    """A document with this ``_id`` already exists (→ 409)."""


@dataclass(frozen=True)
class MediaInfo:
    """One stored media file: id (24 hex), name, content type, size and upload time."""

    id: str
    filename: str
    content_type: str
    size: int
    uploaded: datetime
    path: Path


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: name, creation time, revocation time (None = active)."""

    id: int
    name: str
    created: datetime
    revoked: datetime | None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


#: Who is writing (the API sets it per request): every document written while it is set
#: records the name in ``_updatedBy``.
ACTING_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bioblocks_acting_user", default=None)


@contextlib.contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Record ``name`` as ``_updatedBy`` of the documents written inside the block."""
    token = ACTING_USER.set(name)
    try:
        yield
    finally:
        ACTING_USER.reset(token)


class ReadFilter(Protocol):
    """What a request may not see (:class:`bioblocks.access.Hidden` is one)."""

    def where(self, resource: str) -> Mapping[str, Any] | None:
        """The filter that leaves the hidden documents of ``resource`` out (None: none)."""

    def visible(self, resource: str, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` of ``resource`` may be seen."""


#: What the current request may not see (the API sets it per request, before any
#: route runs): while set, every read of the store (get, get_many, existing_ids, find,
#: count) behaves as if the hidden documents did not exist, so each route answers for a
#: hidden document exactly as for a missing one.
READ_FILTER: contextvars.ContextVar[ReadFilter | None] = contextvars.ContextVar(
    "bioblocks_read_filter", default=None)


def _stamp_writer(fields: dict[str, Any]) -> dict[str, Any]:
    name = ACTING_USER.get()
    return {**fields, "_updatedBy": name} if name is not None else fields


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def compute_etag(document: Mapping[str, Any]) -> str:
    """Return the 40-hex SHA-1 of the document's canonical JSON (keys sorted)."""
    return hashlib.sha1(
        orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    ).hexdigest()


def _to_json(value: Any) -> Any:
    """Datetimes → ISO text, recursively (the stored form)."""
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


#: Deepest nesting of dicts and lists a document may have (the JSON encoders and both
#: stores' JSON functions fail far below Python's recursion limit, at about 255 levels).
MAX_DOCUMENT_DEPTH = 64
#: Integers a document may hold: what both stores keep exactly (SQLite's JSON functions
#: read integers as signed 64-bit, larger ones as floats).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_document_values(fields: Mapping[str, Any]) -> None:
    """Refuse values the store would not keep exactly; return None when all are fine.

    Raises :class:`ValidationError` naming the field (dotted path) for an integer outside
    the signed 64-bit range, a float that is not finite, or nesting deeper than
    :data:`MAX_DOCUMENT_DEPTH`. Iterative, so no input can exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(v, str(k), 1) for k, v in fields.items()]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise ValidationError({path: (
                    f"the integer {value} is outside the signed 64-bit range the store "
                    f"keeps exactly ({INT64_MIN}..{INT64_MAX}); send it as a string"
                )})
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValidationError({path: f"{value} is not a finite number"})
        elif isinstance(value, dict | list):
            if depth >= MAX_DOCUMENT_DEPTH:
                raise ValidationError({path: (
                    f"nested more than {MAX_DOCUMENT_DEPTH} levels deep; flatten it"
                )})
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in items)


def _resource(name: str) -> Resource:
    try:
        return RESOURCES[name]
    except KeyError:
        raise NotFoundError(
            f"unknown resource {name!r}; use one of {', '.join(RESOURCES)}"
        ) from None


def make_engine(url: str) -> sa.Engine:
    """Create the engine: SQLite in WAL mode with a busy timeout, or PostgreSQL via psycopg."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=16,
            max_overflow=32,
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        return engine
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=16,
        max_overflow=32,
        pool_pre_ping=True,
    )


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _quiet_alembic() -> None:
    """Hide Alembic's INFO lines ("Context impl SQLiteImpl.", one per connection), unless
    the ``alembic`` logger was given a level of its own."""
    logger = logging.getLogger("alembic")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def upgrade(engine: sa.Engine) -> bool:
    """Apply pending Alembic migrations; return True if anything was applied.

    Quiet unless it changes something: then it logs one line, "database upgraded to X".
    """
    _quiet_alembic()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return False
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(724312901)"))
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return False
        command.upgrade(_alembic_config(conn), "head")
    log.info("database upgraded to %s (from %s)", head, current or "an empty database")
    return True


class Store:
    """Documents of the five resources, media files and API tokens in one SQL database.

    Documents are plain dicts: schema fields plus ``_id`` (UUID string),
    ``_created``/``_updated`` (naive UTC datetimes) and ``_etag`` (40 hex).
    Datetime fields of a schema are Python datetimes in and out.
    """

    def __init__(self, engine: sa.Engine, *, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.dialect = engine.dialect.name
        self._compilers = {name: WhereCompiler(r, self.dialect) for name, r in RESOURCES.items()}
        self._token_cache: dict[str, tuple[bool, float]] = {}
        self._token_lock = threading.Lock()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- documents: reading --------------------------------------------------------------

    def _row_to_doc(self, resource: Resource, row: Any) -> dict[str, Any]:
        doc = dict(row.doc)
        for path in resource.datetime_paths:
            node: Any = doc
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
                parsed = from_iso(node[path[-1]])
                if parsed is not None:
                    node[path[-1]] = parsed
        doc["_id"] = row.id
        doc["_created"] = row.created
        doc["_updated"] = row.updated
        doc["_etag"] = row.etag
        return doc

    _COLUMNS = (documents.c.id, documents.c.etag, documents.c.created, documents.c.updated,
                documents.c.doc)

    def get(self, resource: str, doc_id: str) -> dict[str, Any] | None:
        """Return the document ``doc_id`` of ``resource``, or None."""
        res = _resource(resource)
        stmt = sa.select(*self._COLUMNS).where(
            documents.c.resource == resource, documents.c.id == doc_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        doc = self._row_to_doc(res, row)
        hidden = READ_FILTER.get()
        return doc if hidden is None or hidden.visible(resource, doc) else None

    def get_many(self, resource: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Return ``{id: document}`` for those of ``ids`` that exist (one IN query)."""
        res = _resource(resource)
        wanted = sorted({i for i in ids if isinstance(i, str)})
        if not wanted:
            return {}
        stmt = sa.select(*self._COLUMNS).where(
            documents.c.resource == resource, documents.c.id.in_(_IDS)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, {"ids": wanted}).all()
        docs = {row.id: self._row_to_doc(res, row) for row in rows}
        hidden = READ_FILTER.get()
        if hidden is not None:
            docs = {k: d for k, d in docs.items() if hidden.visible(resource, d)}
        return docs

    def existing_ids(self, resource: str, ids: Iterable[str]) -> set[str]:
        """Return the subset of ``ids`` that are documents of ``resource``."""
        _resource(resource)
        wanted = sorted({i for i in ids if isinstance(i, str)})
        if not wanted:
            return set()
        stmt = sa.select(documents.c.id).where(
            self._where(resource, None), documents.c.id.in_(_IDS)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(stmt, {"ids": wanted}).scalars())

    def _where(self, resource: str, where: Mapping[str, Any] | None) -> Any:
        clause = documents.c.resource == resource
        if where:
            clause = sa.and_(clause, self._compilers[resource].compile(dict(where)))
        hidden = READ_FILTER.get()
        extra = hidden.where(resource) if hidden is not None else None
        if extra:
            clause = sa.and_(clause, self._compilers[resource].compile(dict(extra)))
        return clause

    def find(
        self,
        resource: str,
        where: Mapping[str, Any] | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Return the documents matching a Mongo-style ``where``, sorted, one page.

        ``sort`` is ``[(field, 1 | -1), ...]``; without it the order is insertion
        order. Raises :class:`QueryError` (an InputError) for an untranslatable filter.
        """
        res = _resource(resource)
        stmt = (
            sa.select(*self._COLUMNS)
            .where(self._where(resource, where))
            .order_by(*self._compilers[resource].order_by(sort or []))
        )
        if skip:
            stmt = stmt.offset(skip)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [self._row_to_doc(res, row) for row in rows]

    def count(self, resource: str, where: Mapping[str, Any] | None = None) -> int:
        """Return how many documents of ``resource`` match ``where``."""
        _resource(resource)
        stmt = sa.select(sa.func.count()).select_from(documents).where(
            self._where(resource, where)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    # -- documents: validation -----------------------------------------------------------

    def validate(
        self, resource: str, document: Mapping[str, Any], *, update: bool = False
    ) -> dict[str, Any]:
        """Return the normalised document; raise :class:`ValidationError` with Eve's issues."""
        res = _resource(resource)
        doc, issues = res.validator.validate(
            dict(document), update=update, lookup=self.existing_ids
        )
        if issues:
            raise ValidationError(issues)
        return doc

    # -- documents: writing --------------------------------------------------------------

    def _prepare(self, document: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        body = {k: v for k, v in document.items()
                if k not in ("_created", "_updated", "_etag", "_updatedBy")}
        doc_id = body.pop("_id", None) or str(uuid.uuid4())
        check_document_values(body)
        fields = _stamp_writer(_to_json(body))
        etag = compute_etag(
            {**fields, "_id": doc_id, "_created": to_iso(now), "_updated": to_iso(now)}
        )
        return {
            "id": doc_id, "etag": etag, "created": now, "updated": now, "doc": fields,
        }

    def insert(
        self, resource: str, document: Mapping[str, Any], *, validate: bool = True
    ) -> dict[str, Any]:
        """Insert one document (a new UUID4 ``_id`` if it has none); return it with meta.

        Raises :class:`ValidationError` (if ``validate``) or :class:`DuplicateId`.
        """
        return self.insert_many(resource, [document], validate=validate)[0]

    def insert_many(
        self, resource: str, docs: Sequence[Mapping[str, Any]], *, validate: bool = True
    ) -> list[dict[str, Any]]:
        """Insert documents in one transaction (all or none); return them with meta."""
        res = _resource(resource)
        if validate:
            docs = [self.validate(resource, d) for d in docs]
        now = _now()
        rows = [{"resource": resource, **self._prepare(d, now)} for d in docs]
        if not rows:
            return []
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(documents), rows)
        except sa.exc.IntegrityError as exc:
            raise DuplicateId(
                f"a {resource} with one of the ids {[r['id'] for r in rows]} already exists"
            ) from exc
        self._after_bulk(len(rows))
        return [self._row_to_doc(res, _RowLike(r)) for r in rows]

    def _after_bulk(self, count: int) -> None:
        """Refresh PostgreSQL's statistics after a big write, so filters use the GIN index."""
        if self.dialect == "postgresql" and count >= 1000:
            with self.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE documents"))

    def import_documents(
        self, resource: str, docs: Sequence[Mapping[str, Any]], *, replace: bool = True
    ) -> tuple[int, int]:
        """Write documents that keep their own ``_id``, ``_created``, ``_updated``, ``_etag``.

        For moving data from another deployment (``bioblocks import-mongo``, owned
        by :mod:`bioblocks.metadata`): the caller has validated the documents;
        ``_created``/``_updated`` are naive UTC datetimes; a missing or ``None``
        ``_etag`` is computed as on insert. One transaction; an existing id is
        overwritten when ``replace``, else :class:`DuplicateId`.
        Returns ``(inserted, replaced)``.
        """
        _resource(resource)
        rows = []
        for doc in docs:
            check_document_values(doc)
            fields = _to_json({k: v for k, v in doc.items()
                               if k not in ("_id", "_created", "_updated", "_etag")})
            created, updated = doc["_created"], doc["_updated"]
            etag = doc.get("_etag") or compute_etag(
                {**fields, "_id": doc["_id"], "_created": to_iso(created),
                 "_updated": to_iso(updated)}
            )
            rows.append({"resource": resource, "id": doc["_id"], "etag": etag,
                         "created": created, "updated": updated, "doc": fields})
        ids = [r["id"] for r in rows]
        existing: set[str] = set()
        for start in range(0, len(ids), 1000):
            existing |= self.existing_ids(resource, ids[start:start + 1000])
        if existing and not replace:
            raise DuplicateId(f"{resource} ids already exist: {sorted(existing)[:5]}")
        new = [r for r in rows if r["id"] not in existing]
        old = [r for r in rows if r["id"] in existing]
        with self.engine.begin() as conn:
            if new:
                conn.execute(sa.insert(documents), new)
            for row in old:
                conn.execute(
                    sa.update(documents)
                    .where(documents.c.resource == resource, documents.c.id == row["id"])
                    .values(etag=row["etag"], created=row["created"], updated=row["updated"],
                            doc=row["doc"])
                )
        self._after_bulk(len(rows))
        return len(new), len(old)

    def _write(
        self,
        resource: str,
        doc_id: str,
        fields: dict[str, Any],
        *,
        created: datetime,
        previous_etag: str,
        include_previous: bool,
    ) -> dict[str, Any]:
        res = _resource(resource)
        now = _now()
        check_document_values(fields)
        fields = _stamp_writer(_to_json(fields))
        etag_source = {
            **fields, "_id": doc_id, "_created": to_iso(created), "_updated": to_iso(now),
        }
        if include_previous:
            etag_source["_etag"] = previous_etag
        new_etag = compute_etag(etag_source)
        stmt = (
            sa.update(documents)
            .where(
                documents.c.resource == resource,
                documents.c.id == doc_id,
                documents.c.etag == previous_etag,
            )
            .values(doc=fields, etag=new_etag, updated=now)
        )
        with self.engine.begin() as conn:
            changed = conn.execute(stmt).rowcount
        if changed != 1:
            if self.existing_ids(resource, [doc_id]):
                raise EtagMismatch("Client and server etags don't match")
            raise NotFoundError(f"no {resource} with _id {doc_id}")
        row = {"id": doc_id, "etag": new_etag, "created": created, "updated": now, "doc": fields}
        return self._row_to_doc(res, _RowLike(row))

    def patch(
        self,
        resource: str,
        doc_id: str,
        changes: Mapping[str, Any],
        *,
        etag: str | None = None,
        validate: bool = True,
    ) -> dict[str, Any]:
        """Merge ``changes`` into a document (sub-dicts merge, lists replace); return it.

        One conditional UPDATE: with ``etag`` the write happens only if the
        stored etag still equals it (else :class:`EtagMismatch`); without it, the
        merge is retried until no concurrent write slipped in between
        (:class:`EtagMismatch` after ``PATCH_ATTEMPTS`` lost races).
        Raises NotFoundError / ValidationError.
        """
        changes = {k: v for k, v in changes.items() if k != "_id"}
        if validate:
            changes = self.validate(resource, changes, update=True)
        if etag is not None:
            return self._patch_once(resource, doc_id, changes, etag=etag)
        return retry_on_conflict(
            lambda: self._patch_once(resource, doc_id, changes, etag=None),
            attempts=PATCH_ATTEMPTS, what=f"{resource} {doc_id}", conflict=EtagMismatch,
        )

    def _patch_once(
        self, resource: str, doc_id: str, changes: dict[str, Any], *, etag: str | None
    ) -> dict[str, Any]:
        current = self.get(resource, doc_id)
        if current is None:
            raise NotFoundError(f"no {resource} with _id {doc_id}")
        if etag is not None and current["_etag"] != etag:
            raise EtagMismatch("Client and server etags don't match")
        fields = {k: v for k, v in current.items() if not k.startswith("_")}
        merged = deep_merge(fields, changes)
        for name, rules in _resource(resource).schema.items():
            if name not in merged and "default" in rules:
                default = rules["default"]
                merged[name] = default.copy() if isinstance(default, dict | list) else default
        return self._write(
            resource, doc_id, merged, created=current["_created"],
            previous_etag=current["_etag"], include_previous=True,
        )

    def replace(
        self,
        resource: str,
        doc_id: str,
        document: Mapping[str, Any],
        *,
        etag: str | None = None,
        upsert: bool = False,
        validate: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        """Replace a document's fields (``_created`` kept); return ``(doc, created)``.

        With ``upsert`` a missing document is inserted (``created`` True).
        Same compare-and-swap rules as :meth:`patch`.
        """
        body = {k: v for k, v in document.items() if k not in ("_id", "_created", "_updated",
                                                               "_etag", "_updatedBy")}
        current = self.get(resource, doc_id)
        if current is None:
            if not upsert:
                raise NotFoundError(f"no {resource} with _id {doc_id}")
            return self.insert(resource, {**body, "_id": doc_id}, validate=validate), True
        if etag is not None and current["_etag"] != etag:
            raise EtagMismatch("Client and server etags don't match")
        if validate:
            body = self.validate(resource, body)
        doc = self._write(
            resource, doc_id, body, created=current["_created"],
            previous_etag=current["_etag"], include_previous=False,
        )
        return doc, False

    def delete(self, resource: str, doc_id: str, *, etag: str | None = None) -> bool:
        """Delete one document (only if its etag is ``etag``, when given).

        Returns False if it did not exist; raises :class:`EtagMismatch` on a stale etag.
        Media files the document referenced are deleted too.
        """
        res = _resource(resource)
        current = self.get(resource, doc_id)
        if current is None:
            return False
        cond = [documents.c.resource == resource, documents.c.id == doc_id]
        if etag is not None:
            cond.append(documents.c.etag == etag)
        with self.engine.begin() as conn:
            deleted = conn.execute(sa.delete(documents).where(*cond)).rowcount
        if deleted != 1:
            if etag is not None and self.existing_ids(resource, [doc_id]):
                raise EtagMismatch("Client and server etags don't match")
            return False
        for name in res.media_fields:
            if isinstance(current.get(name), str):
                self.delete_media(current[name])
        return True

    def delete_where(self, resource: str, where: Mapping[str, Any] | None = None) -> int:
        """Delete every document matching ``where`` (all of them without); return the count."""
        _resource(resource)
        stmt = sa.delete(documents).where(self._where(resource, where))
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    # -- media ---------------------------------------------------------------------------

    def media_path(self, media_id: str) -> Path:
        """Return ``<data_dir>/media/<id>``; raise NotFoundError for a malformed id."""
        if len(media_id) != 24 or not set(media_id) <= _MEDIA_ID:
            raise NotFoundError(f"{media_id!r} is not a media id (24 hex digits)")
        return media_dir(self.data_dir) / media_id

    def put_media(self, *, filename: str, content_type: str, data: bytes) -> MediaInfo:
        """Store a media file (bytes under the data dir, row in ``media``); return its info."""
        media_id = f"{int(time.time()):08x}{secrets.token_hex(8)}"
        path = self.media_path(media_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{media_id}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        info = MediaInfo(media_id, filename[:512], content_type[:255] or
                         "application/octet-stream", len(data), _now(), path)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(media).values(
                id=info.id, filename=info.filename, content_type=info.content_type,
                size=info.size, uploaded=info.uploaded,
            ))
        return info

    def import_media(
        self, media_id: str, *, filename: str, content_type: str, data: bytes,
        uploaded: datetime,
    ) -> MediaInfo:
        """Store a media file under a given id and upload time (replacing one with that id).

        For moving GridFS files of another deployment (``bioblocks import-mongo``,
        owned by :mod:`bioblocks.metadata`) so that ``/media/<id>`` URLs keep
        working. Raises NotFoundError for an id that is not 24 hex digits.
        """
        path = self.media_path(media_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{media_id}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        info = MediaInfo(media_id, filename[:512], content_type[:255] or
                         "application/octet-stream", len(data), uploaded, path)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(media).where(media.c.id == media_id))
            conn.execute(sa.insert(media).values(
                id=info.id, filename=info.filename, content_type=info.content_type,
                size=info.size, uploaded=info.uploaded,
            ))
        return info

    def get_media(self, media_id: str) -> MediaInfo | None:
        """Return the info of a stored media file, or None (also for a malformed id)."""
        try:
            path = self.media_path(media_id)
        except NotFoundError:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(media).where(media.c.id == media_id)).first()
        if row is None:
            return None
        return MediaInfo(row.id, row.filename, row.content_type, row.size, row.uploaded, path)

    def existing_media(self, ids: Iterable[str]) -> set[str]:
        """Return the subset of ``ids`` that are stored media files (one query)."""
        wanted = sorted({i for i in ids if isinstance(i, str)})
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            stmt = sa.select(media.c.id).where(media.c.id.in_(_IDS))
            return set(conn.execute(stmt, {"ids": wanted}).scalars())

    def delete_media(self, media_id: str) -> bool:
        """Delete a media file and its row; return False if it did not exist."""
        info = self.get_media(media_id)
        if info is None:
            return False
        with self.engine.begin() as conn:
            conn.execute(sa.delete(media).where(media.c.id == media_id))
        info.path.unlink(missing_ok=True)
        return True

    # -- tokens --------------------------------------------------------------------------

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create_token(self, name: str) -> str:
        """Create an API token named ``name``; return it (only its SHA-256 is stored)."""
        name = name.strip()
        if not name or len(name) > 128:
            raise InputError("a token name must be 1-128 characters", field="name")
        token = "bb_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(tokens).values(
                name=name, hash=self._hash(token), created=_now(), revoked=None
            ))
        return token

    def list_tokens(self) -> list[TokenInfo]:
        """Return every token (active and revoked), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tokens).order_by(tokens.c.id)).all()
        return [TokenInfo(r.id, r.name, r.created, r.revoked) for r in rows]

    def revoke_token(self, name: str) -> int:
        """Revoke every active token named ``name``; return how many were revoked."""
        with self.engine.begin() as conn:
            count = conn.execute(
                sa.update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked.is_(None))
                .values(revoked=_now())
            ).rowcount
        with self._token_lock:
            self._token_cache.clear()
        if not count:
            raise NotFoundError(f"no active token named {name!r}; see `bioblocks token list`")
        return int(count)

    def check_token(self, token: str) -> bool:
        """Return True if ``token`` is an active token (answers cached for 2 seconds)."""
        digest = self._hash(token)
        now = time.monotonic()
        with self._token_lock:
            hit = self._token_cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.engine.connect() as conn:
            ok = conn.execute(
                sa.select(tokens.c.id).where(tokens.c.hash == digest, tokens.c.revoked.is_(None))
            ).first() is not None
        with self._token_lock:
            if len(self._token_cache) > 1024:
                self._token_cache.clear()
            self._token_cache[digest] = (ok, now + 2.0)
        return ok


class _RowLike:
    """Attribute access over a row dict (so fresh writes render like fetched rows)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.id = row["id"]
        self.etag = row["etag"]
        self.created = row["created"]
        self.updated = row["updated"]
        self.doc = row["doc"]


@contextlib.contextmanager
def scratch_schema(url: str, *, prefix: str = "scratch") -> Iterator[str]:
    """Yield a PostgreSQL URL whose tables live in a new, empty schema; drop it afterwards.

    For tests, benchmarks and trial runs against a shared PostgreSQL database:
    the schema is ``<prefix>_<random hex>`` and the URL sets ``search_path`` to it.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open the store named by ``settings`` (SQLite file by default), applying migrations.

    Creates the data directory for the SQLite default.
    """
    url = settings.resolved_database_url
    if url.startswith("sqlite") and settings.database_url is None:
        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    return Store(engine, data_dir=settings.resolved_data_dir)
