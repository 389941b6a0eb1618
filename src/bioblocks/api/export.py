"""``GET /analysis/{id}/export?format=h5ad|zarr``: an analysis as an AnnData file.

The file is what :func:`bioblocks.pipeline.export.export_analysis` writes (the cells of a
SPRING analysis, or of the SPRING analysis a t-SNE/UMAP analysis embeds, with every
embedding built on it): ``.h5ad``, or the AnnData-Zarr store as a zip (``.zarr.zip``).
It is written once into the analysis's ``exports/`` folder
(:func:`~bioblocks.pipeline.export.cached_export`, again when an analysis of the family
changes) and served from there by :func:`bioblocks.api.files.file_response` (ranges,
ETag, never held in memory) with ``Content-Disposition: attachment`` naming the file after
the analysis. An unknown analysis is a 404 envelope, an unknown ``format`` a 422 whose
``_issues`` name ``format``. A read: it needs a token only when reads do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..pipeline.export import FORMATS, cached_export, check_format
from .auth import require_read
from .errors import ERROR_RESPONSES
from .files import file_response

router = APIRouter(tags=["export"], dependencies=[Depends(require_read)])

#: The content type of each format's file.
MEDIA_TYPES = {"h5ad": "application/x-hdf5", "zarr": "application/zip"}


@router.get(
    "/analysis/{analysis_id}/export",
    response_class=Response,
    responses={
        200: {"description": "The AnnData file (`.h5ad`, or `.zarr.zip`: the AnnData-Zarr "
                             "store zipped)",
              "content": {media: {} for media in MEDIA_TYPES.values()}},
        206: {"description": "The byte range asked for (`Range`)",
              "content": {media: {} for media in MEDIA_TYPES.values()}},
        304: {"description": "Not modified (`If-None-Match`, `If-Modified-Since`)"},
        **ERROR_RESPONSES,
    },
)
async def export_analysis_file(
    analysis_id: str,
    request: Request,
    format: Annotated[str, Query(description=f"One of {', '.join(FORMATS)}.")] = "h5ad",
) -> Response:
    """Download the analysis's cells as AnnData: counts, normalised values, embeddings,
    clusters and tracks with their colours, highly variable genes, parameters and seeds."""
    fmt = check_format(format)
    state = request.app.state
    path, name = await run_in_threadpool(
        cached_export, state.store, state.settings, analysis_id, format=fmt
    )
    response = file_response(request, path, media_type=MEDIA_TYPES[fmt])
    if response.status_code in (200, 206, 304):
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


__all__ = ["router"]
