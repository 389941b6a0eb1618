"""The ``analysis`` resource: one SPRING, t-SNE or UMAP result of a dataset.

``status``: ``COMPLETE`` when this server wrote the analysis's files; ``NO_FILES`` for a
record whose files are not on this server (the shipped example metadata's HPC and
Tabula Muris analyses): the page lists it greyed out, not as something to open. A
document without ``status`` (the old server's) is taken to have its files.
"""

from __future__ import annotations

from ._schema import Resource, Schema

#: The analyses the server computes, as ``processType`` spells them (also their job kinds).
PROCESS_TYPES = ("SPRING", "TSNE", "UMAP")

SCHEMA: Schema = {
    "name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
    "processType": {"type": "string", "allowed": list(PROCESS_TYPES), "required": True},
    "parameters": {"type": "dict", "default": {}},
    "dataset": {
        "type": "string",
        "data_relation": {"resource": "dataset", "field": "_id", "embeddable": True},
    },
    "subsample": {"type": "integer", "min": 1},
    "seed": {"type": "integer"},
    "status": {"type": "string", "maxlength": 64},
    "preview": {"type": "string", "maxlength": 256},
    # true for an analysis that came with an imported .h5ad (its obsm embedding)
    "imported": {"type": "boolean"},
}

RESOURCE = Resource("analysis", SCHEMA)
