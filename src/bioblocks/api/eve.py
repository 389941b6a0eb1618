"""The generic Eve router: collection and item endpoints for every resource.

Routes are registered per resource in a loop (so the OpenAPI document names
each one), all driven by the resource schemas of :mod:`bioblocks.resources`.
Wire format: ``spec/eve-wire.md``. Reads run in the thread pool (one SQL
query for a page, one for the count, one IN query per embedded field, one for
media); writes read the body asynchronously, then call the document service
(:mod:`bioblocks.documents`: validation, etags, media, file cascade) in the pool:
this module is their HTTP adapter, answering each refusal with Eve's status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from .. import documents
from ..access import (
    NOTHING_HIDDEN,
    Hidden,
    Principal,
    audit,
    combine,
    restrict,
    visible,
)
from ..config import Settings
from ..resources import (
    RESOURCES,
    UUID_PATTERN,
    UUID_RE,
    Resource,
    format_date,
    get_path,
    json_schema,
)
from ..store import Store, acting_as
from ._body import parse_body
from ._params import (
    Query as EveQuery,
)
from ._params import (
    clean_etag,
    parse_embedded,
    parse_if_date,
    parse_projection,
    parse_sort,
    parse_where,
    raw_query,
)
from .auth import principal, require_read, require_write, writer_name
from .errors import ENVELOPE, JSON, EveHTTPError, dumps
from .guard import authorize, checked, request_hidden

EPOCH = datetime(1970, 1, 1)


class _Embedded:
    """A referenced document put in place of its id by ``embedded``."""

    __slots__ = ("doc", "resource")

    def __init__(self, resource: Resource, doc: dict[str, Any]) -> None:
        self.resource = resource
        self.doc = doc


def _store(request: Request) -> Store:
    return request.app.state.store


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None,
          pretty: bool = False) -> Response:
    return Response(dumps(body, pretty=pretty), status_code=status, headers=headers,
                    media_type=JSON)


def _check_id(item_id: str) -> None:
    if UUID_RE.fullmatch(item_id) is None:
        raise EveHTTPError(404)


# -- rendering ----------------------------------------------------------------------------




def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and parts[-1] in node:
        node[parts[-1]] = value


def _related(resource: Resource, doc: dict[str, Any]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    for path, (relation, is_list) in resource.relations.items():
        value = get_path(doc, path)
        if not value:
            continue
        target = RESOURCES.get(relation.resource)
        title = target.item_title if target else relation.resource
        if is_list and isinstance(value, list):
            links[path] = [
                {"title": title, "href": f"{relation.resource}/{v}"}
                for v in value if isinstance(v, str)
            ]
        elif isinstance(value, str):
            links[path] = {"title": title, "href": f"{relation.resource}/{value}"}
    return links


def _item_links(resource: Resource, doc: dict[str, Any]) -> dict[str, Any]:
    links: dict[str, Any] = {
        "self": {"title": resource.item_title, "href": f"{resource.url}/{doc['_id']}"}
    }
    related = _related(resource, doc)
    if related:
        links["related"] = related
    return links


def _embed(store: Store, resource: Resource, docs: list[dict[str, Any]],
           paths: Iterable[str], hidden: Hidden = NOTHING_HIDDEN,
           ) -> list[tuple[Resource, list[dict[str, Any]]]]:
    """Replace references named by ``paths`` with :class:`_Embedded` documents, in place.

    Returns the embedded documents, grouped by their resource (nested ones too).
    References to ``hidden`` documents are dropped as dangling ones are.
    """
    paths = list(paths)
    embedded: list[tuple[Resource, list[dict[str, Any]]]] = []
    direct = [
        p for p in dict.fromkeys(paths)
        if p in resource.relations and resource.relations[p][0].embeddable
    ]
    for path in direct:
        relation, is_list = resource.relations[path]
        target = RESOURCES[relation.resource]
        ids: set[str] = set()
        for doc in docs:
            value = get_path(doc, path)
            if isinstance(value, list):
                ids.update(v for v in value if isinstance(v, str))
            elif isinstance(value, str):
                ids.add(value)
        found = store.get_many(target.url, ids) if ids else {}
        if hidden:
            found = {k: v for k, v in found.items() if visible(target.url, v, hidden)}
        embedded.append((target, list(found.values())))
        nested = [p[len(path) + 1:] for p in paths if p.startswith(path + ".")]
        if nested and found:
            embedded.extend(_embed(store, target, list(found.values()), nested, hidden))
        for doc in docs:
            value = get_path(doc, path)
            if isinstance(value, list):
                _set_path(doc, path, [
                    _Embedded(target, found[v]) for v in value
                    if isinstance(v, str) and v in found
                ])
            elif isinstance(value, str):
                _set_path(doc, path, _Embedded(target, found[value]) if value in found else None)
    return embedded


def _media_ids(resource: Resource, docs: Iterable[dict[str, Any]], out: set[str]) -> None:
    for name in resource.media_fields:
        out.update(doc[name] for doc in docs if isinstance(doc.get(name), str))


_PLAIN = (str, int, float, bool, type(None))


class _Renderer:
    """Turns stored documents into Eve's representation (dates, media URLs, projection)."""

    def __init__(self, media_ok: set[str], projection: tuple[str, set[str]] | None) -> None:
        self.media_ok = media_ok
        self.projection = projection
        self._dates: dict[datetime, str] = {}
        self._embedded: dict[int, dict[str, Any]] = {}

    def date(self, value: datetime) -> str:
        text = self._dates.get(value)
        if text is None:
            text = self._dates[value] = format_date(value)
        return text

    def value(self, value: Any) -> Any:
        if type(value) in _PLAIN:
            return value
        if isinstance(value, datetime):
            return self.date(value)
        if isinstance(value, _Embedded):
            rendered = self._embedded.get(id(value.doc))
            if rendered is None:
                rendered = self._embedded[id(value.doc)] = self.doc(
                    value.resource, value.doc, top=False
                )
            return rendered
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def doc(self, resource: Resource, doc: dict[str, Any], *, top: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {}
        projection = self.projection if top else None
        for name, value in doc.items():
            if name.startswith("_") or name not in resource.schema:
                continue
            if projection is not None:
                mode, fields = projection
                if (mode == "include") != (name in fields):
                    continue
            if name in resource.media_fields:
                value = f"/media/{value}" if value in self.media_ok else None
            out[name] = self.value(value)
        out["_id"] = doc["_id"]
        out["_created"] = self.date(doc.get("_created") or EPOCH)
        out["_updated"] = self.date(doc.get("_updated") or EPOCH)
        out["_etag"] = doc["_etag"]
        if "_updatedBy" in doc:
            out["_updatedBy"] = doc["_updatedBy"]
        return out


def _prepare(store: Store, resource: Resource, docs: list[dict[str, Any]],
             query: EveQuery, hidden: Hidden = NOTHING_HIDDEN,
             ) -> tuple[list[dict[str, Any]], _Renderer]:
    """Compute links, embed, check media; return ``(links per doc, renderer)``."""
    links = [_item_links(resource, d) for d in docs]
    embedded_text = query.get("embedded")
    embedded: list[tuple[Resource, list[dict[str, Any]]]] = []
    if embedded_text is not None:
        paths = parse_embedded(embedded_text)
        if paths:
            embedded = _embed(store, resource, docs, paths, hidden)
    projection_text = query.get("projection")
    projection = (
        parse_projection(projection_text, resource) if projection_text is not None else None
    )
    media: set[str] = set()
    _media_ids(resource, docs, media)
    for target, found in embedded:
        _media_ids(target, found, media)
    media_ok = store.existing_media(media) if media else set()
    return links, _Renderer(media_ok, projection)


# -- reads --------------------------------------------------------------------------------


def _parse_filters(query: EveQuery) -> tuple[dict[str, Any] | None, list[tuple[str, int]]]:
    where_text = query.get("where")
    where = parse_where(where_text) if where_text else None
    sort_text = query.get("sort")
    sort = parse_sort(sort_text) if sort_text else []
    return where, sort


def get_collection(store: Store, resource: Resource, query: EveQuery,
                   hidden: Hidden = NOTHING_HIDDEN) -> Response:
    """Collection GET: one page of ``_items`` with ``_links`` and ``_meta``.

    ``hidden`` documents are left out by the store query itself (items and total).
    """
    where, sort = _parse_filters(query)
    where = combine(where, restrict(resource.url, hidden))
    page, size = query.paging()
    docs = store.find(resource.url, where, sort=sort, skip=(page - 1) * size, limit=size)
    total = store.count(resource.url, where)
    links, renderer = _prepare(store, resource, docs, query, hidden)
    items = []
    for doc, item_links in zip(docs, links, strict=True):
        body = renderer.doc(resource, doc)
        body["_links"] = item_links
        items.append(body)
    coll_links: dict[str, Any] = {
        "parent": {"title": "home", "href": "/"},
        "self": {
            "title": resource.url,
            "href": query.href(resource.url, page=page, size=size) if total else resource.url,
        },
    }
    if page * size < total:
        last = -(-total // size)
        coll_links["next"] = {
            "title": "next page", "href": query.href(resource.url, page=page + 1, size=size)
        }
        coll_links["last"] = {
            "title": "last page", "href": query.href(resource.url, page=last, size=size)
        }
    if page > 1:
        coll_links["prev"] = {
            "title": "previous page", "href": query.href(resource.url, page=page - 1, size=size)
        }
    headers = {"X-Total-Count": str(total)}
    updated = [d["_updated"] for d in docs if d.get("_updated")]
    if updated:
        headers["Last-Modified"] = format_date(max(updated))
    body = {
        "_items": items,
        "_links": coll_links,
        "_meta": {"page": page, "max_results": size, "total": total},
    }
    return _json(body, headers=headers, pretty=query.pretty)


def get_item(store: Store, resource: Resource, item_id: str, query: EveQuery,
             if_none_match: str | None, if_modified_since: str | None,
             hidden: Hidden = NOTHING_HIDDEN) -> Response:
    """Item GET with ETag/Last-Modified and conditional 304 (404 for a ``hidden`` one)."""
    _check_id(item_id)
    doc = store.get(resource.url, item_id)
    if doc is None or not visible(resource.url, doc, hidden):
        raise EveHTTPError(404)
    etag = doc["_etag"]
    updated = doc.get("_updated") or EPOCH
    links, renderer = _prepare(store, resource, [doc], query, hidden)
    for value in doc.values():
        if isinstance(value, _Embedded) and value.doc.get("_updated"):
            updated = max(updated, value.doc["_updated"])
    ims = parse_if_date(if_modified_since)
    checks: list[bool] = []
    if if_none_match is not None:
        checks.append(clean_etag(if_none_match) == etag)
    if ims is not None:
        checks.append(updated <= ims + timedelta(seconds=1))
    if checks and all(checks):
        return Response(status_code=304, headers={"ETag": f'"{etag}"'})
    page, size = query.paging()
    body = renderer.doc(resource, doc)
    body["_links"] = {
        **links[0],
        "parent": {"title": "home", "href": "/"},
        "collection": {
            "title": resource.url, "href": query.href(resource.url, page=page, size=size)
        },
    }
    headers = {"ETag": f'"{etag}"', "Last-Modified": format_date(updated)}
    return _json(body, headers=headers, pretty=query.pretty)


# -- writes: HTTP over the document service (bioblocks.documents) ------------------------


def _invalid(exc: documents.InvalidDocuments) -> Response:
    """The 422 of documents that break their schema, as Eve words it per verb."""
    if not exc.on_insert:
        return _json({"_issues": exc.issues, "_status": "ERR"}, status=422)
    failures = sum(1 for r in exc.results if r)
    error = {"code": 422,
             "message": f"Insertion failure: {failures} document(s) contain(s) error(s)"}
    if len(exc.results) == 1:
        return _json({"_status": "ERR", "_issues": exc.issues, "_error": error}, status=422)
    items = [{"_status": "ERR", "_issues": r} if r else {"_status": "OK"} for r in exc.results]
    return _json({"_status": "ERR", "_items": items, "_error": error}, status=422)


@contextmanager
def _as_eve() -> Iterator[None]:
    """Answer the document service's refusals with Eve's status and message."""
    try:
        yield
    except (documents.ImmutableId, documents.EmptyBulk) as exc:
        raise EveHTTPError(400, exc.message) from None
    except documents.DocumentMissing:
        raise EveHTTPError(404) from None
    except documents.EtagRequired as exc:
        raise EveHTTPError(428, str(exc)) from None


def _etag(if_match: str | None) -> str | None:
    return clean_etag(if_match) if if_match is not None else None


def _write_body(resource: Resource, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": doc["_id"],
        "_updated": format_date(doc["_updated"]),
        "_created": format_date(doc["_created"]),
        "_etag": doc["_etag"],
        "_links": _item_links(resource, doc),
        "_status": "OK",
    }


def _created(resource: Resource, inserted: list[dict[str, Any]], base_url: str,
             *, single: bool) -> Response:
    location = f"{base_url}{resource.url}/{inserted[0]['_id']}"
    bodies = [_write_body(resource, d) for d in inserted]
    body: dict[str, Any] = bodies[0] if single else {"_status": "OK", "_items": bodies}
    return _json(body, status=201, headers={"Location": location})


def post(store: Store, resource: Resource, payload: Any, base_url: str,
         stamp: dict[str, Any] | None = None) -> Response:
    """POST single or bulk (:func:`bioblocks.documents.insert`): 201, 400, 409 or 422."""
    docs = payload if isinstance(payload, list) else [payload]
    try:
        with _as_eve():
            inserted = documents.insert(store, resource, docs, stamp=stamp)
    except documents.InvalidDocuments as exc:
        return _invalid(exc)
    return _created(resource, inserted, base_url, single=len(docs) == 1)


def _require_etag(current: dict[str, Any], if_match: str | None) -> str:
    """Eve's 428/412 for a change of ``current`` (:func:`bioblocks.documents.check_etag`)."""
    with _as_eve():
        return documents.check_etag(current, _etag(if_match))


def patch(store: Store, resource: Resource, item_id: str, payload: Any,
          if_match: str | None, settings: Settings | None = None) -> Response:
    """PATCH (:func:`bioblocks.documents.patch`): 200 with the ETag; 404, 428, 412, 422."""
    _check_id(item_id)
    try:
        with _as_eve():
            new = documents.patch(store, resource, item_id, payload, etag=_etag(if_match),
                                  settings=settings)
    except documents.InvalidDocuments as exc:
        return _invalid(exc)
    return _json(_write_body(resource, new), headers={"ETag": f'"{new["_etag"]}"'})


def put(store: Store, resource: Resource, item_id: str, payload: Any, if_match: str | None,
        base_url: str, settings: Settings | None = None,
        stamp: dict[str, Any] | None = None) -> Response:
    """PUT (:func:`bioblocks.documents.replace`): 200 replaced or 201 created by upsert."""
    _check_id(item_id)
    try:
        with _as_eve():
            new, created = documents.replace(store, resource, item_id, payload,
                                             etag=_etag(if_match), settings=settings,
                                             stamp=stamp)
    except documents.InvalidDocuments as exc:
        return _invalid(exc)
    if created:
        return _created(resource, [new], base_url, single=True)
    headers = {"ETag": f'"{new["_etag"]}"', "Last-Modified": format_date(new["_updated"])}
    return _json(_write_body(resource, new), headers=headers)


def delete_item(store: Store, resource: Resource, item_id: str,
                if_match: str | None, settings: Settings | None = None) -> Response:
    """DELETE an item (:func:`bioblocks.documents.delete`): 204, also when missing."""
    _check_id(item_id)
    with _as_eve():
        documents.delete(store, resource, item_id, etag=_etag(if_match), settings=settings)
    return Response(status_code=204, media_type=JSON)


def delete_collection(store: Store, resource: Resource, query: EveQuery,
                      settings: Settings | None = None) -> Response:
    """DELETE a collection (:func:`bioblocks.documents.delete_matching`): 204."""
    where, _ = _parse_filters(query)
    documents.delete_matching(store, resource, where, settings=settings)
    return Response(status_code=204, media_type=JSON)


# -- registration -------------------------------------------------------------------------

WHERE_DOC = (
    'Filter: a Mongo-style JSON object (`{"name": "x"}`, `{"n": {"$gt": 1}}`, `$in`, `$nin`, '
    "`$exists`, `$and`, `$or`, `$not`, `$nor`, dotted paths; a list field matches an element) "
    'or a python-style expression (`name=="x" and n>1`).'
)
SORT_DOC = 'Sort: `name,-_created`, `[("name", -1)]` or `{"name": -1}`.'
PROJECTION_DOC = 'Fields to include (`{"name": 1}`) or exclude (`{"summary": 0}`).'
EMBEDDED_DOC = 'Reference fields to replace by their documents, e.g. `{"analyses": 1}`.'


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "OK (Eve JSON)", "content": {"application/json": {}}},
    422: ENVELOPE,
    "4XX": ENVELOPE,
}


