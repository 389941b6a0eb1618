"""The ``visualization`` resource: a front-end visualization and what data it can show."""

from __future__ import annotations

from ._schema import Resource, Schema

_SHORT_LIST = {"type": "list", "schema": {"type": "string", "minlength": 1, "maxlength": 32}}

SCHEMA: Schema = {
    "authors": {**_SHORT_LIST, "required": True},
    "citations": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "fullCitation": {"type": "string", "minlength": 1, "maxlength": 256},
                "link": {"type": "string", "minlength": 1, "maxlength": 256},
            },
        },
    },
    "compatibleData": {**_SHORT_LIST, "required": True},
    "exampleDataset": {"type": "string", "required": True},
    "icon": {"type": "media"},
    "isOriginal": {"type": "boolean", "required": True},
    "labels": dict(_SHORT_LIST),
    "location": {"type": "string", "minlength": 1, "maxlength": 256},
    "name": {"type": "string", "minlength": 1, "maxlength": 64, "required": True},
    "repo": {
        "type": "dict",
        "required": True,
        "schema": {
            "lastUpdate": {"type": "string", "minlength": 1, "maxlength": 64, "required": True},
            "link": {"type": "string", "minlength": 1, "maxlength": 64, "required": True},
            "version": {"type": "string", "minlength": 1, "maxlength": 8, "required": True},
        },
    },
    "summary": {"type": "string", "minlength": 8, "maxlength": 256, "required": True},
    "version": {"type": "string", "regex": "^[0-9]+.[0-9]+.[0-9]+$", "required": True},
}

RESOURCE = Resource("visualization", SCHEMA)
