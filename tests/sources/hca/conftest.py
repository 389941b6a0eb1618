"""Fixtures of the HCA tests: the fake Azul server and a fast client talking to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bioblocks.sources.hca import AzulClient

from .fake_azul import FakeAzul, fake_azul  # noqa: F401 - re-exported fixture


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, sleeps not at all."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(fake_azul: FakeAzul, sleeps: SleepRecorder) -> Iterator[AzulClient]:  # noqa: F811
    """A client of the fake server with no rate limit and recorded (not real) sleeps."""
    with AzulClient(
        base_url=fake_azul.base_url, requests_per_second=None, sleep=sleeps, timeout=10.0
    ) as azul:
        yield azul
