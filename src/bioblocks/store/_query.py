"""Translate Mongo-style ``where`` filters and ``sort`` specs into SQL.

SQLite uses JSON1 (``json_extract``/``json_type``/``json_each``; the paths are
rendered as literals so the expression indexes of the migration match);
PostgreSQL uses ``jsonb`` containment (``doc @> ...``, served by the GIN index)
for equality and ``#>`` for the rest. A path through a list-typed field (per
the resource schema) means "any element", as in MongoDB, so
``{"analyses": id}`` finds the datasets whose ``analyses`` list holds ``id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from ..errors import InputError
from ..resources import Resource, parse_date, to_iso
from ._tables import documents, list_items

BANNED = frozenset({"$where", "$regex"})
_FIELD_OPS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not", "$all", "$size"}
)
_CMP = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
META_COLUMNS = {
    "_id": documents.c.id,
    "_etag": documents.c.etag,
    "_created": documents.c.created,
    "_updated": documents.c.updated,
}

Clause = ColumnElement[bool]
Pred = Callable[[Any, Any], Clause]


class QueryError(InputError):
    """A ``where``/``sort`` cannot be translated; the message says why (→ 400)."""


def _printable(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) shown as ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_text(text: str, what: str) -> None:
    """Raise :class:`QueryError` if ``text`` holds a lone surrogate (no UTF-8 form)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError(
            f"{what} `{_printable(text)[:80]}` holds a lone surrogate (\\ud800-\\udfff): "
            "send valid Unicode text"
        ) from None


