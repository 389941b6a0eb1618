"""Errors of the HCA source, below the package hierarchy (:mod:`bioblocks.errors`).

    BioblocksError
    ├── InputError            a bad catalog, filter or file name; Azul's 400 message
    ├── NotFoundError         an unknown project, or a file with no download (Azul 404)
    └── AzulError             the service failed or answered something unexpected
        └── DownloadVerificationError   the bytes do not match the index's size/sha256

HTTP-level exceptions of httpx are translated here, once, at the client boundary.
"""

from __future__ import annotations

from ...errors import BioblocksError


class AzulError(BioblocksError):
    """Azul (or the storage host it redirects to) failed, or answered something unexpected.

    ``status`` is the last HTTP status seen, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DownloadVerificationError(AzulError):
    """A downloaded file's size or sha256 differs from the index; the file was removed."""
