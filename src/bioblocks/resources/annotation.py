"""The ``annotation`` resource: named groups of an analysis's cells, saved on the server.

A client writes ``analysis``, ``name`` and ``categories`` (each a ``name`` and a
``#rrggbb`` ``color``) and sends the per-cell labels beside them (``cells``: category
→ cell indices; see :mod:`bioblocks.documents` ``_annotations``). The server writes the
rest: ``author`` (the writing token's name), ``version`` (1, 2, ...), ``cellCount``,
``labelsFile`` (the version's labels, a ``.npy`` file of category indices in the
analysis folder, relative to the data directory) and ``history`` (one entry per
earlier version). Its writes have their own routes (:mod:`bioblocks.api.annotations`):
every change is a new version, and the labels never sit in the document.
"""

from __future__ import annotations

from ._schema import Resource, Schema

#: Most categories of one annotation (labels are stored as int16, -1 for unlabelled).
MAX_CATEGORIES = 1000
COLOR_PATTERN = "#[0-9a-fA-F]{6}"
#: Fields the server writes; a client that sends one gets a 422 (read-only).
SERVER_FIELDS = ("author", "version", "cellCount", "labelsFile", "history")

SCHEMA: Schema = {
    "analysis": {
        "type": "string",
        "required": True,
        "data_relation": {"resource": "analysis", "field": "_id", "embeddable": True},
    },
    "name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
    "categories": {
        "type": "list",
        "required": True,
        "maxlength": MAX_CATEGORIES,
        "schema": {
            "type": "dict",
            "schema": {
                "name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
                "color": {"type": "string", "regex": COLOR_PATTERN, "required": True},
            },
        },
    },
    "author": {"type": "string", "readonly": True},
    "version": {"type": "integer", "readonly": True},
    "cellCount": {"type": "integer", "readonly": True},
    "labelsFile": {"type": "string", "readonly": True},
    "history": {"type": "list", "readonly": True},
}

#: Only ``GET /annotation`` is the generic router's; a PUT is not offered (405).
RESOURCE = Resource("annotation", SCHEMA,
                    own_routes=frozenset({"POST", "DELETE", "GET item", "PATCH item",
                                          "PUT item", "DELETE item"}))
