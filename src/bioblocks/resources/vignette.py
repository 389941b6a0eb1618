"""The ``vignette`` resource: a curated story pairing a dataset with visualizations."""

from __future__ import annotations

from ._schema import Resource, Schema

SCHEMA: Schema = {
    "authors": {
        "type": "list",
        "required": True,
        "schema": {"type": "string", "minlength": 1, "maxlength": 32},
    },
    "dataset": {
        "type": "string",
        "required": True,
        "data_relation": {"resource": "dataset", "field": "_id", "embeddable": True},
    },
    "icon": {"type": "media"},
    "link": {"type": "string", "minlength": 2, "maxlength": 256},
    "name": {"type": "string", "minlength": 2, "maxlength": 128},
    "summary": {"type": "string", "minlength": 2, "maxlength": 1024},
    "visualizations": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "string",
            "data_relation": {"resource": "visualization", "field": "_id", "embeddable": True},
        },
    },
}

RESOURCE = Resource("vignette", SCHEMA)
