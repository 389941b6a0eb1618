"""The ``job`` resource: a background task (import, fetch, analysis) and its progress."""

from __future__ import annotations

from ._schema import Resource, Schema

KINDS = ["import", "fetch-matrix", "SPRING", "TSNE", "UMAP", "hca-sync", "pipeline"]
STATES = ["queued", "running", "complete", "error", "cancelled"]

SCHEMA: Schema = {
    "associatedDataset": {
        "type": "dict",
        "schema": {
            "dataset": {
                "type": "string",
                "required": True,
                "data_relation": {"resource": "dataset", "field": "_id", "embeddable": True},
            },
            "etag": {"type": "string", "minlength": 1, "maxlength": 48},
        },
    },
    "link": {"type": "string", "minlength": 2, "maxlength": 256},
    "status": {"type": "string", "allowed": ["IN_PROGRESS", "ERROR", "COMPLETE"], "required": True},
    "kind": {"type": "string", "allowed": KINDS},
    "state": {"type": "string", "allowed": STATES},
    "progress": {"type": "float", "min": 0, "max": 1},
    "message": {"type": "string", "maxlength": 1024},
    "parameters": {"type": "dict"},
    "results": {"type": "dict"},
    "error": {"type": "string"},
    "attempts": {"type": "integer", "min": 0},
    "createdAt": {"type": "datetime"},
    "startedAt": {"type": "datetime", "nullable": True},
    "finishedAt": {"type": "datetime", "nullable": True},
    "worker": {"type": "string", "maxlength": 256},
}

RESOURCE = Resource("job", SCHEMA)
