"""Read-only share links of a dataset: ``POST /dataset/{id}/share`` and its revocation.

A share link grants read of one dataset and its analyses (and nothing else) to whoever
holds it, until it expires or is revoked: send its token as ``?share=<token>`` (the
``link`` answered) or in the ``X-Bioblocks-Share`` header. Making and revoking links
needs write on the dataset (:func:`bioblocks.api.guard.write_dataset`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import InputError, NotFoundError
from ..resources import UUID_PATTERN, format_date
from ..store import create_share, parse_duration, revoke_share
from ._body import parse_body
from .auth import principal, require_write
from .errors import ERROR_RESPONSES, JSON, EveHTTPError, dumps
from .guard import write_dataset

router = APIRouter(tags=["dataset"])
#: How long a share link lasts unless the request says (``{"expires": "30d"}``).
DEFAULT_LIFETIME = timedelta(days=7)
_ID = Path(description="The dataset's `_id`.", json_schema_extra={"pattern": f"^{UUID_PATTERN}$"})


def _share(request: Request, item_id: str, payload: Any) -> Response:
    store = request.app.state.store
    if store.get("dataset", item_id) is None:
        raise EveHTTPError(404)
    text = payload.get("expires") if isinstance(payload, dict) else None
    try:
        lifetime = parse_duration(str(text)) if text is not None else DEFAULT_LIFETIME
    except InputError as exc:
        raise EveHTTPError(422, exc.message, extra={"_issues": {"expires": exc.message}}) \
            from None
    who = principal(request)
    share = create_share(store, item_id, created_by=who.name or "?", expires=lifetime)
    body = {
        "_id": share.id, "dataset": item_id, "token": share.token,
        "link": f"{request.base_url}dataset/{item_id}?share={share.token}",
        "expires": format_date(share.expires), "_status": "OK",
    }
    return Response(dumps(body), status_code=201, media_type=JSON)


@router.post("/dataset/{item_id}/share", dependencies=[Depends(require_write),
                                                        Depends(write_dataset)],
             response_class=Response, responses=ERROR_RESPONSES,
             summary="Make a read-only, expiring share link of a dataset")
async def post_share(request: Request, item_id: str = _ID) -> Response:
    """201 with ``token``, ``link`` and ``expires`` (``{"expires": "30d"}``; 7 days without)."""
    raw = await request.body()
    payload = await parse_body(request, limit=4096) if raw else None
    return await run_in_threadpool(_share, request, item_id, payload)


def _revoke(request: Request, item_id: str, share_id: str) -> Response:
    try:
        revoke_share(request.app.state.store, item_id, share_id)
    except NotFoundError:
        raise EveHTTPError(404) from None
    return Response(status_code=204, media_type=JSON)


@router.delete("/dataset/{item_id}/share/{share_id}",
               dependencies=[Depends(require_write), Depends(write_dataset)],
               response_class=Response, responses=ERROR_RESPONSES,
               summary="Revoke a share link of a dataset")
async def delete_share(request: Request, share_id: str, item_id: str = _ID) -> Response:
    """204 once the link no longer works; 404 for a share the dataset does not have."""
    return await run_in_threadpool(_revoke, request, item_id, share_id)
