"""The exception hierarchy.

    BioblocksError                 root of everything this package raises on purpose
    ├── InputError                 the user's input is wrong; the message says how to fix it
    │   ├── IngestError            a matrix file cannot be imported (names the file)
    │   │   └── InputTooLarge      it would need more memory than the import budget (413)
    │   └── AnalysisInputError     a dataset/parameters cannot be analysed
    ├── NotFoundError              a named document or file does not exist
    ├── ConflictError              a concurrent change or duplicate id
    ├── StorageFullError           the disk is full; nothing was written (507)
    └── Cancelled                  a job was cancelled while running

The API maps these to Eve envelopes in one place (``bioblocks.api.errors``);
the CLI prints their message on one line.
"""

from __future__ import annotations


class BioblocksError(Exception):
    """Root of the package's deliberate errors."""


class InputError(BioblocksError):
    """The input is wrong; ``field`` names the parameter or file at fault, when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class IngestError(InputError):
    """A matrix file cannot be imported; ``field`` is the file name."""


class InputTooLarge(IngestError):
    """An input would need more memory than the import budget allows (HTTP 413)."""


class AnalysisInputError(InputError):
    """A dataset or its parameters cannot be analysed; ``field`` is the parameter."""


class NotFoundError(BioblocksError):
    """A named document or file does not exist."""


class ConflictError(BioblocksError):
    """A concurrent change was detected, or an id already exists."""


class StorageFullError(BioblocksError):
    """The disk holding the data directory is full (HTTP 507); what was staged is removed."""


class Cancelled(BioblocksError):
    """The running job was cancelled."""
