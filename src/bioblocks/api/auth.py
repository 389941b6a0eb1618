"""Credentials: the request's :class:`~bioblocks.access.Principal`, resolved once.

``Authorization: Bearer <token>`` names a token of the store: a user's scoped token
(``bioblocks token create --user NAME --scope read|write|admin``) or a server-wide
writer (every token without a user). A share link's token comes as ``?share=`` or the
``X-Bioblocks-Share`` header. Credentials that are sent but unknown, revoked or
expired are a 401 on every operation. ``require_write`` guards every
POST/PATCH/PUT/DELETE (401 without a token, 403 for a ``read`` token);
``require_read`` guards GETs (401 without credentials only when
``Settings.public_reads`` is false). What a principal may see and change is
:mod:`bioblocks.access`'s to say.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from ..access import ANONYMOUS, Principal
from ..store import check_share, find_token, user_roles
from .errors import EveHTTPError

_HINT = (
    "Please provide proper credentials: send `Authorization: Bearer <token>` "
    "(an operator creates one with `bioblocks token create --name NAME`)"
)


def _unauthorized(message: str = _HINT) -> EveHTTPError:
    return EveHTTPError(401, message, headers={"WWW-Authenticate": "Bearer"})


def _resolve(request: Request) -> Principal:
    found = ANONYMOUS
    header = request.headers.get("authorization", "")
    share = request.query_params.get("share") or request.headers.get("x-bioblocks-share")
    if not header and not share:
        return found  # no store needed (routers mounted alone in tests have none)
    store = request.app.state.store
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized()
        record = find_token(store, token)
        if record is None or record.state() != "active":
            raise _unauthorized("The token is unknown, revoked or expired; "
                                + _HINT[0].lower() + _HINT[1:])
        if record.user is None:
            found = Principal(name=record.name, scope="write", server_wide=True)
        else:
            admin, roles = user_roles(store, record.user)
            found = Principal(name=record.user, user=record.user, scope=record.scope,
                              admin=admin, roles=roles)
    if share:
        dataset = check_share(store, share)
        if dataset is None:
            raise _unauthorized("The share link is unknown, revoked or expired; ask its "
                                "owner for a new one")
        found = replace(found, share=dataset)
    return found


def principal(request: Request) -> Principal:
    """Return who sends ``request`` (resolved once, kept on ``request.state``); 401 if the
    credentials sent are unknown, revoked or expired."""
    cached = getattr(request.state, "principal", None)
    if cached is None:
        cached = request.state.principal = _resolve(request)
    return cached


def writer_name(request: Request) -> str:
    """Return who writes ``request``, a document's ``author``: the user of a user token, the
    name of a server-wide token (401 without credentials)."""
    name = principal(request).name
    if name is None:
        raise _unauthorized()
    return name


def require_write(request: Request) -> None:
    """FastAPI dependency: 401 unless a valid Bearer token is sent, 403 for a read scope."""
    found = principal(request)
    if found.scope is None:
        raise _unauthorized()
    if not found.can_write_somewhere:
        raise EveHTTPError(403, "This token's scope is read; writes need a token made with "
                                "`bioblocks token create --user NAME --scope write`")


def require_read(request: Request) -> None:
    """FastAPI dependency: 401 for bad credentials; without any, 401 unless ``public_reads``."""
    found = principal(request)
    if (not request.app.state.settings.public_reads and found.scope is None
            and found.share is None):
        raise _unauthorized()


WriteAccess = Annotated[None, Depends(require_write)]
ReadAccess = Annotated[None, Depends(require_read)]
