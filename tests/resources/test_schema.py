"""The schema language and validator: Eve's exact ``_issues`` texts and shapes."""

from __future__ import annotations

from datetime import datetime

import pytest
from cerberus import SchemaError

from bioblocks.resources import (
    RESOURCES,
    MediaUpload,
    Validator,
    deep_merge,
    expand_dotted,
    format_date,
    get_path,
    json_schema,
    parse_date,
)

SCHEMA = {
    "name": {"type": "string", "minlength": 3, "regex": "^[a-z]+$", "required": True},
    "tags": {"type": "list", "allowed": ["a", "b"]},
    "count": {"type": "integer", "min": 1, "max": 5, "default": 1},
    "ratio": {"type": "float"},
    "either": {"type": ["string", "integer"]},
    "meta": {"type": "dict", "schema": {"a": {"type": "integer"}, "b": {"type": "string",
                                                                        "default": "x"}}},
    "ref": {"type": "string", "data_relation": {"resource": "analysis", "embeddable": True}},
    "when": {"type": "datetime"},
    "icon": {"type": "media"},
    "fixed": {"type": "string", "readonly": True},
    "nonempty": {"type": "string", "empty": False},
    "maybe": {"type": "string", "nullable": True},
}


def test_messages_and_shapes() -> None:
    validator = Validator(SCHEMA)
    doc, issues = validator.validate({
        "name": "A1", "tags": ["a", "z", "y"], "count": 9, "ratio": True, "either": 1.5,
        "meta": {"a": "x", "zz": 1}, "when": "2024-03-04", "icon": "x", "fixed": "f",
        "nonempty": "", "maybe": None,
    })
    assert issues == {
        "name": ["min length is 3", "value does not match regex '^[a-z]+$'"],
        "tags": "unallowed values ('z', 'y')",
        "count": "max value is 5",
        "ratio": "must be of float type",
        "either": "must be of ['string', 'integer'] type",
        "meta": {"a": "must be of integer type", "zz": "unknown field"},
        "when": "must be of datetime type",
        "icon": "must be of media type",
        "fixed": "field is read-only",
        "nonempty": "empty values not allowed",
    }
    assert validator.validate({"count": 0})[1] == {"count": "min value is 1",
                                                    "name": "required field"}


def test_normalisation_defaults_dates_media() -> None:
    validator = Validator(SCHEMA)
    upload = MediaUpload("i.png", "image/png", b"x")
    doc, issues = validator.validate({
        "name": "abc", "ratio": 2, "meta": {"a": 1}, "when": "Mon, 04 Mar 2024 10:11:12 GMT",
        "icon": upload,
    })
    assert issues == {}
    assert doc["count"] == 1 and doc["meta"] == {"a": 1, "b": "x"} and doc["icon"] is upload
    assert doc["when"] == datetime(2024, 3, 4, 10, 11, 12)
    patch, issues = validator.validate({"meta": {"a": 2}}, update=True)
    assert issues == {} and patch == {"meta": {"a": 2}}


def test_where_this_server_differs_from_plain_cerberus() -> None:
    validator = Validator(SCHEMA)
    # a null is an error, not a reason to fill in the default; and so for a read-only field
    assert validator.validate({"name": "abc", "count": None, "fixed": None})[1] == {
        "count": "null value not allowed", "fixed": "null value not allowed"}
    # booleans are not numbers
    assert validator.validate({"name": "abc", "count": True})[1] == {
        "count": "must be of integer type"}
    # a regex is matched in full (Cerberus appends "$" and matches from the start)
    assert validator.validate({"name": "abc\n"})[1] == {
        "name": "value does not match regex '^[a-z]+$'"}
    assert Validator({"r": {"type": "string", "regex": "a|b"}}).validate({"r": "ax"})[1] == {
        "r": "value does not match regex 'a|b'"}
    assert RESOURCES["visualization"].validator.validate(
        {"version": "1.2.3\n"}, update=True)[1] == {
        "version": "value does not match regex '^[0-9]+.[0-9]+.[0-9]+$'"}
    # an update fills no defaults, nested or not
    assert validator.validate({"maybe": "m"}, update=True) == ({"maybe": "m"}, {})
    # each document gets its own copy of a default
    first, _ = RESOURCES["dataset"].validator.validate({"name": "d"})
    first["analyses"].append("x")
    assert RESOURCES["dataset"].validator.validate({"name": "d"})[0]["analyses"] == []


