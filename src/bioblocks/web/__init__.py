"""The built-in web page's files: datasets, analyses, jobs, and a WebGL embedding viewer.

The page is static HTML, CSS and JavaScript modules in ``static/``;
:mod:`bioblocks.api.page` serves them at ``/ui/`` (and the page at ``/``).
"""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The Vitessce page (:mod:`bioblocks.api.vitessce`) and its build recipe; ``dist/`` once built.
VITESSCE_DIR = Path(__file__).resolve().parent / "vitessce"

__all__ = ["STATIC_DIR", "VITESSCE_DIR"]
