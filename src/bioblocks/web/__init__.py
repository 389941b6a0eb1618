"""The built-in web page: datasets, analyses, jobs, and a WebGL embedding viewer.

``router`` serves the page at ``/ui/`` and its assets at ``/ui/<file>``;
:func:`index_response` returns the page for the content-negotiated ``/``.
"""

from ._router import STATIC_DIR, index_response, router

__all__ = ["STATIC_DIR", "index_response", "router"]
