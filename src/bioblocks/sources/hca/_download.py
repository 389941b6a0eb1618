"""Download one HCA matrix file: fetch loop, signed URL, resume, size and sha256 checks."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import httpx

from ...errors import InputError, NotFoundError
from ...progress import Progress, null_progress
from ._client import AzulClient
from ._errors import AzulError, DownloadVerificationError
from ._models import MatrixFile

logger = logging.getLogger(__name__)

#: Default size limit of one download (the default of ``Settings.hca_max_download_bytes``).
DEFAULT_MAX_BYTES = 64 * 1024**3
_CHUNK = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def local_name(file: MatrixFile) -> str:
    """A safe local file name for ``file``: ``<uuid>-<name>`` with odd characters replaced.

    The name's suffix is kept (the importer reads the format from it); no path
    separator or leading dot survives, so the file stays inside the target folder.
    """
    base = _UNSAFE.sub("_", Path(file.name.replace("\\", "/")).name).lstrip(".") or "matrix"
    uuid = _UNSAFE.sub("_", file.uuid)
    return f"{uuid}-{base}"[:200]


def _sha256_of(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest


def _verify(path: Path, file: MatrixFile, digest: str) -> None:
    """Raise :class:`DownloadVerificationError` (after removing ``path``) on a size/sha mismatch."""
    size = path.stat().st_size
    problem = None
    if file.size is not None and size != file.size:
        problem = f"it has {size} bytes, the HCA index says {file.size}"
    elif file.sha256 and digest.lower() != file.sha256.strip().lower():
        problem = f"its sha256 is {digest}, the HCA index says {file.sha256}"
    if problem:
        path.unlink(missing_ok=True)
        raise DownloadVerificationError(
            f"the download of {file.name} ({file.uuid}) is corrupt: {problem}; the file was "
            "removed and nothing was imported; run the import again"
        )


def download_matrix(
    client: AzulClient,
    file: MatrixFile,
    dest_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Progress = null_progress,
) -> Path:
    """Download ``file`` into ``dest_dir`` and return the verified local path.

    Resolves the signed URL with :meth:`AzulClient.signed_url`, streams it into
    ``<dest>.part`` (resuming an existing ``.part`` with ``Range``, and resuming
    again when a connection drops half-way), asks Azul once for a fresh URL when
    storage answers 400/403 (expired signature), checks the size and sha256 from
    the index, then renames the file to ``dest_dir/<uuid>-<name>``. A file already
    there that verifies is returned without downloading. A mismatch removes the
    file and raises :class:`DownloadVerificationError`; a cancellation raised by
    ``progress`` leaves the ``.part`` file for a later resume.
    """
    if file.size is not None and file.size > max_bytes:
        raise InputError(
            f"{file.name} has {file.size} bytes, more than the limit of {max_bytes} "
            "(BIOBLOCKS_HCA_MAX_DOWNLOAD_BYTES); pick a smaller file with --file or raise the limit",
            field="file",
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / local_name(file)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        try:
            _verify(dest, file, _sha256_of(dest).hexdigest())
        except DownloadVerificationError:
            logger.warning("removed a corrupt earlier download of %s", file.name)
        else:
            logger.info("%s is already downloaded and verified", file.name)
            progress(1.0, f"{file.name} already downloaded")
            return dest

    limit = file.size if file.size is not None else max_bytes
    progress(0.0, f"resolving the download of {file.name}")
    signed = client.signed_url(file)
    resigned = False
    digest = hashlib.sha256()
    offset = 0
    if part.exists():
        if part.stat().st_size > limit:
            part.unlink()
        else:
            digest = _sha256_of(part)
            offset = part.stat().st_size
            logger.info("resuming %s at byte %d", file.name, offset)

    failures = 0
    while True:
        if file.size is not None and offset >= file.size:
            break
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with client.open_download(signed, headers=headers) as response:
                status = response.status_code
                if status in (400, 403):
                    if resigned:
                        raise AzulError(
                            f"storage refused the download of {file.name} (HTTP {status}) even "
                            "with a fresh signed URL",
                            status=status,
                        )
                    logger.info("signed URL refused (HTTP %d); asking Azul for a new one", status)
                    signed, resigned = client.signed_url(file), True
                    continue
                if status == 404:
                    raise NotFoundError(f"storage has no object for {file.name} ({file.uuid})")
                if status == 416:
                    total = response.headers.get("Content-Range", "").rpartition("/")[2]
                    if total.isdigit() and int(total) == offset:
                        break  # the stored object ends here; verification decides
                    logger.warning("storage refused the range at %d; restarting %s", offset, file.name)
                    part.unlink(missing_ok=True)
                    digest, offset = hashlib.sha256(), 0
                    failures += 1
                    if failures >= client.max_attempts:
                        raise AzulError(f"storage keeps refusing the download of {file.name}")
                    continue
                if status == 206 and offset:
                    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                    if match and int(match.group(1)) != offset:
                        raise AzulError(
                            f"storage resumed {file.name} at byte {match.group(1)}, not {offset}"
                        )
                    mode = "ab"
                else:
                    if offset:
                        logger.info("storage ignored the range; restarting %s", file.name)
                    digest, offset, mode = hashlib.sha256(), 0, "wb"
                if status not in (200, 206):
                    raise AzulError(
                        f"storage answered HTTP {status} for {file.name}", status=status
                    )
                received = 0
                with part.open(mode) as handle:
                    for chunk in response.iter_bytes():
                        if offset + len(chunk) > limit:
                            handle.close()
                            part.unlink(missing_ok=True)
                            raise DownloadVerificationError(
                                f"storage sent more than {limit} bytes for {file.name}; the "
                                "file was removed and nothing was imported"
                            )
                        handle.write(chunk)
                        digest.update(chunk)
                        offset += len(chunk)
                        received += len(chunk)
                        if file.size:
                            progress(offset / file.size, f"downloading {file.name}")
                length = response.headers.get("Content-Length", "")
                whole = length.isdigit() and received == int(length)  # not cut: the object ended
                if file.size is None or offset >= file.size or whole:
                    break
                raise httpx.RemoteProtocolError("the connection ended before the file did")
        except httpx.TransportError as exc:
            failures += 1
            if failures >= client.max_attempts:
                raise AzulError(
                    f"the download of {file.name} failed {failures} times (last: {exc}); "
                    "run the import again to resume it"
                ) from exc
            wait = client.backoff_delay(failures - 1)
            logger.warning(
                "download of %s interrupted at byte %d (%s); resuming in %.1f s",
                file.name, offset, exc, wait,
            )
            client.sleep(wait)

    _verify(part, file, digest.hexdigest())
    os.replace(part, dest)
    progress(1.0, f"downloaded {file.name}")
    logger.info("downloaded and verified %s (%d bytes)", file.name, dest.stat().st_size)
    return dest
