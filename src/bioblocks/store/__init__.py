"""The metadata store: documents of the five resources, media files and API tokens.

SQLAlchemy 2 Core over one SQLite file by default
(``Settings.resolved_database_url`` = ``<data_dir>/bioblocks.sqlite3``, WAL mode)
or PostgreSQL when ``BIOBLOCKS_DATABASE_URL`` is ``postgresql+psycopg://...``.
Migrations (Alembic, shipped in ``store/migrations``) run in :func:`open_store`
and ``bioblocks db upgrade``.

Use it from Python::

    from bioblocks.config import get_settings
    from bioblocks.store import open_store

    store = open_store(get_settings())
    ds = store.insert("dataset", {"name": "HPC"})            # validated; new UUID4 _id
    store.find("dataset", {"analyses": some_id}, sort=[("name", 1)], skip=0, limit=25)
    store.count("job", {"state": {"$in": ["queued", "running"]}})
    store.get("dataset", ds["_id"])                           # dict or None
    store.get_many("analysis", ids)                           # {id: doc}, one IN query
    store.patch("job", job_id, {"progress": 0.5})             # merge; retried on races
    store.patch("job", job_id, {...}, etag=etag)           # compare-and-swap (EtagMismatch)
    store.replace("dataset", ds_id, doc, etag=None, upsert=True)  # -> (doc, created)
    store.delete("dataset", ds_id, etag=None)              # -> bool
    store.delete_where("job", {"state": "complete"})          # -> count
    info = store.put_media(filename="a.png", content_type="image/png", data=b"...")
    store.get_media(info.id); store.delete_media(info.id)
    token = store.create_token("curator"); store.check_token(token); store.revoke_token("curator")
    store.import_documents("dataset", docs, replace=True)    # keeps _id/_created/_updated/_etag
    store.validate("dataset", doc, update=False)             # normalised doc or ValidationError

Documents are dicts (``Doc``): schema fields plus ``_id`` (UUID string), ``_created`` and
``_updated`` (naive UTC datetimes, whole seconds) and ``_etag`` (40 hex);
datetime fields of a schema are datetimes in and out. ``where`` is a Mongo-style
filter (``$gt $gte $lt $lte $ne $eq $in $nin $exists $all $size $not $and $or
$nor``, dotted paths, "any element" through list fields) translated to SQL:
JSON1 expression indexes on SQLite (plus the trigger-maintained ``list_items``
table for "array contains"), a GIN index on the ``jsonb`` column on PostgreSQL.
Compare-and-swap writes are one ``UPDATE ... WHERE id = ? AND etag = ?``, so
concurrent writers (threads or processes) never lose an update.

Document verbs for the other layers (plain functions over a store)::

    from bioblocks.store import find_docs, get_doc, insert_doc, patch_doc, require_doc
    from bioblocks.store import update_with_retry   # read, change, compare-and-swap; retried

Users, groups, scoped tokens and share links (``_principals.py``)::

    from bioblocks.store import create_user, create_group, add_member, create_user_token
    create_user(store, "ana"); create_group(store, "lab"); add_member(store, "lab", "ana",
    role="writer"); token = create_user_token(store, "ana", scope="write",
    expires=parse_duration("30d")); find_token(store, token)  # TokenRecord | None

Errors: :class:`ValidationError` (an ``InputError`` with Eve's ``issues``),
:class:`QueryError` (an ``InputError``: untranslatable ``where``/``sort``),
:class:`DuplicateId` and :class:`EtagMismatch` (``ConflictError``),
``NotFoundError``.
"""

from ._principals import (
    ROLES,
    SCOPES,
    ShareInfo,
    TokenRecord,
    UserInfo,
    add_member,
    check_share,
    create_group,
    create_share,
    create_user,
    create_user_token,
    find_token,
    group_names,
    list_token_records,
    list_users,
    parse_duration,
    revoke_share,
    revoke_token_by_id,
    user_roles,
)
from ._query import QueryError, nesting_depth
from ._store import (
    ACTING_USER,
    INT64_MAX,
    INT64_MIN,
    MAX_DOCUMENT_DEPTH,
    READ_FILTER,
    Doc,
    DuplicateId,
    EtagMismatch,
    MediaInfo,
    ReadFilter,
    Store,
    TokenInfo,
    ValidationError,
    acting_as,
    check_document_values,
    compute_etag,
    make_engine,
    open_store,
    scratch_schema,
    upgrade,
)
from ._verbs import find_docs, get_doc, insert_doc, patch_doc, require_doc, update_with_retry

__all__ = [
    "ACTING_USER",
    "READ_FILTER",
    "ReadFilter",
    "acting_as",
    "ROLES",
    "SCOPES",
    "ShareInfo",
    "TokenRecord",
    "UserInfo",
    "add_member",
    "check_share",
    "create_group",
    "create_share",
    "create_user",
    "create_user_token",
    "find_token",
    "group_names",
    "list_token_records",
    "list_users",
    "parse_duration",
    "revoke_share",
    "revoke_token_by_id",
    "user_roles",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DOCUMENT_DEPTH",
    "Doc",
    "DuplicateId",
    "EtagMismatch",
    "MediaInfo",
    "QueryError",
    "Store",
    "TokenInfo",
    "ValidationError",
    "check_document_values",
    "compute_etag",
    "find_docs",
    "get_doc",
    "insert_doc",
    "make_engine",
    "nesting_depth",
    "open_store",
    "patch_doc",
    "require_doc",
    "scratch_schema",
    "update_with_retry",
    "upgrade",
]
