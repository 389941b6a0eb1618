"""The resources' schemas (Eve's, in Cerberus's language) and their validator, by Cerberus.

A schema is a plain ``dict`` mapping field names to rule dicts, exactly as Eve
declared them::

    {"name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
     "analyses": {"type": "list", "default": [],
                  "schema": {"type": "string",
                             "data_relation": {"resource": "analysis", "embeddable": True}}}}

Any Cerberus 1.3 rule may be used. Eve's additions, as Eve has them: the ``media``
type (a :class:`MediaUpload`), ``data_relation`` (``resource``, ``field`` = ``_id``,
``embeddable``; checked against the store in one lookup per resource) and
``datetime`` fields given as DATE_FORMAT strings. Where this server differs from
plain Cerberus: ``regex`` is a full match; booleans are not integers or floats; a
default fills only a missing field (a null stays an error) and never in an update.
Adding an optional field is one more entry in the dict.

:class:`Validator` returns Eve's issue texts, which are Cerberus's messages (one
string per field with a single problem, a list with several, in Cerberus's order
of rule names; sub-documents nest as dicts, list items are keyed by their index as
a string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cerberus
from cerberus import TypeDefinition, errors

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
    ``datetime_fields`` list the top-level fields of those types. ``own_routes`` names
    the generic routes the Eve router leaves to the resource's own module (``"GET"``,
    ``"POST"``, ``"DELETE"`` of the collection; ``"GET item"``, ``"PATCH item"``,
    ``"PUT item"``, ``"DELETE item"``).
    """

    url: str
    schema: Schema
    own_routes: frozenset[str] = frozenset()
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


