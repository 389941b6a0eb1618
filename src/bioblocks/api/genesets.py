"""Gene-set scores of an analysis's cells: ``GET /analysis/{id}/score``.

``?geneset=<geneset _id>`` (a document of the ``geneset`` collection, served by the
generic Eve router) or ``?genes=A,B,C`` scores every cell by the mean z-score of the
set's genes, as the SPRING viewer's gene-set colouring does
(:func:`bioblocks.analysis.genesets.geneset_score`). The answer is JSON ``{"analysis",
"genes", "unknown", "scores": [one per cell, in the order of its coordinates]}`` or,
with ``Accept: application/octet-stream`` or ``?format=f32``, one little-endian float32
per cell with the genes used and not found in ``X-Genes`` and ``X-Unknown-Genes``
(comma separated, percent-encoded). Genes not in the analysis are listed, not fatal;
when none is known the answer is a 422 naming ``genes``. A t-SNE or UMAP analysis is
scored on the cells of its SPRING analysis (same cells, same order).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import InputError
from ..resources import UUID_RE
from .auth import require_read
from .errors import ERROR_RESPONSES, JSON, EveHTTPError, dumps

router = APIRouter(tags=["geneset"], dependencies=[Depends(require_read)])

BINARY = "application/octet-stream"
FORMATS = ("json", "f32")


def _issue(field: str, message: str) -> EveHTTPError:
    return EveHTTPError(422, message, extra={"_issues": {field: message}})


def _genes(request: Request, geneset: str | None, genes: str | None) -> list[str]:
    """The genes asked for: those of the ``geneset`` document or of the ``genes`` list."""
    if (geneset is None) == (genes is None):
        raise _issue("genes", "give either geneset=<geneset _id> or genes=A,B,C")
    if genes is not None:
        names = [g.strip() for g in genes.split(",") if g.strip()]
        if not names:
            raise _issue("genes", "give at least one gene name, e.g. genes=Actb,Gapdh")
        return names
    assert geneset is not None
    doc = request.app.state.store.get("geneset", geneset) if UUID_RE.fullmatch(geneset) else None
    if doc is None:
        raise _issue("geneset", f"no gene set {geneset!r}; list them at /geneset")
    return [str(g) for g in doc.get("genes") or []]


def _binary(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        if fmt not in FORMATS:
            raise _issue("format", f"unknown format {fmt!r}; use json or f32")
        return fmt == "f32"
    accept = request.headers.get("accept", "")
    return BINARY in accept and JSON not in accept


def score(request: Request, analysis_id: str, geneset: str | None, genes: str | None,
          fmt: str | None) -> Response:
    """Score the analysis's cells by the genes asked for; JSON or float32."""
    from ..analysis.genesets import geneset_score
    from .diffexp import analysis_folders

    binary = _binary(request, fmt)
    names = _genes(request, geneset, genes)
    folder, subplot = analysis_folders(request.app.state.store,
                                       request.app.state.settings.resolved_data_dir, analysis_id)
    try:
        result = geneset_score(folder, subplot, names)
    except InputError as exc:
        raise _issue(exc.field or "genes", exc.message) from None
    values = result.scores.astype(np.float32)
    if binary:
        headers = {"X-Genes": ",".join(quote(g, safe="") for g in result.genes),
                   "X-Unknown-Genes": ",".join(quote(g, safe="") for g in result.unknown)}
        return Response(values.astype("<f4").tobytes(), media_type=BINARY, headers=headers)
    body = {"analysis": analysis_id, "genes": result.genes, "unknown": result.unknown,
            "scores": values.tolist()}
    return Response(dumps(body), media_type=JSON)


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "One score per cell (JSON, or float32 with X-Genes/X-Unknown-Genes)",
          "content": {JSON: {}, BINARY: {}}},
    **ERROR_RESPONSES,
}


@router.get("/analysis/{analysis_id}/score", responses=_RESPONSES, response_class=Response,
            summary="Score cells by a gene set")
async def analysis_score(
    analysis_id: str,
    request: Request,
    geneset: Annotated[str | None, Query(description="A geneset `_id`.")] = None,
    genes: Annotated[str | None, Query(description="Gene names, comma separated.")] = None,
    fmt: Annotated[str | None, Query(alias="format", description="json or f32 (default: by "
                                     "Accept)")] = None,
) -> Response:
    """One score per cell: the mean z-score of the set's genes (SPRING's convention)."""
    return await run_in_threadpool(score, request, analysis_id, geneset, genes, fmt)


__all__ = ["router"]
