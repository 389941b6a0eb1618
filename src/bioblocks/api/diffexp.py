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
  cells is a 413. A read: it needs a token only when reads do.
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

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import NotFoundError
from ..storage import PathOutsideDataDir, analysis_dir
from ..store import Doc, Store
from ._body import load_json, read_body
from .auth import require_read
from .errors import ERROR_RESPONSES, EveHTTPError, dumps
from .guard import hide_analysis

if TYPE_CHECKING:
    from ..analysis.explore import ExploreMatrix

router = APIRouter(tags=["diffexp"],
                   dependencies=[Depends(require_read), Depends(hide_analysis)])

#: Largest ``top`` of one request.
MAX_TOP = 1000
DEFAULT_TOP = 50
#: Ranked analyses kept per application (each holds a copy of its nonzeros).
CACHE_SIZE = 2
_KEYS = {"groups", "method", "top"}


def _doc(store: Store, analysis_id: str) -> Doc:
    doc = store.get("analysis", analysis_id)
    if doc is None:
        raise NotFoundError(f"Analysis {analysis_id!r} does not exist.")
    return doc


def analysis_folders(store: Store, data_dir: Path, analysis_id: str) -> tuple[Path, Path]:
    """Return ``(folder, subplot)``: the SPRING analysis folder serving ``analysis_id`` (its
    own, or for t-SNE/UMAP that of ``parameters.springAnalysis``) and its subplot folder.

    Raises
    ------
    NotFoundError
        When the analysis, its SPRING analysis, its dataset or its folder is missing.
    """
    from ..analysis.spring_folder import subplot_dir

    doc = _doc(store, analysis_id)
    if doc.get("processType") in ("TSNE", "UMAP"):
        spring_id = (doc.get("parameters") or {}).get("springAnalysis")
        if not spring_id:
            raise NotFoundError(f"Analysis {analysis_id!r} names no SPRING analysis.")
        doc = _doc(store, str(spring_id))
    dataset_id = doc.get("dataset")
    if not dataset_id:
        owners = list(store.find("dataset", {"analyses": doc["_id"]}, limit=1))
        dataset_id = owners[0]["_id"] if owners else None
    dataset = store.get("dataset", str(dataset_id)) if dataset_id else None
    if not dataset:
        raise NotFoundError(f"Analysis {doc['_id']!r} is not linked to a dataset.")
    try:
        folder = analysis_dir(data_dir, str(dataset["_id"]), str(doc["_id"]))
    except PathOutsideDataDir as exc:
        raise NotFoundError(f"Analysis {doc['_id']!r} has no folder.") from exc
    if not folder.is_dir():
        raise NotFoundError(
            f"Analysis {doc['_id']!r} has no files yet (is it still running?)."
        )
    subplot = subplot_dir(folder, doc.get("parameters"), str(dataset.get("name") or dataset["_id"]))
    return folder, subplot


class ExploreCache:
    """A thread-safe LRU cache of ranked analyses (:class:`ExploreMatrix`) and their
    markers; one analysis is ranked by one thread while the others wait for it."""

    def __init__(self, *, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[object, ...], threading.Lock] = {}

    @staticmethod
    def _key(folder: Path) -> tuple[str, int, int]:
        stat = folder.stat()
        return (str(folder), stat.st_ino, stat.st_mtime_ns)

    def get(self, folder: Path, name: str, make: Callable[[], Any]) -> Any:
        """Return the cached ``name`` of ``folder``, made by ``make()`` on first use."""
        key = self._key(folder)
        with self._lock:
            entry = self._items.get(key)
            if entry is not None and name in entry:
                self._items.move_to_end(key)
                return entry[name]
            loading = self._loading.setdefault((*key, name), threading.Lock())
        with loading:
            with self._lock:
                entry = self._items.get(key)
                if entry is not None and name in entry:
                    return entry[name]
            value = make()
            with self._lock:
                self._items.setdefault(key, {})[name] = value
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
                self._loading.pop((*key, name), None)
        return value


def _cache(request: Request) -> ExploreCache:
    state = request.app.state
    cache = getattr(state, "explore_cache", None)
    if cache is None:
        cache = ExploreCache()
        state.explore_cache = cache
    return cache


def _matrix(request: Request, folder: Path, subplot: Path) -> ExploreMatrix:
    from ..analysis.explore import open_explore_matrix

    return _cache(request).get(folder, "matrix", lambda: open_explore_matrix(folder, subplot))


