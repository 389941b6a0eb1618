"""Fixtures of the browser tests: one headless chromium per module and a fresh page per test
(:func:`tests.web._browser.launch_browser`, :func:`tests.web._browser.new_page`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ._browser import launch_browser, new_page, require_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    with launch_browser() as browser:
        yield browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with new_page(browser) as page:
        yield page
