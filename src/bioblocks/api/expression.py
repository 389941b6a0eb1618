"""Gene expression for colouring: gene names and per-cell normalised values of an analysis.

* ``GET /analysis/{id}/genes?prefix=&limit=``: ``{"genes": [names...]}``, names starting
  with ``prefix`` (case-insensitive), at most ``limit`` (default 50, at most 1000).
* ``GET /analysis/{id}/expression?genes=A,B``: ``{"A": [v0, v1, ...], "B": [...]}``, one
  value per cell of the analysis's expression store, in the store's cell order. With
  ``Accept: application/octet-stream`` the body is the arrays as little-endian float32,
  concatenated in the requested order (``X-Cells`` values each), with headers
  ``X-Genes`` (the genes in body order, each percent-encoded, comma-separated),
  ``X-Cells`` (values per gene) and ``X-Value-Type: float32-le``.

A SPRING analysis reads its own folder's expression store; a t-SNE or UMAP analysis
reads the store of the SPRING analysis it was computed from (``parameters.springAnalysis``).
Open stores are kept in a small LRU cache per application, keyed by the folder's
identity (inode and modification time), so a replaced analysis folder is reopened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import NotFoundError
from ..pipeline.folders import analysis_folders
from ..store import Store
from ._cache import FolderCache, app_cache
from .auth import require_read
from .errors import ERROR_RESPONSES, eve_error

if TYPE_CHECKING:
    from ..analysis import ExpressionStore

router = APIRouter(tags=["expression"], dependencies=[Depends(require_read)])

#: Most genes one expression request may ask for (1,000,000 cells × 20 genes = 80 MB).
MAX_GENES_PER_REQUEST = 20
#: Default and largest ``limit`` of a gene-name search.
DEFAULT_GENE_LIMIT = 50
MAX_GENE_LIMIT = 1000
#: Open expression stores kept per application.
STORE_CACHE_SIZE = 8

_BINARY = "application/octet-stream"


class _Problem(Exception):
    """A request that cannot be answered: becomes an Eve error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StoreCache(FolderCache):
    """A thread-safe LRU cache of open :class:`ExpressionStore` objects
    (:class:`~bioblocks.api._cache.FolderCache`)."""

    def __init__(self, *, size: int = STORE_CACHE_SIZE) -> None:
        super().__init__(size=size)

    def open(self, folder: Path) -> ExpressionStore:
        """Return the store of ``folder``, opening it (and evicting the oldest) if needed."""
        from ..analysis import ExpressionStore  # the science package loads on first use

        store: ExpressionStore = self.get(folder, "store", lambda: ExpressionStore.open(folder))
        return store


def expression_folder(store: Store, data_dir: Path, analysis_id: str) -> Path:
    """Return the folder holding the expression store that serves ``analysis_id``.

    SPRING analyses use their own folder; t-SNE and UMAP analyses the folder of the
    SPRING analysis named by ``parameters.springAnalysis``
    (:func:`bioblocks.pipeline.folders.analysis_folders`). Raises NotFoundError (404)
    when the analysis, its dataset link or its folder is missing.
    """
    return analysis_folders(store, data_dir, analysis_id)[0]


def _open_store(request: Request, analysis_id: str) -> ExpressionStore:
    settings = request.app.state.settings
    folder = expression_folder(request.app.state.store, settings.resolved_data_dir, analysis_id)
    try:
        return app_cache(request, "expression_stores", StoreCache).open(folder)
    except (FileNotFoundError, NotFoundError) as exc:
        raise _Problem(
            404, f"Analysis {analysis_id!r} has no expression store ({exc})."
        ) from exc


def _parse_genes(raw: str | None) -> list[str]:
    genes = list(dict.fromkeys(g.strip() for g in (raw or "").split(",") if g.strip()))
    if not genes:
        raise _Problem(400, "Give the genes to read, e.g. ?genes=Actb,Gapdh.")
    if len(genes) > MAX_GENES_PER_REQUEST:
        raise _Problem(
            400,
            f"At most {MAX_GENES_PER_REQUEST} genes per request ({len(genes)} asked); "
            "split the request.",
        )
    return genes


def _gene_names(request: Request, analysis_id: str, prefix: str | None, limit: int) -> Response:
    store = _open_store(request, analysis_id)
    names = list(store.genes(prefix=prefix or None, limit=limit))
    return Response(orjson.dumps({"genes": names}), media_type="application/json")


def _values(store: ExpressionStore, gene: str) -> np.ndarray:
    try:
        values = store.values(gene)
    except (KeyError, NotFoundError) as exc:
        raise _Problem(404, f"Gene {gene!r} is not in this analysis.") from exc
    return np.asarray(values, dtype="<f4")


def _expression(request: Request, analysis_id: str, genes_param: str | None) -> Response:
    genes = _parse_genes(genes_param)
    store = _open_store(request, analysis_id)
    arrays = [_values(store, gene) for gene in genes]
    if _BINARY in request.headers.get("accept", ""):
        headers = {
            "X-Genes": ",".join(quote(g, safe="") for g in genes),
            "X-Cells": str(store.n_cells),
            "X-Value-Type": "float32-le",
            "Access-Control-Expose-Headers": "X-Genes, X-Cells, X-Value-Type",
        }
        body = b"".join(a.tobytes() for a in arrays)
        return Response(body, media_type=_BINARY, headers=headers)
    body = orjson.dumps(dict(zip(genes, arrays, strict=True)), option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json")


async def _answer(
    handler: Callable[..., Response], request: Request, analysis_id: str, *args: Any
) -> Response:
    try:
        return await run_in_threadpool(handler, request, analysis_id, *args)
    except _Problem as exc:
        return eve_error(exc.status, exc.message)


_GENES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`{\"genes\": [name, ...]}`", "content": {"application/json": {}}},
    **ERROR_RESPONSES,
}
_EXPRESSION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON `{gene: [value per cell]}`; with `Accept: application/octet-stream` "
        "little-endian float32 arrays in the requested order (headers `X-Genes`: the genes, "
        "percent-encoded and comma-separated; `X-Cells`: values per gene; "
        "`X-Value-Type: float32-le`)",
        "content": {"application/json": {}, _BINARY: {}},
    },
    **ERROR_RESPONSES,
}

AnalysisId = Annotated[str, "the analysis `_id`"]


@router.get("/analysis/{analysis_id}/genes", responses=_GENES_RESPONSES)
async def analysis_genes(
    analysis_id: AnalysisId,
    request: Request,
    prefix: Annotated[
        str | None, Query(description="Only names starting with this (case-insensitive).")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_GENE_LIMIT, description="Most names returned.")
    ] = DEFAULT_GENE_LIMIT,
) -> Response:
    """Return the gene names of an analysis, filtered by a case-insensitive ``prefix``."""
    return await _answer(_gene_names, request, analysis_id, prefix, limit)


@router.get("/analysis/{analysis_id}/expression", responses=_EXPRESSION_RESPONSES)
async def analysis_expression(
    analysis_id: AnalysisId,
    request: Request,
    genes: Annotated[
        str | None,
        Query(description=f"Comma-separated gene names (at most {MAX_GENES_PER_REQUEST})."),
    ] = None,
) -> Response:
    """Return the normalised expression of ``genes`` for every cell (JSON or float32)."""
    return await _answer(_expression, request, analysis_id, genes)


__all__ = ["MAX_GENES_PER_REQUEST", "StoreCache", "expression_folder", "router"]
