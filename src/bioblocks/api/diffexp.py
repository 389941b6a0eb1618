"""Differential expression and marker genes of an analysis.

* ``POST /analysis/{id}/diffexp`` with ``{"groups": [A, B], "method": "wilcoxon" |
  "t-test", "top": 50}``: A is ``{"cells": [i, ...]}`` (indices into the analysis's cells,
  in the order of its coordinates) or ``{"track": "<categorical track>", "label": "<label>"}``;
  B the same or ``"rest"`` (every other cell). Answers ``{"analysis", "method", "top",
  "pseudocount", "sizes": [n_A, n_B], "genes": [{"gene", "score", "logfoldchange",
  "pvalue", "padj", "frac_a", "frac_b", "mean_a", "mean_b"}, ...]}``, the ``top`` genes by
  score (see :mod:`bioblocks.analysis.diffexp` for the statistics). Bad groups, method or
  top are a 422 whose ``_issues`` name the field (``groups.0.cells``, ``groups.1``,
  ``method``, ``top``...); an analysis above ``Settings.diffexp_max_interactive_cells``
  cells is a 413 naming the ``diffexp`` job kind, which runs the same request at any size.
  A read: it needs a token only when reads do.
* ``GET /analysis/{id}/markers?track=T``: the marker genes of every label of track ``T``
  (every track without ``track``), one label against the rest, Wilcoxon, top 50:
  ``{"analysis", "method", "top", "pseudocount", "tracks": {T: {label: {"size",
  "genes": [...]}}}}``. Read from the analysis folder's ``markers.json``; analyses made
  before SPRING wrote that file get them computed on the first request (then cached).

The tracks are the categorical tracks of the subplot's ``categorical_coloring_data.json``
and the analysis's saved annotations (:mod:`bioblocks.api.annotations`; their markers are
computed on request).
A t-SNE or UMAP analysis uses the SPRING analysis it was computed from (same cells,
same order). The ranked matrix of an analysis is kept in a small LRU cache per
application, keyed by the folder's identity (a replaced folder is read again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..pipeline.diffexp import GroupsError, analysis_folders, answer, check_request, group_masks
from ._body import load_json, read_body
from ._cache import FolderCache, app_cache
from .auth import require_read
from .errors import ERROR_RESPONSES, EveHTTPError, dumps

if TYPE_CHECKING:
    from ..analysis.explore import ExploreMatrix

router = APIRouter(tags=["diffexp"], dependencies=[Depends(require_read)])

#: Ranked analyses kept per application (each holds a copy of its nonzeros).
CACHE_SIZE = 2


class ExploreCache(FolderCache):
    """A thread-safe LRU cache of ranked analyses (:class:`ExploreMatrix`) and their
    markers (:class:`~bioblocks.api._cache.FolderCache`)."""

    def __init__(self, *, size: int = CACHE_SIZE) -> None:
        super().__init__(size=size)


def _matrix(request: Request, folder: Path, subplot: Path) -> ExploreMatrix:
    from ..analysis.explore import open_explore_matrix

    return app_cache(request, "explore_cache", ExploreCache).get(folder, "matrix", lambda: open_explore_matrix(folder, subplot))


def _issues(exc: GroupsError) -> EveHTTPError:
    """A wrong request: 422 with every field at fault in ``_issues``."""
    return EveHTTPError(422, "The request has errors.", extra={"_issues": exc.issues})


def _too_large(n_cells: int, limit: int) -> EveHTTPError:
    return EveHTTPError(
        413,
        f"The analysis has {n_cells:,} cells, more than this server tests within a request "
        f"({limit:,}, setting diffexp_max_interactive_cells): submit a `diffexp` job (POST "
        '/job {"kind": "diffexp", "parameters": {"analysis": id, "groups": [...], ...}}), '
        "run `bioblocks diffexp ANALYSIS ...`, or raise the setting.",
        extra={"_issues": {"groups": f"at most {limit} cells per interactive test"}},
    )


def _diffexp(request: Request, analysis_id: str, body: object) -> Response:
    from ..analysis.explore import subplot_cells

    try:
        spec_a, spec_b, method, top = check_request(body)
    except GroupsError as exc:
        raise _issues(exc) from None
    settings = request.app.state.settings
    folder, subplot = analysis_folders(request.app.state.store, settings.resolved_data_dir,
                                       analysis_id)  # fmt: skip
    n_cells = subplot_cells(subplot)
    if n_cells > settings.diffexp_max_interactive_cells:
        raise _too_large(n_cells, settings.diffexp_max_interactive_cells)
    data = _matrix(request, folder, subplot)
    from .annotations import label_arrays  # saved annotations are tracks too

    tracks = {**data.tracks, **label_arrays(request.app.state.store, settings.resolved_data_dir,
                                            analysis_id, data.n_cells)}
    try:
        masks = group_masks(spec_a, spec_b, method, data.n_cells, tracks)
    except GroupsError as exc:
        raise _issues(exc) from None
    return Response(dumps(answer(data, analysis_id, masks, method, top)),
                    media_type="application/json")


def _markers(request: Request, analysis_id: str, track: str | None) -> Response:
    from ..analysis.markers import compute_markers, read_markers

    settings = request.app.state.settings
    folder, subplot = analysis_folders(request.app.state.store, settings.resolved_data_dir,
                                       analysis_id)  # fmt: skip

    def make() -> dict[str, Any]:
        stored = read_markers(folder)
        if stored is not None:
            return stored
        from ..analysis.explore import subplot_cells

        n_cells = subplot_cells(subplot)
        if n_cells > settings.diffexp_max_interactive_cells:
            raise _too_large(n_cells, settings.diffexp_max_interactive_cells)
        data = _matrix(request, folder, subplot)
        return compute_markers(data.ranked, data.genes, data.tracks)

    markers = app_cache(request, "explore_cache", ExploreCache).get(folder, "markers", make)
    tracks = markers["tracks"]
    if track is not None and track not in tracks:  # a saved annotation: computed on request
        from ..analysis.explore import subplot_cells
        from .annotations import label_arrays

        n_cells = subplot_cells(subplot)
        saved = label_arrays(request.app.state.store, settings.resolved_data_dir, analysis_id,
                             n_cells)
        if track in saved:
            if n_cells > settings.diffexp_max_interactive_cells:
                raise _too_large(n_cells, settings.diffexp_max_interactive_cells)
            data = _matrix(request, folder, subplot)
            tracks = compute_markers(data.ranked, data.genes, {track: saved[track]})["tracks"]
    if track is not None:
        if track not in tracks:
            raise EveHTTPError(
                422, f"Unknown track {track!r}.",
                extra={"_issues": {"track": "unknown categorical track; the analysis has: "
                                   + ", ".join(sorted(tracks) or ["none"])}},
            )  # fmt: skip
        tracks = {track: tracks[track]}
    answer = {"analysis": analysis_id, **{k: v for k, v in markers.items() if k != "tracks"},
              "tracks": tracks}  # fmt: skip
    return Response(dumps(answer), media_type="application/json")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The top genes and the groups' sizes", "content": {"application/json": {}}},
    **ERROR_RESPONSES,
}

AnalysisId = Annotated[str, "the analysis `_id`"]


#: A POST that only reads: OpenAPI marks it so (``x-bioblocks-reads``) for clients and checks
#: that tell writes from reads (a token is needed only where reads need one).
READS = {"x-bioblocks-reads": True}


@router.post("/analysis/{analysis_id}/diffexp", responses=_RESPONSES, openapi_extra=READS)
async def analysis_diffexp(analysis_id: AnalysisId, request: Request) -> Response:
    """Test every gene for a difference between two groups of cells; return the top genes."""
    settings = request.app.state.settings
    body = load_json(await read_body(request, limit=settings.max_body_bytes))
    return await run_in_threadpool(_diffexp, request, analysis_id, body)


@router.get("/analysis/{analysis_id}/markers", responses=_RESPONSES)
async def analysis_markers(
    analysis_id: AnalysisId,
    request: Request,
    track: Annotated[
        str | None, Query(description="Only this categorical track (default: every track).")
    ] = None,
) -> Response:
    """Return the marker genes of every label of the analysis's categorical tracks."""
    return await run_in_threadpool(_markers, request, analysis_id, track)


__all__ = ["ExploreCache", "analysis_folders", "router"]
