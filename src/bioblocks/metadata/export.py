"""``export``: write the store's metadata as a file that :func:`.populate.populate` reads back."""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..progress import Progress, null_progress
from ..resources import RESOURCES, format_date
from ..store import open_store
from ._shared import COLLECTIONS

log = logging.getLogger(__name__)

_SUFFIX_RE = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass
class ExportReport:
    """Result of :func:`export_metadata`: documents per resource and icon files written."""

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    media_written: int = 0



def _to_file_value(value: Any) -> Any:
    """Datetimes → DATE_FORMAT strings (what the API accepts back), recursively."""
    if isinstance(value, datetime):
        return format_date(value)
    if isinstance(value, dict):
        return {k: _to_file_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_file_value(v) for v in value]
    return value


def export_metadata(
    settings: Settings, path: Path, *, progress: Progress = null_progress
) -> ExportReport:
    """Write every document of the store to a metadata file that :func:`populate` reads back.

    Writes ``path`` (replaced atomically) and the media files of media fields to
    ``icons/<resource>-<_id>-<field><ext>`` beside it. Only ``_id`` and schema
    fields are written (no ``_created``/``_updated``/``_etag``); ``jobs`` is
    written only when there are jobs. Returns the counts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    icons = path.parent / "icons"
    report = ExportReport(path=path)
    out: dict[str, list[dict[str, Any]]] = {}
    store = open_store(settings)
    try:
        for number, (key, resource_name) in enumerate(COLLECTIONS):
            progress(number / len(COLLECTIONS), f"exporting {key}")
            resource = RESOURCES[resource_name]
            items = []
            for doc in store.find(resource_name):
                item: dict[str, Any] = {"_id": doc["_id"]}
                for name in resource.schema:
                    if name == "_id" or name not in doc:
                        continue
                    if name in resource.media_fields:
                        info = store.get_media(doc[name]) if isinstance(doc[name], str) else None
                        if info is None:
                            log.warning("%s %s: media %r is missing; not exported",
                                        resource_name, doc["_id"], doc[name])
                            continue
                        suffix = Path(info.filename).suffix
                        ext = (suffix if _SUFFIX_RE.fullmatch(suffix)
                               else mimetypes.guess_extension(info.content_type) or ".bin")
                        target = icons / f"{resource_name}-{doc['_id']}-{name}{ext}"
                        try:
                            data = info.path.read_bytes()
                        except OSError:
                            log.warning("%s %s: media file %s is unreadable; not exported",
                                        resource_name, doc["_id"], info.path)
                            continue
                        icons.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(data)
                        report.media_written += 1
                        item[name] = f"icons/{target.name}"
                    else:
                        item[name] = _to_file_value(doc[name])
                items.append(item)
            if items or key != "jobs":
                out[key] = items
                report.counts[resource_name] = len(items)
    finally:
        store.close()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    progress(1.0, f"wrote {path}")
    return report

