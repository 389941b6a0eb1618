"""``GET /media/<24-hex id>``: uploaded media files (icons) with Range and If-Modified-Since."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import APIRouter, Depends, Path, Request, Response

from ..resources import format_date
from ._params import parse_if_date
from .auth import require_read
from .errors import ERROR_RESPONSES, EveHTTPError

router = APIRouter()
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive byte range asked for, None for the whole file; 416 if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise EveHTTPError(416, headers={"Content-Range": f"bytes */{size}"})
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise EveHTTPError(416, headers={"Content-Range": f"bytes */{size}"})
    return start, end


@router.get(
    "/media/{media_id}",
    dependencies=[Depends(require_read)],
    summary="Download an uploaded media file (supports Range)",
    response_class=Response,
    tags=["media"],
    responses={200: {"content": {"application/octet-stream": {}}},
               206: {"description": "Partial content (Range)"},
               304: {"description": "Not modified"}, **ERROR_RESPONSES},
)
def get_media(
    request: Request,
    media_id: str = Path(description="24 hex digits", json_schema_extra={
        "pattern": "^[a-f0-9]{24}$"}),
) -> Response:
    """Serve the bytes with the stored Content-Type; 206 for a Range; 304 if not modified."""
    info = request.app.state.store.get_media(media_id)
    if info is None or not info.path.is_file():
        raise EveHTTPError(404)
    ims = parse_if_date(request.headers.get("if-modified-since"))
    if ims is not None and info.uploaded <= ims + timedelta(seconds=1):
        return Response(status_code=304)
    headers = {"Last-Modified": format_date(info.uploaded), "Accept-Ranges": "bytes"}
    size = info.path.stat().st_size
    wanted = _range(request.headers.get("range"), size)
    with info.path.open("rb") as handle:
        if wanted is None:
            return Response(handle.read(), media_type=info.content_type, headers=headers)
        start, end = wanted
        handle.seek(start)
        data = handle.read(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return Response(data, status_code=206, media_type=info.content_type, headers=headers)
