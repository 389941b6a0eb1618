"""Our small Cerberus-like schema language and the validator that speaks Eve's ``_issues``.

A schema is a plain ``dict`` mapping field names to rule dicts, exactly as Eve
declared them::

    {"name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
     "analyses": {"type": "list", "default": [],
                  "schema": {"type": "string",
                             "data_relation": {"resource": "analysis", "embeddable": True}}}}

Rules: ``type`` (string, integer, float, number, boolean, dict, list, datetime,
media; or a list of those), ``required``, ``nullable``, ``minlength``/``maxlength``
(strings and lists), ``min``/``max``, ``allowed``, ``regex`` (full match),
``default``, ``schema`` (a field schema for a dict, an item rule dict for a
list), ``data_relation`` (``resource``, ``field`` = ``_id``, ``embeddable``),
``empty``, ``readonly``. Adding an optional field is one more entry in the dict.

:class:`Validator` returns Eve's exact issue texts (one string per field with a
single problem, a list with several; sub-documents nest as dicts, list items
are keyed by their index as a string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"
UUID_PATTERN = "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"
UUID_RE = re.compile(UUID_PATTERN)
META_FIELDS = ("_id", "_created", "_updated", "_etag")

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$"
)

Schema = dict[str, dict[str, Any]]
Issues = dict[str, Any]
#: ``lookup(resource, ids) -> the subset of ids that exist`` (used for data_relation).
RelationLookup = Callable[[str, set[str]], set[str]]


def format_date(value: datetime) -> str:
    """Return ``value`` (naive = UTC) in Eve's DATE_FORMAT, independent of the locale."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return (
        f"{_WEEKDAYS[value.weekday()]}, {value.day:02d} {_MONTHS[value.month - 1]} "
        f"{value.year:04d} {value.hour:02d}:{value.minute:02d}:{value.second:02d} GMT"
    )


def parse_date(text: str) -> datetime | None:
    """Parse a DATE_FORMAT string to a naive UTC datetime; ``None`` if it is not one."""
    match = _DATE_RE.match(text)
    if match is None:
        return None
    _, day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second)
        )
    except ValueError:
        return None


def to_iso(value: datetime) -> str:
    """Return the storage form of a datetime: ``YYYY-MM-DDTHH:MM:SSZ`` (sorts as text)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> datetime | None:
    """Parse the storage form written by :func:`to_iso`; ``None`` if malformed."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class MediaUpload:
    """A file part of a multipart request, given as the value of a ``media`` field."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Relation:
    """A ``data_relation`` of a field: where the referenced documents live."""

    resource: str
    embeddable: bool


@dataclass
class Resource:
    """One Eve resource: its URL name, schema and the facts the router needs.

    ``relations`` maps a (possibly dotted) field path to its :class:`Relation`
    and whether the field is a list of references; ``media_fields`` and
    ``datetime_fields`` list the top-level fields of those types.
    """

    url: str
    schema: Schema
    relations: dict[str, tuple[Relation, bool]] = field(init=False)
    media_fields: tuple[str, ...] = field(init=False)
    datetime_paths: tuple[tuple[str, ...], ...] = field(init=False)
    validator: Validator = field(init=False)

    def __post_init__(self) -> None:
        self.schema = {"_id": {"type": "string", "regex": UUID_PATTERN}, **self.schema}
        self.relations = dict(_relations(self.schema, ()))
        self.media_fields = tuple(
            name for name, rules in self.schema.items() if _types(rules) == ("media",)
        )
        self.datetime_paths = tuple(_datetime_paths(self.schema, ()))
        self.validator = Validator(self.schema)

    @property
    def item_title(self) -> str:
        """Eve's item title: the URL name with trailing ``s`` stripped, capitalised."""
        return self.url.rstrip("s").capitalize()

    def field_rules(self, path: str) -> dict[str, Any] | None:
        """Return the rules of a dotted field path (through dicts and list items), or None."""
        rules: dict[str, Any] | None = None
        schema: Mapping[str, Any] | None = self.schema
        for part in path.split("."):
            if schema is None or part not in schema:
                return None
            rules = schema[part]
            sub = rules.get("schema")
            if "list" in _types(rules) and isinstance(sub, dict):
                sub = sub.get("schema") if "dict" in _types(sub) else None
            schema = sub if isinstance(sub, dict) else None
        return rules

    def path_kinds(self, path: str) -> list[str]:
        """For each segment of a dotted path, ``"list"`` if it holds a list, else ``"value"``."""
        kinds: list[str] = []
        schema: Mapping[str, Any] | None = self.schema
        for part in path.split("."):
            rules = schema.get(part) if schema is not None else None
            if rules is None:
                kinds.append("value")
                schema = None
                continue
            types = _types(rules)
            kinds.append("list" if types == ("list",) else "value")
            sub = rules.get("schema")
            if types == ("list",) and isinstance(sub, dict):
                sub = sub.get("schema") if "dict" in _types(sub) else None
            schema = sub if isinstance(sub, dict) else None
        return kinds


