"""t-SNE (openTSNE, FFT-accelerated at scale) and UMAP (umap-learn) embeddings of a PCA matrix.

Both take the cells x PCs matrix of a SPRING analysis (spec §11), compute a
seeded 2-D embedding, and write the analysis files into ``out_dir``:

* t-SNE: ``tsne_output.csv`` (``x,y`` per cell, ``%.6f``, no header),
  ``tsne_matrix.csv`` (the input matrix, ``%.3f`` comma separated, like
  SPRING's ``pca.csv``) and ``run_info.json``;
* UMAP: ``umap_output.csv`` (``x,y`` per cell, ``%.6f``, no header) and
  ``run_info.json``;
* given the cells' ids, both write ``cells.txt`` (the cell of each row), and given the
  SPRING analysis they embed, ``run_info.json`` names it (``springAnalysis``).

``run_info.json`` records every parameter, the seed, the input size and the
library version (indent 4, keys sorted, as SPRING's). Large inputs stay within
memory through approximate neighbours (NN-descent: t-SNE's from 100,000 cells,
umap-learn's from 4,096 cells).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import numpy as np

from bioblocks.analysis._params import Params
from bioblocks.analysis.spring_folder import write_embedding
from bioblocks.errors import AnalysisInputError
from bioblocks.progress import Progress, null_progress

__all__ = ["TsneParams", "TsneResult", "UmapParams", "UmapResult", "run_tsne", "run_umap"]

log = logging.getLogger(__name__)

#: From this many cells t-SNE's repulsion is FFT-interpolated; below, Barnes-Hut.
FFT_MIN_CELLS = 10_000

#: Below this many cells t-SNE's perplexity neighbours are found exactly (blocked BLAS, as
#: SPRING's kNN graph below its sparse threshold); from it on, with NN-descent.
EXACT_NEIGHBORS_MAX_CELLS = 100_000

#: From this many cells t-SNE's affinities are uniform over 15 neighbours by default
#: (see :func:`run_tsne`); below, calibrated to perplexity 30.
UNIFORM_MIN_CELLS = 100_000

#: From this many cells UMAP starts from the PCA layout by default (see :func:`run_umap`).
UMAP_PCA_INIT_MIN_CELLS = 100_000

#: Perplexity of t-SNE's affinities when none is given.
DEFAULT_PERPLEXITY = 30.0


@dataclass(frozen=True)
class TsneParams(Params):
    """Every parameter of a t-SNE embedding, validated on creation (the rules of
    :class:`~bioblocks.analysis._params.Params`).

    Attributes
    ----------
    seed
        Seed of the PCA initialisation, the approximate neighbours and the optimisation.
    perplexity
        Effective number of neighbours of the perplexity affinities (default 30), from 1
        to ``(n_cells - 1) / 3``. Giving it chooses ``affinity="perplexity"``.
    affinity
        ``"perplexity"`` (Gaussian kernels calibrated to the perplexity over the
        ``3 * perplexity`` nearest neighbours, van der Maaten's t-SNE) or ``"uniform"``
        (equal affinities over the symmetrised ``k_neighbors``-nearest-neighbour graph).
        Default: perplexity below ``UNIFORM_MIN_CELLS`` (100,000) cells, uniform from
        there on.
    k_neighbors
        Neighbours of the uniform affinities, ``1 <= k_neighbors < n_cells``.
    n_iter
        Total iterations: the first ``min(250, n_iter // 3)`` with early exaggeration
        (12), the rest without (750 = openTSNE's 250 + 500).
    n_jobs
        Threads (default: every core this process may use).
    """

    _label: ClassVar[str] = "TSNE"
    _ranges: ClassVar[Mapping[str, tuple[float, float]]] = {
        "perplexity": (1, 1e6),
        "k_neighbors": (1, 1e9),
        "n_iter": (3, 1e6),
        "n_jobs": (1, 1e6),
    }
    _choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"affinity": ("perplexity", "uniform")}

    perplexity: float | None = None
    affinity: str | None = None
    k_neighbors: int = 15
    n_iter: int = 750
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.affinity == "uniform" and self.perplexity is not None:
            raise AnalysisInputError(
                "the uniform affinities have no perplexity; set k_neighbors instead, or "
                "affinity='perplexity'",
                field="perplexity",
            )

    def for_cells(self, n_cells: int) -> Self:
        """Return these parameters with the affinity (and a perplexity affinity's
        perplexity) chosen for ``n_cells`` cells; raise naming ``perplexity`` or
        ``k_neighbors`` if it is too large for them."""
        _check_neighbour_count(self.k_neighbors, lowest=1, n_cells=n_cells, field="k_neighbors")
        affinity = self.affinity or (
            "perplexity" if self.perplexity is not None or n_cells < UNIFORM_MIN_CELLS
            else "uniform"
        )
        if affinity == "uniform":
            return dataclasses.replace(self, affinity=affinity)
        perplexity = DEFAULT_PERPLEXITY if self.perplexity is None else self.perplexity
        if 3 * perplexity > n_cells - 1:
            raise AnalysisInputError(
                f"{perplexity:g} is too large for {n_cells} cells: t-SNE needs 3 x perplexity "
                f"<= n_cells - 1, so use at most {(n_cells - 1) / 3:.4g}",
                field="perplexity",
            )
        return dataclasses.replace(self, affinity=affinity, perplexity=perplexity)


@dataclass(frozen=True)
class UmapParams(Params):
    """Every parameter of a UMAP embedding, validated on creation (the rules of
    :class:`~bioblocks.analysis._params.Params`).

    Attributes
    ----------
    seed
        umap-learn's ``random_state``; with a seed umap-learn runs its optimisation on one
        thread so that the result is reproducible.
    n_neighbors
        Size of the local neighbourhood, ``2 <= n_neighbors < n_cells``.
    min_dist
        Minimum distance between embedded points, ``0 <= min_dist <= 1`` (spread 1).
        The default 0.5 is scanpy's ``tl.umap`` default, which gives the less clumped
        pictures single-cell users expect; umap-learn's own default is 0.1.
    init
        Initial layout: ``"spectral"`` (the graph Laplacian's eigenvectors), ``"pca"``
        (the first two principal components, scaled) or ``"random"``. Default: spectral
        below ``UMAP_PCA_INIT_MIN_CELLS`` (100,000) cells, PCA from there on. On a
        million-cell kNN graph that falls into many connected components (cells
        resampled from a few thousand) the spectral initialisation, one ARPACK
        eigenproblem per component, ran for over 20 minutes without finishing; PCA takes
        seconds and, like spectral, keeps the global structure (Kobak & Linderman 2021,
        *Nat. Biotechnol.* 39:156).
    """

    _label: ClassVar[str] = "UMAP"
    _ranges: ClassVar[Mapping[str, tuple[float, float]]] = {
        "n_neighbors": (2, 1e9),
        "min_dist": (0, 1),
    }
    _choices: ClassVar[Mapping[str, tuple[str, ...]]] = {"init": ("spectral", "pca", "random")}

    n_neighbors: int = 15
    min_dist: float = 0.5
    init: str | None = None

    def for_cells(self, n_cells: int) -> Self:
        """Return these parameters with the initial layout chosen for ``n_cells`` cells;
        raise naming ``n_neighbors`` unless it is below ``n_cells``."""
        _check_neighbour_count(self.n_neighbors, lowest=2, n_cells=n_cells, field="n_neighbors")
        init = self.init or ("spectral" if n_cells < UMAP_PCA_INIT_MIN_CELLS else "pca")
        return dataclasses.replace(self, init=init)


@dataclass(frozen=True)
class TsneResult:
    """A t-SNE embedding and what was written.

    Attributes
    ----------
    coordinates
        ``(n_cells, 2)`` float64 embedding (as written to ``tsne_output.csv``,
        to its 6 decimals).
    parameters
        Every parameter used, with the seed (also in ``run_info.json``).
    files
        Paths written, in ``out_dir``.
    """

    coordinates: np.ndarray
    parameters: dict[str, object]
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class UmapResult:
    """A UMAP embedding and what was written (same fields as :class:`TsneResult`)."""

    coordinates: np.ndarray
    parameters: dict[str, object]
    files: list[Path] = field(default_factory=list)


def _n_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check_matrix(pca: np.ndarray, *, min_cells: int) -> np.ndarray:
    """Return ``pca`` as a C-contiguous float64 matrix, or raise naming ``pca``."""
    matrix = np.asarray(pca)
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise AnalysisInputError(
            f"must be a 2-D cells x components matrix, got shape {matrix.shape}", field="pca"
        )
    if not np.issubdtype(matrix.dtype, np.number):
        raise AnalysisInputError(f"must be numeric, got dtype {matrix.dtype}", field="pca")
    if matrix.shape[0] < min_cells:
        raise AnalysisInputError(
            f"has {matrix.shape[0]} cells; at least {min_cells} are needed", field="pca"
        )
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        raise AnalysisInputError("contains NaN or infinite values", field="pca")
    return matrix


def _check_neighbour_count(value: int, *, lowest: int, n_cells: int, field: str) -> None:
    """Raise naming ``field`` unless ``value`` lies in ``lowest..n_cells - 1``."""
    if not lowest <= value < n_cells:
        raise AnalysisInputError(
            f"must be an integer in {lowest}..{n_cells - 1} for {n_cells} cells, got {value!r}",
            field=field,
        )


def _round6(coordinates: np.ndarray) -> np.ndarray:
    """Round to the 6 decimals written, so the result equals the file parsed back."""
    return np.array([float(f"{v:.6f}") for v in coordinates.ravel().tolist()]).reshape(
        coordinates.shape
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _affinities(matrix: np.ndarray, *, kind: str, perplexity: float, k_neighbors: int,
                n_jobs: int, exact: bool, seed: int) -> object:
    """openTSNE affinities: perplexity-calibrated over the ``3 * perplexity`` nearest
    neighbours, or uniform over the ``k_neighbors`` nearest (the kNN graph, symmetrised).

    The neighbours are exact (what openTSNE's own exact search computes, at BLAS speed),
    or NN-descent's (pynndescent, seeded, on ``n_jobs`` threads: recall 0.9999 on 50,000
    and 100,000 Gaussian-mixture points, and 2x faster than openTSNE's Annoy at 100,000
    points, whose per-point queries cost over 15 minutes at a million).
    """
    from openTSNE import affinity
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    from bioblocks.analysis._neighbors import exact_knn

    k = int(3 * perplexity) if kind == "perplexity" else int(k_neighbors)
    k = min(matrix.shape[0] - 1, k)
    if exact:
        indices, distances = exact_knn(matrix, k)
    else:
        from pynndescent import NNDescent

        index = NNDescent(
            matrix, n_neighbors=k + 1, metric="euclidean", random_state=seed, n_jobs=n_jobs,
            low_memory=True,
        )
        indices, distances = index.neighbor_graph
        del index
        # drop the point itself (normally column 0), keep k neighbours
        is_self = indices == np.arange(indices.shape[0])[:, None]
        order = np.argsort(is_self, axis=1, kind="stable")[:, :k]
        indices = np.take_along_axis(indices, order, axis=1).astype(np.int64)
        distances = np.take_along_axis(distances, order, axis=1).astype(np.float64)
    knn = PrecomputedNeighbors(indices, distances)
    if kind == "uniform":
        return affinity.Uniform(knn_index=knn, symmetrize="max", n_jobs=n_jobs, verbose=False)
    # the affinity model TSNE.fit builds itself (one perplexity)
    return affinity.MultiscaleMixture(
        perplexities=perplexity, knn_index=knn, n_jobs=n_jobs, verbose=False
    )


_P = TypeVar("_P", "TsneParams", "UmapParams")


def _prepare(pca: np.ndarray, cells: Sequence[str] | None, params: _P) -> tuple[np.ndarray, int, _P]:
    """Return the checked matrix, its number of cells and ``params`` chosen for them; refuse
    cell ids that do not name the rows one to one (before any work)."""
    matrix = _check_matrix(pca, min_cells=4)
    n_cells = matrix.shape[0]
    if cells is not None and len(cells) != n_cells:
        raise AnalysisInputError(
            f"{len(cells)} cell ids for a matrix of {n_cells} rows; give one id per row",
            field="cells",
        )
    return matrix, n_cells, params.for_cells(n_cells)


def _run_info(parameters: dict[str, object], spring_analysis: str | None) -> dict[str, object]:
    """``run_info.json``: the parameters, the SPRING analysis embedded (when known), the date."""
    source = {} if spring_analysis is None else {"springAnalysis": str(spring_analysis)}
    return {**parameters, **source, "date": _now()}


def run_tsne(
    pca: np.ndarray,
    *,
    out_dir: Path,
    params: TsneParams = TsneParams(),
    progress: Progress = null_progress,
    cells: Sequence[str] | None = None,
    spring_analysis: str | None = None,
) -> TsneResult:
    """Embed the cells in 2-D with FFT-accelerated t-SNE (openTSNE) and write the files.

    Parameters
    ----------
    pca
        ``(n_cells, n_pcs)`` input matrix (SPRING's z-scored PCA).
    out_dir
        Folder to write into (created if missing): ``tsne_output.csv``,
        ``tsne_matrix.csv``, ``run_info.json``.
    params
        The seed and the method's parameters (:class:`TsneParams`); those left None are
        chosen for the number of cells (:meth:`TsneParams.for_cells`).
    progress
        Called every 50 iterations; may raise :class:`~bioblocks.errors.Cancelled`.
    cells, spring_analysis
        The id of the cell of each row of ``pca`` (written to ``cells.txt``) and the SPRING
        analysis ``pca`` comes from (recorded in ``run_info.json`` as ``springAnalysis``).

    Notes
    -----
    Uniform affinities over 15 neighbours give embeddings that are hard to tell from
    perplexity 30's (Linderman et al. 2019, *Nat. Methods* 16:243; Böhm, Berens & Kobak
    2022, *JMLR* 23:1) and cost a sixth: a million cells need 25 M affinities instead of
    ~130 M, and an iteration takes 0.55 s instead of 2.6 s on two cores (the 90 NN-descent
    neighbours alone took 5.8 minutes; 15 take 51 s). That is why they are the default
    from 100,000 cells, where SPRING too switches to approximate methods.

    The repulsive forces are FFT-interpolated (FIt-SNE, ``negative_gradient_method
    ="fft"``) from 10,000 cells and Barnes-Hut below, openTSNE's own rule: the
    FFT's fixed cost per iteration makes it ~20x slower than Barnes-Hut on a few
    hundred cells, while Barnes-Hut's O(n log n) loses above ~10,000.

    Returns
    -------
    TsneResult
        Coordinates, parameters and written files.

    Raises
    ------
    AnalysisInputError
        For a bad matrix or parameter; ``field`` names it.
    """
    from openTSNE import TSNE
    from openTSNE import __version__ as opentsne_version

    matrix, n_cells, params = _prepare(pca, cells, params)
    seed, affinity, n_iter = params.seed, params.affinity, params.n_iter
    perplexity = DEFAULT_PERPLEXITY if params.perplexity is None else params.perplexity
    n_jobs = _n_jobs() if params.n_jobs is None else params.n_jobs
    early = min(250, n_iter // 3)
    method = "fft" if n_cells >= FFT_MIN_CELLS else "bh"
    parameters: dict[str, object] = {
        "process": "TSNE",
        "seed": seed,
        "affinity": affinity,
        **(
            {"perplexity": float(perplexity)}
            if affinity == "perplexity"
            else {"k_neighbors": params.k_neighbors}
        ),
        "n_iter": n_iter,
        "early_exaggeration_iter": early,
        "early_exaggeration": 12.0,
        "learning_rate": "auto",
        "initialization": "pca",
        "negative_gradient_method": method,
        "neighbors": "exact" if n_cells < EXACT_NEIGHBORS_MAX_CELLS else "pynndescent",
        "metric": "euclidean",
        "n_jobs": n_jobs,
        "n_cells": n_cells,
        "n_dims": matrix.shape[1],
        "library": f"openTSNE {opentsne_version}",
    }

    done = [0]

    def callback(iteration: int, error: float, embedding: np.ndarray) -> bool:
        # openTSNE restarts its counter after the early-exaggeration phase.
        done[0] += 50
        step = min(done[0], n_iter)
        progress(0.05 + 0.9 * step / n_iter, f"t-SNE: iteration {step}/{n_iter}")
        return False

    t0 = time.perf_counter()
    progress(0.0, f"t-SNE: affinities of {n_cells:,} cells")
    tsne = TSNE(
        n_components=2,
        perplexity=float(perplexity),
        early_exaggeration_iter=early,
        early_exaggeration=12.0,
        n_iter=n_iter - early,
        initialization="pca",
        negative_gradient_method=method,
        n_jobs=n_jobs,
        random_state=seed,
        callbacks=callback,
        callbacks_every_iters=50,
        verbose=False,
    )
    affinities = _affinities(
        matrix, kind=str(affinity), perplexity=float(perplexity), k_neighbors=params.k_neighbors,
        n_jobs=n_jobs, exact=parameters["neighbors"] == "exact", seed=seed,
    )
    progress(0.05, f"t-SNE: optimising {n_cells:,} cells")
    embedding = tsne.fit(matrix, affinities=affinities)
    coordinates = _round6(np.asarray(embedding, dtype=np.float64))
    log.info("t-SNE: %d cells in %.1f s", n_cells, time.perf_counter() - t0)

    progress(0.95, "t-SNE: writing files")
    files = write_embedding(Path(out_dir), "TSNE", coordinates, matrix=matrix, cells=cells,
                            run_info=_run_info(parameters, spring_analysis))
    progress(1.0, "t-SNE done")
    return TsneResult(coordinates=coordinates, parameters=parameters, files=files)


def run_umap(
    pca: np.ndarray,
    *,
    out_dir: Path,
    params: UmapParams = UmapParams(),
    progress: Progress = null_progress,
    cells: Sequence[str] | None = None,
    spring_analysis: str | None = None,
) -> UmapResult:
    """Embed the cells in 2-D with UMAP (umap-learn) and write the files.

    As :func:`run_tsne`, with :class:`UmapParams` (an ``init`` left None is chosen for the
    number of cells, :meth:`UmapParams.for_cells`): writes ``umap_output.csv`` and
    ``run_info.json`` (and ``cells.txt``) into ``out_dir``, reports progress at the start and
    the end only (umap-learn has no iteration callback), returns a :class:`UmapResult` and
    raises AnalysisInputError (``field`` naming it) for a bad matrix or parameter.
    """
    matrix, n_cells, params = _prepare(pca, cells, params)
    seed, n_neighbors, min_dist, init = (params.seed, params.n_neighbors, params.min_dist,
                                         str(params.init))

    import umap
    from umap import __version__ as umap_version

    parameters: dict[str, object] = {
        "process": "UMAP",
        "seed": seed,
        "n_neighbors": int(n_neighbors),
        "min_dist": float(min_dist),
        "spread": 1.0,
        "metric": "euclidean",
        "init": init,
        "n_epochs": 500 if n_cells <= 10_000 else 200,
        "neighbors": "exact" if n_cells < 4096 else "nndescent",
        "n_cells": n_cells,
        "n_dims": matrix.shape[1],
        "library": f"umap-learn {umap_version}",
    }
    t0 = time.perf_counter()
    progress(0.0, f"UMAP: {n_cells:,} cells")
    reducer = umap.UMAP(
        n_neighbors=int(n_neighbors),
        n_components=2,
        min_dist=float(min_dist),
        spread=1.0,
        metric="euclidean",
        init=init,
        n_epochs=int(parameters["n_epochs"]),  # type: ignore[call-overload]
        random_state=seed,
        n_jobs=1,
        verbose=False,
    )
    coordinates = _round6(np.asarray(reducer.fit_transform(matrix), dtype=np.float64))
    log.info("UMAP: %d cells in %.1f s", n_cells, time.perf_counter() - t0)

    progress(0.95, "UMAP: writing files")
    files = write_embedding(Path(out_dir), "UMAP", coordinates, cells=cells,
                            run_info=_run_info(parameters, spring_analysis))
    progress(1.0, "UMAP done")
    return UmapResult(coordinates=coordinates, parameters=parameters, files=files)