def _norm(value: Any) -> Any:
    """DATE_FORMAT strings become datetimes, at any depth (Eve's value post-processing)."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise QueryError(f"the number {value} in `where` is out of range (64-bit integers)")
    if isinstance(value, str):
        _check_text(value, "the value")
        parsed = parse_date(value)
        return parsed if parsed is not None else value
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        for key in value:
            _check_text(str(key), "the key")
        return {k: _norm(v) for k, v in value.items()}
    return value


def _stored(value: Any) -> Any:
    """The stored (JSON) form of a normalised query value: datetimes as ISO text."""
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    return value


MAX_DEPTH = 32
#: Most values one ``where`` may hold (its leaves: each compared value, each ``$in``
#: value, each ``$exists`` flag): SQLite refuses expressions more than 1000 levels deep,
#: and a chain of N ``OR``s is N levels there.
MAX_WHERE_TERMS = 500
#: Most fields one ``sort`` may name (SQLite allows 64 ``ORDER BY`` terms).
MAX_SORT_FIELDS = 32


def _terms(value: Any) -> int:
    """Count the leaf values of a ``where`` (iterative; stops past the limit)."""
    count, stack = 0, [value]
    while stack and count <= MAX_WHERE_TERMS:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            count += 1
    return count


def nesting_depth(value: Any, *, limit: int) -> int:
    """Nesting depth of dicts and lists in ``value`` (a scalar is 0), counted without
    recursion so deep input cannot overflow; stops once a level past ``limit`` is seen
    (the result is then ``limit + 1``, enough to refuse the input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                break
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def _false() -> Clause:
    return sa.false()


def _not(clause: Clause) -> Clause:
    return sa.not_(sa.func.coalesce(clause, sa.false(), type_=sa.Boolean()))


class WhereCompiler:
    """Compile a ``where`` dict of one resource for one SQL dialect."""

    def __init__(self, resource: Resource, dialect: str) -> None:
        self.resource = resource
        self.pg = dialect == "postgresql"

    # -- structure -----------------------------------------------------------------------

    def compile(self, where: Any) -> Clause:
        """Return the SQL condition of ``where`` (a dict); raise :class:`QueryError`."""
        if nesting_depth(where, limit=MAX_DEPTH) > MAX_DEPTH:
            raise QueryError(f"`where` is nested more than {MAX_DEPTH} levels deep")
        if _terms(where) > MAX_WHERE_TERMS:
            raise QueryError(
                f"`where` holds more than {MAX_WHERE_TERMS} conditions and values (each "
                "`$in`/`$or` entry counts); split the query into several requests"
            )
        return self._compile(where)

    def _compile(self, where: Any) -> Clause:
        if not isinstance(where, dict):
            raise QueryError("Unable to parse `where` clause: it must be a JSON object")
        clauses: list[Clause] = []
        for key, cond in where.items():
            if key in ("$and", "$or", "$nor"):
                if not isinstance(cond, list) or not cond:
                    raise QueryError(f"`{key}` needs a non-empty list of conditions")
                parts = [self._compile(c) for c in cond]
                if key == "$and":
                    clauses.append(sa.and_(*parts))
                elif key == "$or":
                    clauses.append(sa.or_(*parts))
                else:
                    clauses.append(_not(sa.or_(*parts)))
            elif key in BANNED:
                raise QueryError("Query contains operators banned in MONGO_QUERY_BLACKLIST")
            elif key.startswith("$"):
                raise QueryError(f"Query contains unknown or unsupported operators: {key}")
            else:
                clauses.append(self._field(key, cond))
        return sa.and_(sa.true(), *clauses)

    def _field(self, path: str, cond: Any) -> Clause:
        if isinstance(cond, dict) and cond and all(str(k).startswith("$") for k in cond):
            return sa.and_(*(self._op(path, op, arg) for op, arg in cond.items()))
        return self._eq(path, _norm(cond))

    def _op(self, path: str, op: str, arg: Any) -> Clause:
        if op in BANNED:
            raise QueryError("Query contains operators banned in MONGO_QUERY_BLACKLIST")
        if op not in _FIELD_OPS:
            raise QueryError(f"Query contains unknown or unsupported operators: {op}")
        arg = _norm(arg)
        if op == "$eq":
            return self._eq(path, arg)
        if op == "$ne":
            return _not(self._eq(path, arg))
        if op in _CMP:
            return self._cmp(path, _CMP[op], arg)
        if op in ("$in", "$nin", "$all"):
            if not isinstance(arg, list):
                raise QueryError(f"`{op}` needs a list of values")
            if op == "$all":
                return sa.and_(sa.true(), *(self._eq(path, v) for v in arg))
            clause = self._in(path, arg)
            return clause if op == "$in" else _not(clause)
        if op == "$exists":
            return self._exists(path) if arg else _not(self._exists(path))
        if op == "$size":
            if not isinstance(arg, int) or isinstance(arg, bool):
                raise QueryError("`$size` needs an integer")
            return self._size(path, arg)
        # $not
        if not isinstance(arg, dict) or not arg:
            raise QueryError("`$not` needs an object of operators")
        return _not(self._field(path, arg))

    # -- paths ---------------------------------------------------------------------------

    def _segments(self, path: str) -> list[str]:
        _check_text(path, "the field name")
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise QueryError(f"`{path[:80]}…` has more than {MAX_DEPTH} dotted parts")
        for part in parts:
            if not part or '"' in part or any(ord(c) < 32 for c in part):
                raise QueryError(f"`{path}` is not a valid field name")
        return parts

    @staticmethod
    def _sqlite_path(parts: list[str]) -> Any:
        # a quoted label is matched against the key as JSON text: escape it as JSON does
        text = "$" + "".join(
            f".{p}" if _IDENT.match(p) else "." + orjson.dumps(p).decode() for p in parts
        )
        return sa.literal_column("'" + text.replace("'", "''") + "'")

    def _pg_path(self, parts: list[str]) -> Any:
        return sa.literal(parts, ARRAY(sa.Text()))

    def _any(self, src: Any, parts: list[str], kinds: list[str], pred: Pred) -> Clause:
        """``pred(value, type)`` for the value at ``parts``, any element through lists."""
        split = next((i for i, k in enumerate(kinds) if k == "list"), None)
        if self.pg:
            if split is None:
                value = src.op("#>")(self._pg_path(parts))
                return pred(value, sa.func.jsonb_typeof(value))
            array = src.op("#>")(self._pg_path(parts[: split + 1]))
            safe = sa.case(
                (sa.func.jsonb_typeof(array) == "array", array),
                else_=sa.literal([], JSONB),
            )
            elements = sa.func.jsonb_array_elements(safe).table_valued("value").alias()
            rest, rest_kinds = parts[split + 1 :], kinds[split + 1 :]
            if not rest:
                inner = pred(elements.c.value, sa.func.jsonb_typeof(elements.c.value))
            else:
                inner = self._any(elements.c.value, rest, rest_kinds, pred)
            return sa.exists(sa.select(sa.literal(1)).select_from(elements).where(inner))
        if split is None:
            p = self._sqlite_path(parts)
            return pred(sa.func.json_extract(src, p), sa.func.json_type(src, p))
        each = (
            sa.func.json_each(src, self._sqlite_path(parts[: split + 1]))
            .table_valued("value", "type")
            .alias()
        )
        rest, rest_kinds = parts[split + 1 :], kinds[split + 1 :]
        if not rest:
            inner = pred(each.c.value, each.c.type)
        else:
            # only objects have fields: json_extract on a scalar element would fail
            inner = sa.case(
                (each.c.type == "object", self._any(each.c.value, rest, rest_kinds, pred)),
                else_=sa.false(),
            )
        return sa.exists(sa.select(sa.literal(1)).select_from(each).where(inner))

    def _kinds(self, parts: list[str], *, whole: bool = False) -> list[str]:
        kinds = self.resource.path_kinds(".".join(parts))
        for i, kind in enumerate(kinds[:-1]):
            if kind == "list" and parts[i + 1].isdigit():
                field = ".".join(parts[: i + 1])
                raise QueryError(
                    f"`{'.'.join(parts)}` names a position in the list `{field}`, which cannot "
                    f"be queried; `{{\"{field}\": value}}` matches a list holding the value "
                    "anywhere"
                )
        if whole:
            kinds[-1] = "value"
        return kinds

    # -- leaves --------------------------------------------------------------------------

    def _meta(self, path: str, op: str, value: Any) -> Clause:
        column = META_COLUMNS[path]
        is_date = path in ("_created", "_updated")
        if is_date != isinstance(value, datetime) or not (is_date or isinstance(value, str)):
            return _false()
        if op == "=":
            return column == value
        return column.op(op)(value)

    def _eq(self, path: str, value: Any) -> Clause:
        if path in META_COLUMNS:
            if value is None:
                return _false()
            return self._meta(path, "=", value)
        parts = self._segments(path)
        whole = isinstance(value, list | dict)
        kinds = self._kinds(parts, whole=whole)
        stored = _stored(value)
        if self.pg:
            if value is not None and not whole:
                nested: Any = stored
                for part, kind in zip(reversed(parts), reversed(kinds), strict=True):
                    nested = {part: [nested] if kind == "list" else nested}
                return documents.c.doc.op("@>")(sa.literal(nested, JSONB))

            def pred(v: Any, t: Any) -> Clause:
                if value is None:
                    return sa.or_(v.is_(None), t == "null")
                return v == sa.literal(stored, JSONB)

            found = self._any(documents.c.doc, parts, kinds, pred)
            return self._or_missing(path, kinds, value, found)

        if kinds == ["list"] and isinstance(value, str | int | float) and not isinstance(
            value, bool
        ):
            return self._listed(parts[0], [value])

        def spred(v: Any, t: Any) -> Clause:
            if value is None:
                return sa.or_(t.is_(None), t == "null")
            if isinstance(value, bool):
                return t == ("true" if value else "false")
            if isinstance(value, int | float):
                return sa.and_(v == value, t.in_(("integer", "real")))
            if whole:
                return sa.and_(
                    t.in_(("object", "array")),
                    v == sa.func.json(orjson.dumps(stored).decode()),
                )
            # json_extract gives objects and arrays as JSON text: a string must be text
            return sa.and_(v == stored, t == "text")

        return self._or_missing(
            path, kinds, value, self._any(documents.c.doc, parts, kinds, spred)
        )

    def _or_missing(self, path: str, kinds: list[str], value: Any, clause: Clause) -> Clause:
        """``{path: None}`` through a list also matches documents without the path (Mongo)."""
        if value is None and "list" in kinds:
            return sa.or_(clause, _not(self._exists(path)))
        return clause

    @staticmethod
    def _listed(field: str, values: list[Any]) -> Clause:
        """SQLite: documents whose top-level list ``field`` holds one of ``values``."""
        condition = (
            list_items.c.value == values[0] if len(values) == 1
            else list_items.c.value.in_(values)
        )
        return documents.c.seq.in_(
            sa.select(list_items.c.seq).where(list_items.c.path == field, condition)
        )

    def _in(self, path: str, values: list[Any]) -> Clause:
        if not values:
            return _false()
        if path in META_COLUMNS:
            column = META_COLUMNS[path]
            if path in ("_id", "_etag"):
                texts = [v for v in values if isinstance(v, str)]
                return column.in_(texts) if texts else _false()
            return sa.or_(*(self._meta(path, "=", v) for v in values))
        strings = [v for v in values if isinstance(v, str)]
        if not self.pg and len(strings) == len(values):
            parts = self._segments(path)
            if self._kinds(parts) == ["list"]:
                return self._listed(parts[0], [_stored(v) for v in values])
            stored = [_stored(v) for v in values]
            return self._any(
                documents.c.doc,
                parts,
                self._kinds(parts),
                lambda v, t: sa.and_(v.in_(stored), t == "text"),
            )
        return sa.or_(*(self._eq(path, v) for v in values))

    def _cmp(self, path: str, op: str, value: Any) -> Clause:
        if path in META_COLUMNS:
            return self._meta(path, op, value)
        if isinstance(value, bool) or not isinstance(value, int | float | str | datetime):
            return _false()
        parts = self._segments(path)
        stored = _stored(value)
        numeric = isinstance(value, int | float)
        if self.pg:
            kind = "number" if numeric else "string"

            def pred(v: Any, t: Any) -> Clause:
                return sa.and_(
                    t == kind, v.op(op)(sa.literal(stored, JSONB))
                )

        else:
            kinds_sql = ("integer", "real") if numeric else ("text",)

            def pred(v: Any, t: Any) -> Clause:
                return sa.and_(t.in_(kinds_sql), v.op(op)(stored))

        return self._any(documents.c.doc, parts, self._kinds(parts), pred)

    def _exists(self, path: str) -> Clause:
        if path in META_COLUMNS:
            return sa.true()
        parts = self._segments(path)
        return self._any(
            documents.c.doc, parts, self._kinds(parts, whole=True), lambda v, t: t.is_not(None)
        )

    def _size(self, path: str, size: int) -> Clause:
        if path in META_COLUMNS:
            return _false()
        parts = self._segments(path)
        if self.pg:

            def pred(v: Any, t: Any) -> Clause:
                length = sa.case((t == "array", sa.func.jsonb_array_length(v)), else_=-1)
                return length == size

        else:

            def pred(v: Any, t: Any) -> Clause:
                return sa.and_(t == "array", sa.func.json_array_length(v) == size)

        return self._any(documents.c.doc, parts, self._kinds(parts, whole=True), pred)

    # -- sort ----------------------------------------------------------------------------

    def order_by(self, sort: list[tuple[str, int]]) -> list[Any]:
        """Return ORDER BY terms for ``[(field, 1 | -1), ...]`` (``seq`` as tie-breaker).

        Raises :class:`QueryError` for more than :data:`MAX_SORT_FIELDS` fields.
        """
        if len(sort) > MAX_SORT_FIELDS:
            raise QueryError(
                f"`sort` names {len(sort)} fields; at most {MAX_SORT_FIELDS} are supported"
            )
        terms: list[Any] = []
        for path, direction in sort:
            if path in META_COLUMNS:
                expr: Any = META_COLUMNS[path]
            else:
                parts = self._segments(path)
                if self.pg:
                    # JSON null sorts with missing fields (SQL NULL), as on SQLite and in Mongo
                    expr = sa.func.nullif(
                        documents.c.doc.op("#>")(self._pg_path(parts)),
                        sa.literal_column("'null'::jsonb"),
                    )
                else:
                    expr = sa.func.json_extract(documents.c.doc, self._sqlite_path(parts))
            term = expr.desc() if direction < 0 else expr.asc()
            if self.pg:
                term = term.nulls_last() if direction < 0 else term.nulls_first()
            terms.append(term)
        terms.append(documents.c.seq.asc())
        return terms