def test_a_bad_rule_is_refused_when_the_schema_is_built() -> None:
    with pytest.raises(SchemaError, match="strnig"):
        Validator({"name": {"type": "strnig"}})
    with pytest.raises(SchemaError, match="resource"):
        Validator({"ref": {"type": "string", "data_relation": {"embeddable": True}}})


def test_relations_are_checked_in_one_lookup() -> None:
    calls: list[tuple[str, set[str]]] = []

    def lookup(resource: str, ids: set[str]) -> set[str]:
        calls.append((resource, ids))
        return {"good"}

    _, issues = RESOURCES["dataset"].validator.validate(
        {"name": "d", "analyses": ["good", "bad", "bad2"]}, lookup=lookup)
    assert calls == [("analysis", {"good", "bad", "bad2"})]
    assert issues == {"analyses": {
        "1": "value 'bad' must exist in resource 'analysis', field '_id'.",
        "2": "value 'bad2' must exist in resource 'analysis', field '_id'.",
    }}
    _, issues = RESOURCES["job"].validator.validate(
        {"status": "COMPLETE", "associatedDataset": {"dataset": "zz", "etag": ""}},
        lookup=lambda r, ids: set())
    assert issues == {"associatedDataset": {
        "dataset": "value 'zz' must exist in resource 'dataset', field '_id'.",
        "etag": "min length is 1",
    }}


def test_resources_and_titles() -> None:
    assert list(RESOURCES) == ["dataset", "analysis", "job", "vignette", "visualization",
                               "annotation", "geneset"]
    assert [r.item_title for r in RESOURCES.values()] == [
        "Dataset", "Analysi", "Job", "Vignette", "Visualization", "Annotation", "Geneset"]
    assert RESOURCES["vignette"].media_fields == ("icon",)
    assert set(RESOURCES["dataset"].relations) == {"analyses", "derivedFrom"}
    assert RESOURCES["job"].path_kinds("associatedDataset.dataset") == ["value", "value"]
    assert RESOURCES["visualization"].path_kinds("citations.link") == ["list", "value"]
    assert RESOURCES["analysis"].validator.validate(
        {"name": "n", "processType": "PCA"})[1] == {"processType": "unallowed value PCA"}


def test_helpers() -> None:
    assert expand_dotted({"meta.a": 1, "meta.b": 2, "x": 3}) == {"meta": {"a": 1, "b": 2}, "x": 3}
    assert deep_merge({"m": {"a": 1, "b": 2}, "l": [1]}, {"m": {"a": 9}, "l": [2]}) == {
        "m": {"a": 9, "b": 2}, "l": [2]}
    when = datetime(2024, 3, 4, 10, 11, 12)
    assert format_date(when) == "Mon, 04 Mar 2024 10:11:12 GMT"
    assert parse_date(format_date(when)) == when
    assert parse_date("2024-03-04") is None and parse_date("Mon, 31 Feb 2024 10:11:12 GMT") is None
    schema = json_schema(RESOURCES["visualization"].schema)
    assert "isOriginal" in schema["required"] and schema["additionalProperties"] is False
    assert schema["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 64}


def test_get_path_reads_dotted_fields_and_answers_none_where_a_part_is_missing() -> None:
    doc = {"associatedDataset": {"dataset": "d1"}, "name": "x", "list": [1, 2]}
    assert get_path(doc, "associatedDataset.dataset") == "d1"
    assert get_path(doc, "name") == "x"
    assert get_path(doc, "missing.dataset") is None
    assert get_path(doc, "name.dataset") is None  # a string is not a mapping
    assert get_path(doc, "list.0") is None  # lists are not walked
