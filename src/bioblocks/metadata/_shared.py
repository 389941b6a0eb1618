"""What populate, export and MongoDB import share: a metadata file's collections in
load order, the counts they report, and how to read references and ``_issues``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..resources import Resource, get_path

#: Top-level keys of a metadata file and their resources, in dependency order.
COLLECTIONS: tuple[tuple[str, str], ...] = (
    ("analyses", "analysis"),
    ("datasets", "dataset"),
    ("visualizations", "visualization"),
    ("vignettes", "vignette"),
    ("jobs", "job"),
)
KEY_OF = {resource: key for key, resource in COLLECTIONS}


@dataclass
class Counts:
    """What happened to the documents of one resource."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0



def first_issue(issues: Any, prefix: str = "") -> tuple[str, str]:
    """Return ``(dotted field, message)`` of the first problem in Eve's ``_issues``."""
    if isinstance(issues, Mapping):
        for name, value in issues.items():
            return first_issue(value, f"{prefix}.{name}" if prefix else str(name))
    if isinstance(issues, list) and issues:
        return first_issue(issues[0], prefix)
    return prefix or "document", str(issues)




def references(resource: Resource, doc: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield ``(field path, referenced resource, id)`` for every data_relation value."""
    for path, (relation, is_list) in resource.relations.items():
        value = get_path(doc, path)
        values = value if is_list and isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                yield path, relation.resource, item

