"""Parsing of Eve's query parameters: where, sort, projection, embedded, paging, hrefs."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

import orjson

from ..resources import DATE_FORMAT, Resource, format_date
from .errors import EveHTTPError

PAGINATION_DEFAULT = 25
PAGINATION_LIMIT = 50
_CONSUMED = ("where", "sort", "page", "max_results", "embedded", "projection")


def raw_query(query_string: bytes) -> list[tuple[str, str]]:
    """Decode a query string into ``[(name, value)]`` in request order (no merging)."""
    pairs: list[tuple[str, str]] = []
    for part in query_string.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


@dataclass
class Query:
    """The Eve parameters of one request (first value of each wins)."""

    pairs: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        """Return the first value of ``name``, or None."""
        for key, value in self.pairs:
            if key == name:
                return value
        return None

    @property
    def pretty(self) -> bool:
        """True if ``?pretty`` was given (any value)."""
        return any(key == "pretty" for key, _ in self.pairs)

    def paging(self) -> tuple[int, int]:
        """Return ``(page, max_results)`` with Eve's forgiving rules (never an error)."""
        size = PAGINATION_DEFAULT
        raw = self.get("max_results")
        if raw is not None:
            try:
                value = int(float(raw))
            except (ValueError, OverflowError):
                value = 0
            if value > 0:
                size = min(value, PAGINATION_LIMIT)
        page = 1
        raw = self.get("page")
        if raw is not None:
            try:
                page = min(abs(int(raw)), 10**9) or 1
            except ValueError:
                page = 1
        return page, size

    def href(self, base: str, *, page: int, size: int) -> str:
        """Return ``base`` + Eve's query string: max_results, where, sort, page, others."""
        parts: list[str] = []
        if size != PAGINATION_DEFAULT:
            parts.append(f"max_results={size}")
        for name in ("where", "sort"):
            value = self.get(name)
            if value is not None:
                parts.append(f"{name}={value}")
        if page > 1:
            parts.append(f"page={page}")
        parts.extend(f"{k}={v}" for k, v in self.pairs if k not in _CONSUMED)
        return base + ("?" + "&".join(parts) if parts else "")


# -- where --------------------------------------------------------------------------------


def parse_where(text: str) -> dict[str, Any]:
    """Parse a ``where`` value: Mongo JSON first, then the python-style expression."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    else:
        if isinstance(value, dict):
            return value
        raise EveHTTPError(400, "Unable to parse `where` clause: it must be a JSON object")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _py_expr(tree.body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise EveHTTPError(400, "Unable to parse `where` clause") from None


_PY_OPS = {ast.Gt: "$gt", ast.GtE: "$gte", ast.Lt: "$lt", ast.LtE: "$lte", ast.NotEq: "$ne"}


def _py_expr(node: ast.AST) -> dict[str, Any]:
    if isinstance(node, ast.BoolOp):
        key = "$and" if isinstance(node.op, ast.And) else "$or"
        return {key: [_py_expr(v) for v in node.values]}
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        name = _py_name(node.left)
        value = _py_value(node.comparators[0])
        op = node.ops[0]
        if isinstance(op, ast.Eq):
            return {name: value}
        if type(op) in _PY_OPS:
            return {name: {_PY_OPS[type(op)]: value}}
        if isinstance(op, ast.In | ast.NotIn) and isinstance(value, list):
            return {name: {"$in" if isinstance(op, ast.In) else "$nin": value}}
    raise EveHTTPError(
        400,
        "Unable to parse `where` clause: use JSON (`{\"name\": \"x\"}`) or comparisons "
        "like `name==\"x\" and count>1`",
    )


def _py_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_py_name(node.value)}.{node.attr}"
    raise EveHTTPError(400, "Unable to parse `where` clause: the left side must be a field name")


def _py_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str | int | float | bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _py_value(node.operand)
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.List | ast.Tuple):
        return [_py_value(e) for e in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_py_value(a) for a in node.args]
        if node.func.id == "datetime" and 3 <= len(args) <= 6 and all(
            isinstance(a, int) for a in args
        ):
            try:
                return format_date(datetime(*args))
            except ValueError:
                pass
        if node.func.id == "ObjectId" and len(args) == 1 and isinstance(args[0], str):
            return args[0]
    raise EveHTTPError(
        400,
        "Unable to parse `where` clause: values must be strings, numbers, True/False/None, "
        f"lists or datetime(y, m, d[, H, M, S]) (dates as `{DATE_FORMAT}` in JSON)",
    )


# -- sort ---------------------------------------------------------------------------------


def parse_sort(text: str) -> list[tuple[str, int]]:
    """Parse ``sort``: ``[("name", -1)]``, ``{"name": -1}`` or ``name,-_created``."""
    stripped = text.strip()
    if stripped.startswith(("[", "{", "(")):
        try:
            value = ast.literal_eval(stripped)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            raise EveHTTPError(400, "Unable to parse `sort` clause") from None
        items = list(value.items()) if isinstance(value, dict) else value
        if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str):
            items = [items]
        out: list[tuple[str, int]] = []
        for item in items if isinstance(items, list | tuple) else [None]:
            if (
                not isinstance(item, list | tuple)
                or len(item) != 2
                or not isinstance(item[0], str)
                or item[1] not in (1, -1)
                or isinstance(item[1], bool)
            ):
                raise EveHTTPError(
                    400, "Unable to parse `sort` clause: use [(\"field\", 1 or -1), ...]"
                )
            out.append((item[0], int(item[1])))
        return out
    out = []
    for part in stripped.split(","):
        name = part.strip()
        direction = 1
        if name.startswith("-"):
            name, direction = name[1:].strip(), -1
        if not name:
            raise EveHTTPError(
                400, "Unable to parse `sort` clause: empty field name (trailing comma?)"
            )
        out.append((name, direction))
    return out


# -- projection and embedded ---------------------------------------------------------------


def parse_projection(text: str, resource: Resource) -> tuple[str, set[str]] | None:
    """Return ``("include" | "exclude", fields)`` for a ``projection``; None = everything."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(v, int | bool | float) for v in value.values()
    ):
        raise EveHTTPError(
            400, 'Unable to parse `projection` clause: use a JSON object like {"name": 1}'
        )
    fields = {k.split(".")[0] for k in value if not k.startswith("_")}
    include = {k.split(".")[0] for k, v in value.items() if v and not k.startswith("_")}
    if any(value.values()):
        return "include", include & set(resource.schema)
    if not fields:
        return None
    return "exclude", fields


def parse_embedded(text: str) -> list[str]:
    """Return the field paths to embed (values truthy), in request order."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise EveHTTPError(400, "Unable to parse `embedded` clause")
    return [k for k, v in value.items() if v]


def parse_if_date(text: str | None) -> datetime | None:
    """Parse an If-Modified-Since header in DATE_FORMAT; None if absent or malformed."""
    from ..resources import parse_date

    return parse_date(text.strip()) if text else None


def clean_etag(value: str) -> str:
    """Strip a leading ``W/`` and every double quote from an If-Match/If-None-Match value."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.replace('"', "")
