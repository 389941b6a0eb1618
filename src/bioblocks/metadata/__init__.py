"""Loading and exporting metadata: ``populate``, ``export`` and MongoDB import.

- :func:`populate` (``populate.py``) loads a metadata file (the shape of the old
  server's ``db_init.json``) through the document service the API's routes call
  (:mod:`bioblocks.documents`: the same validation, media handling and etags), in
  dependency order, idempotently: a new ``_id`` is created, a changed one replaced
  (with its etag), an identical one left alone. The whole file is checked first; a
  bad file writes nothing.
- :func:`export_metadata` (``export.py``) writes the same shape from the store, icons
  as files in ``icons/`` beside the JSON file, so that export then populate round-trips.
- :func:`import_mongo` (``mongo.py``) reads ``mongoexport --jsonArray`` files and
  writes their documents with their own ``_id``, ``_created``, ``_updated`` and
  ``_etag``; fields the schemas do not know are dropped with a warning.

It imports nothing of :mod:`bioblocks.api` and no HTTP client.
"""

from ._shared import COLLECTIONS, Counts
from .export import ExportReport, export_metadata
from .mongo import (
    GRIDFS_CHUNKS,
    GRIDFS_FILES,
    MONGO_COLLECTIONS,
    MongoImportReport,
    decode_extended_json,
    import_mongo,
    mongo_export_files,
)
from .populate import EXAMPLE_METADATA, PopulateReport, populate, read_metadata_file

__all__ = [
    "COLLECTIONS",
    "EXAMPLE_METADATA",
    "GRIDFS_CHUNKS",
    "GRIDFS_FILES",
    "MONGO_COLLECTIONS",
    "Counts",
    "ExportReport",
    "MongoImportReport",
    "PopulateReport",
    "decode_extended_json",
    "export_metadata",
    "import_mongo",
    "mongo_export_files",
    "populate",
    "read_metadata_file",
]
