"""Fixtures of the ingest tests: the reference matrix and small limits."""

from __future__ import annotations

import pytest

from bioblocks.ingest import ImportLimits

from ._formats import Reference, reference


@pytest.fixture
def ref() -> Reference:
    return reference()


@pytest.fixture
def limits() -> ImportLimits:
    return ImportLimits(ratio_grace_bytes=64 * 1024)
