"""``GET /media/<24-hex id>``: uploaded media files (icons), served by :func:`.files.file_response`.

The same HTTP layer as the files tree: Range (206/416, malformed ranges
ignored), ``If-Range``, ``ETag``/``Last-Modified`` (the upload time) with 304,
``nosniff``; the type stored at upload unless a browser would run it.
"""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends, Path, Request, Response

from .auth import require_read
from .errors import ERROR_RESPONSES, EveHTTPError
from .files import content_type, file_response

router = APIRouter()


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
    uploaded = info.uploaded.replace(tzinfo=UTC) if info.uploaded.tzinfo is None else info.uploaded
    return file_response(request, info.path, media_type=content_type("", info.content_type),
                         modified=uploaded.timestamp())