_EXTRA_STATUS: dict[tuple[str, bool], dict[int | str, dict[str, Any]]] = {
    ("POST", False): {201: {"description": "Created (meta fields, `Location` header)",
                            "content": {"application/json": {}}}},
    ("PUT", True): {201: {"description": "Created by upsert", "content": {"application/json": {}}}},
    ("DELETE", False): {204: {"description": "Deleted"}},
    ("DELETE", True): {204: {"description": "Deleted (or did not exist)"}},
    ("GET", True): {304: {"description": "Not modified (If-None-Match / If-Modified-Since)"}},
}


def _item_path() -> Any:
    return Path(description="The document's `_id` (a lower-case UUID).",
                json_schema_extra={"pattern": f"^{UUID_PATTERN}$"})


def _body_doc(resource: Resource, *, update: bool, bulk: bool) -> dict[str, Any]:
    schema = json_schema(resource.schema, for_update=update)
    multipart = json_schema(resource.schema, for_update=update)
    json_body = {"oneOf": [schema, {"type": "array", "items": schema}]} if bulk else schema
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": json_body},
                "multipart/form-data": {"schema": multipart},
            },
        }
    }


def _stamp(request: Request, resource: Resource) -> dict[str, Any]:
    """The fields the server writes into a new document: ``author``, the token's name."""
    return {"author": writer_name(request)} if "author" in resource.schema else {}


