"""The ``geneset`` resource: a named list of genes to score cells by.

``author`` is written by the server from the token that created the set (read-only to
clients, kept by a PUT); ``GET /analysis/{id}/score?geneset=<id>`` scores an
analysis's cells by the set (:mod:`bioblocks.api.genesets`).
"""

from __future__ import annotations

from ._schema import Resource, Schema

#: Most genes of one set.
MAX_GENES = 5000

SCHEMA: Schema = {
    "name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
    "genes": {
        "type": "list",
        "required": True,
        "minlength": 1,
        "maxlength": MAX_GENES,
        "schema": {"type": "string", "minlength": 1, "maxlength": 128},
    },
    "species": {"type": "string", "minlength": 1, "maxlength": 64},
    "author": {"type": "string", "readonly": True},
}

RESOURCE = Resource("geneset", SCHEMA)