def _types(rules: Mapping[str, Any]) -> tuple[str, ...]:
    value = rules.get("type", ())
    return (value,) if isinstance(value, str) else tuple(value)


def _relations(schema: Schema, prefix: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    for name, rules in schema.items():
        path = (*prefix, name)
        rel = rules.get("data_relation")
        if rel:
            yield ".".join(path), (Relation(rel["resource"], bool(rel.get("embeddable"))), False)
        sub = rules.get("schema")
        if "list" in _types(rules) and isinstance(sub, dict):
            item_rel = sub.get("data_relation")
            if item_rel:
                relation = Relation(item_rel["resource"], bool(item_rel.get("embeddable")))
                yield ".".join(path), (relation, True)
        elif "dict" in _types(rules) and isinstance(sub, dict):
            yield from _relations(sub, path)


def _datetime_paths(schema: Schema, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for name, rules in schema.items():
        if "datetime" in _types(rules):
            yield (*prefix, name)
        sub = rules.get("schema")
        if "dict" in _types(rules) and isinstance(sub, dict):
            yield from _datetime_paths(sub, (*prefix, name))


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "datetime": lambda v: isinstance(v, datetime),
    "media": lambda v: isinstance(v, MediaUpload),
}


@dataclass
class _Pending:
    """A reference whose existence is checked after the structural validation."""

    resource: str
    value: str
    location: tuple[str, ...]


class Validator:
    """Validate and normalise documents of one schema (compiled once, reused per request)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._regex: dict[str, re.Pattern[str]] = {}
        self._compile(schema)

    def _compile(self, schema: Mapping[str, Any]) -> None:
        for rules in schema.values():
            if "regex" in rules:
                self._regex[rules["regex"]] = re.compile(rules["regex"])
            sub = rules.get("schema")
            if isinstance(sub, dict):
                if "list" in _types(rules):
                    self._compile({"item": sub})
                else:
                    self._compile(sub)

    def validate(
        self,
        document: Any,
        *,
        update: bool = False,
        lookup: RelationLookup | None = None,
    ) -> tuple[dict[str, Any], Issues]:
        """Validate ``document``; return ``(normalised document, issues)``.

        Normalisation fills defaults (not in ``update`` mode, where ``required``
        is not enforced either) and turns DATE_FORMAT strings of datetime fields
        into datetimes. ``issues`` is empty when the document is valid.
        ``lookup`` checks data_relation values; without it they are not checked.
        """
        errors: dict[tuple[str, ...], list[str]] = {}
        pending: list[_Pending] = []
        doc = self._document(document, self.schema, (), errors, pending, update=update)
        if lookup is not None and pending:
            by_resource: dict[str, set[str]] = {}
            for ref in pending:
                by_resource.setdefault(ref.resource, set()).add(ref.value)
            found = {res: lookup(res, ids) for res, ids in by_resource.items()}
            for ref in pending:
                if ref.value not in found[ref.resource]:
                    errors.setdefault(ref.location, []).append(
                        f"value '{ref.value}' must exist in resource '{ref.resource}', "
                        "field '_id'."
                    )
        return doc, _render(errors)

    def _document(
        self,
        document: dict[str, Any],
        schema: Mapping[str, Any],
        location: tuple[str, ...],
        errors: dict[tuple[str, ...], list[str]],
        pending: list[_Pending],
        *,
        update: bool,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in document.items():
            rules = schema.get(name)
            if rules is None:
                errors.setdefault((*location, name), []).append("unknown field")
                continue
            out[name] = self._field(
                value, rules, (*location, name), errors, pending, update=update
            )
        for name, rules in schema.items():
            if name in document:
                continue
            if "default" in rules and not update:
                default = rules["default"]
                out[name] = (
                    default.copy() if isinstance(default, dict | list) else default
                )
            elif rules.get("required") and not update:
                errors.setdefault((*location, name), []).append("required field")
        return out

    def _field(
        self,
        value: Any,
        rules: Mapping[str, Any],
        location: tuple[str, ...],
        errors: dict[tuple[str, ...], list[str]],
        pending: list[_Pending],
        *,
        update: bool,
    ) -> Any:
        messages = errors.setdefault(location, [])
        if value is None:
            if not rules.get("nullable", False):
                messages.append("null value not allowed")
            return value
        if rules.get("readonly"):
            messages.append("field is read-only")
            return value
        types = _types(rules)
        if "datetime" in types and isinstance(value, str):
            parsed = parse_date(value)
            value = parsed if parsed is not None else value
        if types and not any(_TYPE_CHECKS[t](value) for t in types):
            shown = f"{types[0]}" if len(types) == 1 else f"{list(types)}"
            messages.append(f"must be of {shown} type")
            return value
        if rules.get("empty") is False and isinstance(value, str | list | dict) and not value:
            messages.append("empty values not allowed")
            return value
        for rule, constraint in rules.items():
            if rule == "allowed":
                if isinstance(value, list):
                    bad = [v for v in value if v not in constraint]
                    if bad:
                        messages.append(f"unallowed values {tuple(bad)!r}")
                elif value not in constraint:
                    messages.append(f"unallowed value {value}")
            elif rule == "minlength" and isinstance(value, str | list) and len(value) < constraint:
                messages.append(f"min length is {constraint}")
            elif rule == "maxlength" and isinstance(value, str | list) and len(value) > constraint:
                messages.append(f"max length is {constraint}")
            elif rule == "min" and isinstance(value, int | float) and value < constraint:
                messages.append(f"min value is {constraint}")
            elif rule == "max" and isinstance(value, int | float) and value > constraint:
                messages.append(f"max value is {constraint}")
            elif rule == "regex" and isinstance(value, str):
                if self._regex[constraint].fullmatch(value) is None:
                    messages.append(f"value does not match regex '{constraint}'")
            elif rule == "schema" and isinstance(constraint, dict):
                if isinstance(value, dict) and "dict" in types:
                    value = self._document(
                        value, constraint, location, errors, pending, update=update
                    )
                elif isinstance(value, list):
                    value = [
                        self._field(item, constraint, (*location, str(i)), errors, pending,
                                    update=update)
                        for i, item in enumerate(value)
                    ]
            elif rule == "data_relation" and isinstance(value, str):
                pending.append(_Pending(constraint["resource"], value, location))
        return value


def _render(errors: dict[tuple[str, ...], list[str]]) -> Issues:
    """Turn ``{location: [messages]}`` into Eve's nested ``_issues`` dict."""
    tree: Issues = {}
    for location, messages in errors.items():
        if not messages:
            continue
        node = tree
        for part in location[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        leaf = location[-1]
        if isinstance(node.get(leaf), dict):
            continue
        node[leaf] = messages[0] if len(messages) == 1 else list(messages)
    return tree


def expand_dotted(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` with dotted keys expanded: ``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if "." not in key:
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
            continue
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``patch``; sub-dicts merge, everything else is replaced."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def json_schema(schema: Schema, *, for_update: bool = False) -> dict[str, Any]:
    """Return a JSON Schema describing request bodies of ``schema`` (for OpenAPI)."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, rules in schema.items():
        props[name] = _json_field(rules, for_update=for_update)
        if rules.get("required") and not for_update:
            required.append(name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


_JSON_TYPES = {
    "string": "string", "integer": "integer", "float": "number", "number": "number",
    "boolean": "boolean", "dict": "object", "list": "array", "media": "string",
}


def _json_field(rules: Mapping[str, Any], *, for_update: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    types = _types(rules)
    if types == ("datetime",):
        out = {"type": "string", "description": f"date in the form `{DATE_FORMAT}`"}
    elif types == ("media",):
        out = {"type": "string", "format": "binary", "description": "file (multipart only)"}
    elif len(types) == 1:
        out["type"] = _JSON_TYPES[types[0]]
    elif types:
        out["type"] = [_JSON_TYPES[t] for t in types]
    if isinstance(out.get("type"), str):
        if out["type"] == "string":
            if "minlength" in rules:
                out["minLength"] = rules["minlength"]
            if "maxlength" in rules:
                out["maxLength"] = rules["maxlength"]
            if "regex" in rules and types != ("media",):
                out["pattern"] = f"^(?:{rules['regex']})$"
        if out["type"] == "array":
            if "minlength" in rules:
                out["minItems"] = rules["minlength"]
            if "maxlength" in rules:
                out["maxItems"] = rules["maxlength"]
    if "min" in rules:
        out["minimum"] = rules["min"]
    if "max" in rules:
        out["maximum"] = rules["max"]
    if "allowed" in rules:
        if types == ("list",):
            out["items"] = {"enum": list(rules["allowed"])}
        else:
            out["enum"] = list(rules["allowed"])
    sub = rules.get("schema")
    if isinstance(sub, dict):
        if types == ("list",):
            out["items"] = _json_field(sub, for_update=for_update)
        elif types == ("dict",):
            out.update(json_schema(sub, for_update=for_update))
    if rules.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out