class _Cerberus(cerberus.Validator):
    """Cerberus with Eve's extras: ``media``, ``data_relation``, DATE_FORMAT dates.

    Two per-call settings travel to the child validators through Cerberus's
    configuration: ``found`` (``{resource: existing ids}``, or ``None`` not to
    check references) and ``partial`` (an update: no defaults are filled).
    """

    types_mapping = {
        **cerberus.Validator.types_mapping,
        # booleans are not numbers in our documents (Cerberus takes True as an integer)
        "integer": TypeDefinition("integer", (int,), (bool,)),
        "float": TypeDefinition("float", (float, int), (bool,)),
        "media": TypeDefinition("media", (MediaUpload,), ()),
    }

    @property
    def schema(self) -> Any:
        """The rules; a :class:`_Checked` schema is taken as it is (see :class:`Validator`)."""
        return self._schema

    @schema.setter
    def schema(self, schema: Any) -> None:
        if isinstance(schema, _Checked):
            self._schema = schema
        else:
            cerberus.Validator.schema.fset(self, schema)

    def _normalize_coerce_date(self, value: Any) -> Any:
        """Turn a DATE_FORMAT string into a datetime; anything else stays (the type rule tells)."""
        parsed = parse_date(value) if isinstance(value, str) else None
        return value if parsed is None else parsed

    def _normalize_default(self, mapping: dict[str, Any], schema: Any, field: str) -> None:
        """{'nullable': True}"""
        # Only a missing field gets its default (a null stays a null), and never in an update.
        if field not in mapping and not self._config.get("partial"):
            mapping[field] = deepcopy(schema[field]["default"])

    def _validate_readonly(self, readonly: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""
        if value is not None:  # a null is the nullable rule's to judge, alone
            super()._validate_readonly(readonly, field, value)

    def _validate_regex(self, pattern: str, field: str, value: Any) -> None:
        """{'type': 'string'}"""
        # a full match (Cerberus appends ``$`` and matches: "a|b" would take "ax", "x\\n" "x")
        if isinstance(value, str) and re.fullmatch(pattern, value) is None:
            self._error(field, errors.REGEX_MISMATCH)

    def _validate_data_relation(self, relation: dict[str, Any], field: str, value: Any) -> None:
        """{'type': 'dict', 'schema': {'resource': {'type': 'string', 'required': True},
                                       'field': {'type': 'string'},
                                       'embeddable': {'type': 'boolean'}}}"""
        found = self._config.get("found")
        resource = relation["resource"]
        if found is not None and isinstance(value, str) and value not in found.get(resource, ()):
            self._error(field, f"value '{value}' must exist in resource '{resource}', field '_id'.")


class _Checked(dict[str, Any]):
    """A schema that Cerberus has checked and expanded once.

    Cerberus re-checks a schema given as a plain dict (hashing it whole) for
    every document and again for every field it normalises: 12 ms for one
    visualization document instead of 1.2 ms.
    """


class IssuesHandler(errors.BasicErrorHandler):
    """Render Cerberus's errors as Eve's ``_issues``: one text as a string, several as a list.

    Sub-documents nest as dicts and list items are keyed by their index as a
    string; where a field has both its own texts and its items', the items' win.
    A subclass may word a text its own way by overriding ``_format_message``.
    """

    @property
    def pretty_tree(self) -> Issues:
        return _issues(self.tree)


def _issues(tree: Mapping[Any, list[Any]]) -> Issues:
    out: Issues = {}
    for name, entries in tree.items():
        *texts, children = entries  # BasicErrorHandler: [text, ..., {sub-tree}]
        if children:
            out[str(name)] = _issues(children)
        elif texts:
            out[str(name)] = texts[0] if len(texts) == 1 else texts
    return out


def _for_cerberus(rules: Mapping[str, Any]) -> dict[str, Any]:
    """Return one field's rules with a ``coerce`` of DATE_FORMAT strings on datetime fields."""
    out = dict(rules)
    if "datetime" in _types(out):
        out["coerce"] = "date"
    sub = out.get("schema")
    if isinstance(sub, dict):
        out["schema"] = (_for_cerberus(sub) if "list" in _types(out)
                         else {name: _for_cerberus(r) for name, r in sub.items()})
    return out


def _references(value: Any, rules: Mapping[str, Any], out: dict[str, set[str]]) -> None:
    """Collect the ids that ``value`` (under ``rules``) refers to, by resource, into ``out``."""
    relation, sub, types = rules.get("data_relation"), rules.get("schema"), _types(rules)
    if relation and isinstance(value, str):
        out.setdefault(relation["resource"], set()).add(value)
    elif isinstance(sub, dict) and isinstance(value, list) and "list" in types:
        for item in value:
            _references(item, sub, out)
    elif isinstance(sub, dict) and isinstance(value, dict) and "dict" in types:
        for name, item in value.items():
            if isinstance(sub.get(name), dict):
                _references(item, sub[name], out)


class Validator:
    """Validate and normalise documents of one schema by Cerberus, with Eve's ``_issues``."""

    def __init__(self, schema: Schema, *, error_handler: type[IssuesHandler] = IssuesHandler
                 ) -> None:
        self.schema = schema
        self._error_handler = error_handler
        # checked and expanded here, once: a bad rule is a SchemaError at import, not per request
        rules = {name: _for_cerberus(field_rules) for name, field_rules in schema.items()}
        self._rules = _Checked(_Cerberus(rules).schema.schema)

    def validate(
        self,
        document: dict[str, Any],
        *,
        update: bool = False,
        lookup: RelationLookup | None = None,
    ) -> tuple[dict[str, Any], Issues]:
        """Validate ``document``; return ``(normalised document, issues)``.

        Normalisation fills defaults (not in ``update`` mode, where ``required``
        is not enforced either) and turns DATE_FORMAT strings of datetime fields
        into datetimes. ``issues`` is empty when the document is valid.
        ``lookup`` checks data_relation values, one call per referenced resource;
        without it they are not checked.
        """
        found = None
        if lookup is not None:
            wanted: dict[str, set[str]] = {}
            _references(document, {"type": "dict", "schema": self.schema}, wanted)
            found = {resource: lookup(resource, ids) for resource, ids in wanted.items()}
        checker = _Cerberus(self._rules, error_handler=self._error_handler,
                            found=found, partial=update)
        checker.validate(document, update=update)
        return checker.document, checker.errors


def get_path(document: Mapping[str, Any], path: str) -> Any:
    """Return the value at the dotted ``path`` of ``document`` (``"a.b"`` → ``document["a"]["b"]``),
    or None where a part is missing or not a mapping."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


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