def _hidden(request: Request) -> Hidden:
    """What the request's principal may not see (the store's read filter leaves it out
    already; rendering drops references to it as dangling)."""
    return request_hidden(request)


def _as(who: Principal, action: str, resource: Resource, item_id: str | None,
        write: Callable[..., Response], *args: Any) -> Response:
    """Run ``write`` recording ``who``'s user as ``_updatedBy`` (server-wide tokens write
    documents as they always did); log one audit line when it works."""
    with acting_as(who.user):
        response = write(*args)
    if response.status_code < 400:
        target = item_id or response.headers.get("location", "").rpartition("/")[2] or "?"
        audit(who, action, resource.url, target)
    return response


def _register(router: APIRouter, resource: Resource) -> None:
    name = resource.url
    read = [Depends(require_read)]
    write = [Depends(require_write)]
    tags: list[str | Enum] = [name]

    def collection_get(
        request: Request,
        where: str | None = Query(None, description=WHERE_DOC),
        sort: str | None = Query(None, description=SORT_DOC),
        page: str | None = Query(None, description="Page number (1-based)."),
        max_results: str | None = Query(None, description="Page size (default 25, max 50)."),
        projection: str | None = Query(None, description=PROJECTION_DOC),
        embedded: str | None = Query(None, description=EMBEDDED_DOC),
    ) -> Response:
        return get_collection(_store(request), resource,
                              EveQuery(raw_query(request.scope["query_string"])),
                              _hidden(request))

    def item_get(
        request: Request,
        item_id: str = _item_path(),
        projection: str | None = Query(None, description=PROJECTION_DOC),
        embedded: str | None = Query(None, description=EMBEDDED_DOC),
    ) -> Response:
        return get_item(
            _store(request), resource, item_id,
            EveQuery(raw_query(request.scope["query_string"])),
            request.headers.get("if-none-match"), request.headers.get("if-modified-since"),
            _hidden(request),
        )

    async def collection_post(request: Request) -> Response:
        payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
        await checked(request, resource.url, None, payload)
        return await run_in_threadpool(
            _as, principal(request), "POST", resource, None,
            post, _store(request), resource, payload, str(request.base_url),
            _stamp(request, resource),
        )

    def collection_delete(
        request: Request, where: str | None = Query(None, description=WHERE_DOC)
    ) -> Response:
        authorize(request, resource.url, None, None)
        return _as(principal(request), "DELETE", resource, "(matching)", delete_collection,
                   _store(request), resource,
                   EveQuery(raw_query(request.scope["query_string"])),
                   request.app.state.settings)

    async def item_patch(request: Request, item_id: str = _item_path()) -> Response:
        _check_id(item_id)
        payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
        await checked(request, resource.url, item_id, payload)
        return await run_in_threadpool(
            _as, principal(request), "PATCH", resource, item_id,
            patch, _store(request), resource, item_id, payload, request.headers.get("if-match"),
            request.app.state.settings,
        )

    async def item_put(request: Request, item_id: str = _item_path()) -> Response:
        _check_id(item_id)
        payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
        await checked(request, resource.url, item_id, payload)
        return await run_in_threadpool(
            _as, principal(request), "PUT", resource, item_id,
            put, _store(request), resource, item_id, payload, request.headers.get("if-match"),
            str(request.base_url), request.app.state.settings, _stamp(request, resource),
        )

    def item_delete(request: Request, item_id: str = _item_path()) -> Response:
        _check_id(item_id)
        if not authorize(request, resource.url, item_id, None):
            return Response(status_code=204, media_type=JSON)  # as for a missing one
        return _as(principal(request), "DELETE", resource, item_id, delete_item,
                   _store(request), resource, item_id, request.headers.get("if-match"),
                   request.app.state.settings)

    etag_header = {
        "parameters": [{
            "name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string"},
            "description": "The `_etag` the client last read (required for existing items).",
        }]
    }
    routes: list[tuple[str, Callable[..., Any], str, list[Any], str, dict[str, Any] | None]] = [
        (f"/{name}", collection_get, "GET", read, f"List {name} documents", None),
        (f"/{name}", collection_post, "POST", write, f"Create {name} document(s)",
         _body_doc(resource, update=False, bulk=True)),
        (f"/{name}", collection_delete, "DELETE", write,
         f"Delete the {name} documents matching `where` (all without it)", None),
        (f"/{name}/{{item_id}}", item_get, "GET", read, f"Get one {name} document", None),
        (f"/{name}/{{item_id}}", item_patch, "PATCH", write, f"Update fields of a {name}",
         {**_body_doc(resource, update=True, bulk=False), **etag_header}),
        (f"/{name}/{{item_id}}", item_put, "PUT", write,
         f"Replace a {name} (creates it if missing)",
         {**_body_doc(resource, update=False, bulk=False), **etag_header}),
        (f"/{name}/{{item_id}}", item_delete, "DELETE", write, f"Delete a {name}", etag_header),
    ]
    for path, endpoint, method, deps, summary, extra in routes:
        if f"{method}{' item' if '{' in path else ''}" in resource.own_routes:
            continue  # served by the resource's own module
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            dependencies=deps,
            summary=summary,
            tags=tags,
            operation_id=f"{method.lower()}_{name}{'_item' if '{' in path else ''}",
            openapi_extra=extra,
            response_class=Response,
            responses={**RESPONSES, **_EXTRA_STATUS.get((method, "{" in path), {})},
        )


def _wants_html(request: Request) -> bool:
    """True when the client is a browser asking for a page (``text/html`` but not JSON)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def home(request: Request) -> Response:
    """The home endpoint: one child link per resource (browsers get the built-in page)."""
    if _wants_html(request):
        from .page import index_response

        return index_response()
    return _json({"_links": {"child": [{"href": r, "title": r} for r in RESOURCES]}})


def build_router() -> APIRouter:
    """Return the router of the home endpoint and the resources (less their ``own_routes``)."""
    router = APIRouter()
    router.add_api_route("/", home, methods=["GET"], summary="Home: links to the resources",
                         dependencies=[Depends(require_read)], response_class=Response,
                         operation_id="get_home", tags=["home"])
    for resource in RESOURCES.values():
        _register(router, resource)
    return router
