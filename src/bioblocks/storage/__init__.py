"""The files tree: where things live, safe resolution of request paths, atomic writes.

Layout under the data directory (``Settings.data_dir``, default ``./files``)::

    bioblocks.sqlite3                         the default metadata store
    media/<24-hex id>                         uploaded media (icons)
    datasets/<dataset_id>/matrix/matrix.h5ad  the canonical matrix of a dataset
    datasets/<dataset_id>/analyses/<analysis_id>/...   one folder per analysis
    tmp/                                      staging area; same filesystem, so renames are atomic
"""

from ._files import (
    PathOutsideDataDir,
    analysis_dir,
    atomic_dir,
    dataset_dir,
    matrix_dir,
    matrix_path,
    media_dir,
    safe_resolve,
    tmp_dir,
)

__all__ = [
    "PathOutsideDataDir",
    "analysis_dir",
    "atomic_dir",
    "dataset_dir",
    "matrix_dir",
    "matrix_path",
    "media_dir",
    "safe_resolve",
    "tmp_dir",
]
