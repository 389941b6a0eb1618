"""Subsample sizes and names of the SPRING analyses of one dataset (spec §9)."""

from __future__ import annotations

import numpy as np

from bioblocks.errors import AnalysisInputError


def subsample_sizes(n_cells: int) -> list[int]:
    """Return the subsample sizes analysed for a dataset of ``n_cells`` cells (spec §9).

    ``n ≥ 100,000`` → 1,000, 5,000, 10,000, 100,000; ``n ≥ 10,000`` → 1,000, 5,000, 10,000,
    n; ``n ≥ 5,000`` → 1,000, 5,000, n; ``n ≥ 1,000`` → 1,000, n; else n. Duplicates
    (n equal to a listed size) appear once.
    """
    if n_cells < 1:
        raise AnalysisInputError("a dataset without cells cannot be analysed", field="n_cells")
    if n_cells >= 100_000:
        sizes = [1_000, 5_000, 10_000, 100_000]
    elif n_cells >= 10_000:
        sizes = [1_000, 5_000, 10_000, n_cells]
    elif n_cells >= 5_000:
        sizes = [1_000, 5_000, n_cells]
    elif n_cells >= 1_000:
        sizes = [1_000, n_cells]
    else:
        sizes = [n_cells]
    return sorted(set(sizes))


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def size_shorthand(size: int) -> str:
    """Return the shorthand of a size: 1000 → ``1K``, 100000 → ``100K``, 1500000 → ``2M``
    (rounded half up); sizes below 1,000 in full."""
    if size < 1_000:
        return str(size)
    thousands = _round_half_up(size / 1_000)
    if size >= 1_000_000 or thousands >= 1_000:
        return f"{_round_half_up(size / 1_000_000)}M"
    return f"{thousands}K"


def _shorthand_value(shorthand: str) -> int:
    """Return the number of cells a shorthand such as ``5K``, ``2M`` or ``999`` stands for."""
    scale = {"K": 1_000, "M": 1_000_000}.get(shorthand[-1:], 1)
    return int(shorthand[:-1] if scale > 1 else shorthand) * scale


def subsample_name(dataset_name: str, size: int) -> str:
    """Return the analysis name ``"<dataset name> - <size>"`` of a ``size``-cell analysis.

    The size is its shorthand where that is exact (1000 → ``1K``, 100000 → ``100K``) and
    the exact count otherwise (1817 → ``1817``, 4790 → ``4790``), so a name never claims
    a size the analysis does not have.
    """
    shorthand = size_shorthand(size)
    exact = shorthand if _shorthand_value(shorthand) == size else str(size)
    return f"{dataset_name} - {exact}"


def subsample_plan(dataset_name: str, n_cells: int) -> list[tuple[int, str]]:
    """Return ``(size, name)`` for every SPRING analysis of a dataset (:func:`subsample_name`:
    the shorthand where it is exact, else the exact count, so no two names collide)."""
    return [(size, subsample_name(dataset_name, size)) for size in subsample_sizes(n_cells)]


def subsample_cells(n_cells: int, size: int, *, seed: int = 0) -> np.ndarray:
    """Draw ``size`` of ``n_cells`` cells uniformly without replacement.

    Returns
    -------
    numpy.ndarray
        Sorted int64 cell indices (all cells when ``size >= n_cells``).
    """
    if size < 1:
        raise AnalysisInputError("the subsample size must be at least 1", field="subsample")
    if size >= n_cells:
        return np.arange(n_cells, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_cells, size=size, replace=False)).astype(np.int64)
