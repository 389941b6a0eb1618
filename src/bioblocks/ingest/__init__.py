"""Matrix ingest: readers for every common count-matrix format, safe archive
extraction, the canonical on-disk matrix, and downloads of remote matrices.

Science-free and HTTP-free: callers (CLI, API upload, pipeline) wrap
:func:`import_matrix` in :func:`bioblocks.storage.atomic_dir` so a failed
import leaves nothing behind.
"""

from ._canonical import (
    CANONICAL_NAME,
    MatrixSummary,
    ViewerParts,
    default_label,
    detect_format,
    import_matrix,
    read_canonical,
    read_canonical_rows,
    read_canonical_tables,
    read_viewer_parts,
)
from ._example import make_example_dataset
from ._fetch import fetch_url
from ._streams import Budget, ImportLimits

__all__ = [
    "CANONICAL_NAME",
    "Budget",
    "ImportLimits",
    "MatrixSummary",
    "ViewerParts",
    "default_label",
    "detect_format",
    "fetch_url",
    "import_matrix",
    "make_example_dataset",
    "read_canonical",
    "read_canonical_rows",
    "read_canonical_tables",
    "read_viewer_parts",
]
