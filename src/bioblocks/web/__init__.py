"""The built-in web page's files: datasets, analyses, jobs, and a WebGL embedding viewer.

The page is static HTML, CSS and JavaScript modules in ``static/``;
:mod:`bioblocks.api.page` serves them at ``/ui/`` (and the page at ``/``).
"""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

__all__ = ["STATIC_DIR"]
