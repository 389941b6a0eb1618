"""The ``job`` resource: a background task (import, fetch, analysis) and its progress.

The one definition of the job kinds' names, the job states and the old ``status``
field's values; :mod:`bioblocks.jobs`, the pipeline, the API and the CLI import them.
"""

from __future__ import annotations

from ._schema import Resource, Schema
from .analysis import PROCESS_TYPES

#: The kinds of job (``kind``); the analyses' kinds are their process types.
KINDS = ("import", "fetch-matrix", *PROCESS_TYPES, "hca-sync", "pipeline", "diffexp")
#: A job's life: ``queued`` -> ``running`` -> ``complete`` | ``error`` | ``cancelled``.
STATES = ("queued", "running", "complete", "error", "cancelled")
#: The states of a job that has not finished (it may still be claimed or cancelled).
ACTIVE_STATES = ("queued", "running")
#: The states of a finished job.
FINAL_STATES = ("complete", "error", "cancelled")
#: The old ``status`` field of each state, kept in step for old readers.
OLD_STATUS = {
    "queued": "IN_PROGRESS",
    "running": "IN_PROGRESS",
    "complete": "COMPLETE",
    "error": "ERROR",
    "cancelled": "ERROR",
}

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
    "kind": {"type": "string", "allowed": list(KINDS)},
    "state": {"type": "string", "allowed": list(STATES)},
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
