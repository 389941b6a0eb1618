"""The files tree: where things live, safe resolution of request paths, atomic writes.

Layout under the data directory (``Settings.data_dir``, default ``./files``)::

    bioblocks.sqlite3                         the default metadata store
    media/<24-hex id>                         uploaded media (icons)
    datasets/<dataset_id>/matrix/matrix.h5ad  the canonical matrix of a dataset
    datasets/<dataset_id>/analyses/<analysis_id>/...   one folder per analysis
    tmp/                                      staging area; same filesystem, so renames are atomic

Staging names carry their owner process; :func:`sweep_staging` removes, at
start-up, what crashed processes left in ``tmp/``. A full disk is
:class:`bioblocks.errors.StorageFullError` (:func:`ensure_free_space`,
:func:`is_disk_full`).
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
from ._space import ensure_free_space, is_disk_full, storage_full
from ._staging import process_alive, staging_path, sweep_staging

__all__ = [
    "PathOutsideDataDir",
    "analysis_dir",
    "atomic_dir",
    "dataset_dir",
    "ensure_free_space",
    "is_disk_full",
    "matrix_dir",
    "matrix_path",
    "media_dir",
    "safe_resolve",
    "staging_path",
    "storage_full",
    "process_alive",
    "sweep_staging",
    "tmp_dir",
]
