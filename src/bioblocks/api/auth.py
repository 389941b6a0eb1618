"""Credentials: ``Authorization: Bearer <token>`` checked against the store's token table.

``require_write`` guards every POST/PATCH/PUT/DELETE; ``require_read`` guards
GETs only when ``Settings.public_reads`` is false. Both answer 401 envelopes.
Tokens are made with ``bioblocks token create --name NAME``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .errors import EveHTTPError

_HINT = (
    "Please provide proper credentials: send `Authorization: Bearer <token>` "
    "(an operator creates one with `bioblocks token create --name NAME`)"
)


def _check(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise EveHTTPError(401, _HINT, headers={"WWW-Authenticate": "Bearer"})
    if not request.app.state.store.check_token(token):
        raise EveHTTPError(
            401,
            "The token is unknown or revoked; " + _HINT[0].lower() + _HINT[1:],
            headers={"WWW-Authenticate": "Bearer"},
        )


def writer_name(request: Request) -> str:
    """Return the name of the request's (already checked) Bearer token: a document's author."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    name = request.app.state.store.token_name(token) if token else None
    if name is None:
        raise EveHTTPError(401, _HINT, headers={"WWW-Authenticate": "Bearer"})
    return name


def require_write(request: Request) -> None:
    """FastAPI dependency: raise a 401 envelope unless a valid Bearer token is sent."""
    _check(request)


def require_read(request: Request) -> None:
    """FastAPI dependency: like :func:`require_write` when ``public_reads`` is false."""
    if not request.app.state.settings.public_reads:
        _check(request)


WriteAccess = Annotated[None, Depends(require_write)]
ReadAccess = Annotated[None, Depends(require_read)]
