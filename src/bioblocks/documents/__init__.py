"""The document service: how the five resources' documents are written.

One implementation of the writes for every caller: the Eve router
(:mod:`bioblocks.api.eve`, their HTTP adapter) and :mod:`bioblocks.metadata`
(populate) call the same verbs, so a document gets the same validation (the
resource's Cerberus validator, ``data_relation`` included), etag checks, media
handling, ``_created``/``_updated``/``_etag`` and file cascade whichever way it comes.

- :func:`insert`, :func:`replace`, :func:`patch`, :func:`delete`,
  :func:`delete_matching` and :func:`check_etag` (``_write.py``; its docstring draws
  the exceptions they raise and the status the router answers for each);
- what a delete or a replacement does to the files (``_cascade.py``);
- annotations, whose writes keep every version and a labels file beside the document
  (``_annotations.py``: :func:`create_annotation`, :func:`update_annotation`,
  :func:`delete_annotation`, and the readers of their labels).

It sits below ``api`` and ``metadata`` and above ``pipeline`` (whose operations the
cascade calls); it knows nothing of HTTP.
"""

from ._annotations import (
    CELLS_FIELD,
    LABELS_FOLDER,
    UNLABELLED,
    AnalysisCells,
    Locate,
    annotation_version,
    as_track,
    category_names,
    create_annotation,
    decode_labels,
    delete_annotation,
    encode_labels,
    read_labels,
    update_annotation,
)
from ._write import (
    DocumentMissing,
    EmptyBulk,
    EtagRequired,
    ImmutableId,
    InvalidDocuments,
    check_etag,
    delete,
    delete_matching,
    insert,
    patch,
    replace,
)

__all__ = [
    "CELLS_FIELD",
    "LABELS_FOLDER",
    "UNLABELLED",
    "AnalysisCells",
    "Locate",
    "annotation_version",
    "as_track",
    "category_names",
    "create_annotation",
    "decode_labels",
    "delete_annotation",
    "encode_labels",
    "read_labels",
    "update_annotation",
    "DocumentMissing",
    "EmptyBulk",
    "EtagRequired",
    "ImmutableId",
    "InvalidDocuments",
    "check_etag",
    "delete",
    "delete_matching",
    "insert",
    "patch",
    "replace",
]
