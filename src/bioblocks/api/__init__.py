"""The HTTP service: ``create_app(settings) -> FastAPI``.

Modules: ``app`` (factory, middleware, the list of included routers), ``eve``
(the generic Eve resource router), ``media`` (``/media/<id>``), ``auth``
(``require_write``/``require_read``), ``errors`` (envelopes and the exception
mapping), and the other areas' routers (``files``, ``upload``, ``expression``,
``spring``).
"""

from .app import create_app

__all__ = ["create_app"]
