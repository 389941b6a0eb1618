"""The Eve resources and their schemas.

Each resource module (``analysis``, ``dataset``, ``job``, ``vignette``,
``visualization``, ``annotation``, ``geneset``) holds one ``SCHEMA`` dict of Cerberus rules (as Eve declared them;
see :mod:`bioblocks.resources._schema`) and a :class:`Resource` built from it.
Add an optional field by adding one entry to the module's ``SCHEMA``.

``RESOURCES`` maps the URL name to the :class:`Resource`, in the order the home
endpoint lists them. ``Resource.validator.validate(doc, update=..., lookup=...)``
returns ``(normalised doc, _issues)`` with Eve's exact texts (validated by Cerberus).
"""

from __future__ import annotations

from . import analysis, annotation, dataset, geneset, job, vignette, visualization
from ._schema import (
    DATE_FORMAT,
    META_FIELDS,
    UUID_PATTERN,
    UUID_RE,
    IssuesHandler,
    MediaUpload,
    Relation,
    RelationLookup,
    Resource,
    Schema,
    Validator,
    deep_merge,
    expand_dotted,
    format_date,
    from_iso,
    get_path,
    json_schema,
    parse_date,
    to_iso,
)

RESOURCES: dict[str, Resource] = {
    r.url: r
    for r in (
        dataset.RESOURCE,
        analysis.RESOURCE,
        job.RESOURCE,
        vignette.RESOURCE,
        visualization.RESOURCE,
        annotation.RESOURCE,
        geneset.RESOURCE,
    )
}

__all__ = [
    "DATE_FORMAT",
    "META_FIELDS",
    "RESOURCES",
    "UUID_PATTERN",
    "UUID_RE",
    "IssuesHandler",
    "MediaUpload",
    "Relation",
    "RelationLookup",
    "Resource",
    "Schema",
    "Validator",
    "deep_merge",
    "expand_dotted",
    "format_date",
    "from_iso",
    "get_path",
    "json_schema",
    "parse_date",
    "to_iso",
]
