"""Download of a dataset's ``http(s)`` ``matrixLocation`` (``bioblocks dataset fetch``)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from ..errors import IngestError
from ..progress import Progress, null_progress
from ._streams import ImportLimits

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
FIELD = "matrixLocation"


def url_file_name(url: str) -> str:
    """Return a safe local file name from the last segment of ``url``'s path."""
    segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    name = _SAFE_NAME.sub("_", segment).strip("._")
    return name or "matrix"


def fetch_url(
    url: str,
    dest: Path,
    *,
    progress: Progress = null_progress,
    limits: ImportLimits,
    timeout: float = 60.0,
    attempts: int = 4,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Stream ``url`` to ``dest`` and return the written path.

    ``dest`` is a file path, or an existing folder (the file is then named after
    the URL's last path segment). Bytes go to ``<dest>.part`` first, renamed when
    complete; an interrupted transfer resumes with a ``Range`` request when the
    server honours it (206), else starts over. Downloads above
    ``limits.max_download_bytes`` are refused. Raises :class:`IngestError`
    (field ``matrixLocation``) for a bad URL, an HTTP error or a size overrun.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise IngestError(f"only http(s) URLs can be fetched, not {url!r}", field=FIELD)
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / url_file_name(url)
    part = dest.with_name(dest.name + ".part")
    client = httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
        follow_redirects=True,
        transport=transport,
        headers={"User-Agent": "bioblocks-server"},
    )
    last_error: Exception | None = None
    with client:
        for attempt in range(1, attempts + 1):
            try:
                if _download(client, url, part, limits=limits, progress=progress):
                    os.replace(part, dest)
                    progress(1.0, f"downloaded {dest.name}")
                    return dest
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                last_error = exc
                log.warning("download of %s interrupted (%s), attempt %d", url, exc, attempt)
    raise IngestError(
        f"download of {url} failed after {attempts} attempts: {last_error}", field=FIELD
    )


def _download(
    client: httpx.Client, url: str, part: Path, *, limits: ImportLimits, progress: Progress
) -> bool:
    """One attempt; returns True when ``part`` holds the whole file."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 416 and have:
            part.unlink()
            return False
        if response.status_code >= 400:
            raise IngestError(
                f"download failed: HTTP {response.status_code} from {url}", field=FIELD
            )
        total: int | None = None
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != have:
                part.unlink(missing_ok=True)
                return False
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            have = 0
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        if total is not None and total > limits.max_download_bytes:
            raise IngestError(
                f"the file has {total:,} bytes, above the limit of "
                f"{limits.max_download_bytes:,} (BIOBLOCKS_MAX_UPLOAD_BYTES)",
                field=FIELD,
            )
        written = have
        with open(part, mode) as out:
            for chunk in response.iter_bytes(_CHUNK):
                written += len(chunk)
                if written > limits.max_download_bytes:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise IngestError(
                        f"the download exceeds the limit of {limits.max_download_bytes:,} bytes",
                        field=FIELD,
                    )
                out.write(chunk)
                if total:
                    progress(min(written / total, 0.999), f"downloaded {written:,} bytes")
        if total is not None and written < total:
            raise httpx.RemoteProtocolError(f"connection closed at {written:,} of {total:,} bytes")
    return True