# ---- the request body ------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _group_mask(
    spec: object,
    field: str,
    n_cells: int,
    tracks: dict[str, np.ndarray],
    issues: dict[str, str],
) -> np.ndarray | None:
    """The cells of one group as a mask, or ``None`` after recording what is wrong."""
    if isinstance(spec, dict) and set(spec) == {"cells"}:
        cells = spec["cells"]
        if not isinstance(cells, list) or not all(_is_int(c) for c in cells):
            issues[f"{field}.cells"] = "give a list of cell indices (integers)"
            return None
        if not cells:
            issues[f"{field}.cells"] = "the group is empty; give at least one cell index"
            return None
        idx = np.asarray(cells, dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n_cells)]
        if bad.size:
            issues[f"{field}.cells"] = (
                f"index {int(bad[0])} is out of range: the analysis has {n_cells} cells "
                f"(0..{n_cells - 1})"
            )
            return None
        mask = np.zeros(n_cells, dtype=bool)
        mask[idx] = True
        return mask
    if isinstance(spec, dict) and set(spec) == {"track", "label"}:
        track, label = spec["track"], spec["label"]
        if not isinstance(track, str) or track not in tracks:
            issues[f"{field}.track"] = (
                f"unknown categorical track {track!r}; the analysis has: "
                + ", ".join(sorted(tracks) or ["none"])
            )
            return None
        if not isinstance(label, str):
            issues[f"{field}.label"] = "give the label as a string"
            return None
        mask = tracks[track] == label
        if not mask.any():
            known = sorted(set(tracks[track].tolist()))
            issues[f"{field}.label"] = (
                f"track {track!r} has no label {label!r}; its labels: "
                + ", ".join(known[:50]) + (" ..." if len(known) > 50 else "")
            )
            return None
        return mask
    issues[field] = (
        'give {"cells": [index, ...]} or {"track": name, "label": label}'
        + (' or "rest"' if field.endswith("1") else "")
    )
    return None


def _parse(body: object) -> tuple[object, object, str, int]:
    """Check the shape of the body; return ``(A spec, B spec, method, top)`` or raise 422."""
    from ..analysis.diffexp import METHODS

    issues: dict[str, str] = {}
    if not isinstance(body, dict):
        raise EveHTTPError(422, "The body must be a JSON object.",
                           extra={"_issues": {"body": 'give {"groups": [A, B]}'}})  # fmt: skip
    for key in sorted(set(body) - _KEYS):
        issues[key] = "unknown field"
    groups = body.get("groups")
    if not isinstance(groups, list) or len(groups) != 2:
        issues["groups"] = 'give two groups, [A, B]; B may be "rest"'
    method = body.get("method", "wilcoxon")
    if method not in METHODS:
        issues["method"] = f"unknown method {method!r}; use one of: {', '.join(METHODS)}"
    top = body.get("top", DEFAULT_TOP)
    if not _is_int(top) or not 1 <= top <= MAX_TOP:
        issues["top"] = f"give an integer from 1 to {MAX_TOP}"
    if issues:
        raise EveHTTPError(422, "The request has errors.", extra={"_issues": issues})
    assert isinstance(groups, list)
    return groups[0], groups[1], str(method), int(top)


def _too_large(n_cells: int, limit: int) -> EveHTTPError:
    return EveHTTPError(
        413,
        f"The analysis has {n_cells:,} cells, more than this server tests within a request "
        f"({limit:,}, setting diffexp_max_interactive_cells); run it from the command line "
        "(`bioblocks diffexp ANALYSIS ...`) or raise the setting.",
        extra={"_issues": {"groups": f"at most {limit} cells per interactive test"}},
    )


def _diffexp(request: Request, analysis_id: str, body: object) -> Response:
    from ..analysis.diffexp import PSEUDOCOUNT, diffexp
    from ..analysis.explore import subplot_cells

    spec_a, spec_b, method, top = _parse(body)
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
    issues: dict[str, str] = {}
    mask_a = _group_mask(spec_a, "groups.0", data.n_cells, tracks, issues)
    mask_b = None
    if spec_b != "rest":
        mask_b = _group_mask(spec_b, "groups.1", data.n_cells, tracks, issues)
    if mask_a is not None and mask_b is not None and np.any(mask_a & mask_b):
        issues["groups.1"] = (
            f"shares {int(np.sum(mask_a & mask_b))} cells with groups.0; give disjoint groups"
        )
    if mask_a is not None and not issues:
        rest = ~mask_a if mask_b is None else mask_b
        minimum = 2 if method == "t-test" else 1
        for field, mask in (("groups.0", mask_a), ("groups.1", rest)):
            if int(mask.sum()) < minimum:
                issues[field] = (f"has {int(mask.sum())} cells; the {method} needs at least "
                                 f"{minimum}")  # fmt: skip
    if issues:
        raise EveHTTPError(422, "The groups have errors.", extra={"_issues": issues})
    assert mask_a is not None
    result = diffexp(data.ranked, mask_a, mask_b, method=method)  # type: ignore[arg-type]
    answer = {
        "analysis": analysis_id,
        "method": method,
        "top": top,
        "pseudocount": PSEUDOCOUNT,
        "sizes": [result.n_a, result.n_b],
        "genes": result.records(data.genes, top=top),
    }
    return Response(dumps(answer), media_type="application/json")


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

    markers = _cache(request).get(folder, "markers", make)
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


@router.post("/analysis/{analysis_id}/diffexp", responses=_RESPONSES)
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
