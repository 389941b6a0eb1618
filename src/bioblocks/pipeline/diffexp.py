"""Differential expression requests: one implementation for ``POST /analysis/{id}/diffexp``,
the ``diffexp`` job kind and ``bioblocks diffexp``.

A request is ``{"groups": [A, B], "method": "wilcoxon" | "t-test", "top": 50}``: A is
``{"cells": [i, ...]}`` (indices into the analysis's cells, in the order of its
coordinates) or ``{"track": "<categorical track>", "label": "<label>"}``; B the same or
``"rest"``. :func:`~bioblocks.pipeline.folders.analysis_folders` finds the analysis's files
(re-exported here), :func:`check_request` checks a request's shape, :func:`group_masks` its
groups against the analysis's tracks and :func:`answer` runs the test; a wrong request raises :class:`GroupsError`, whose
``issues`` name every field at fault (``groups.0.cells``, ``groups.1``, ``method``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .folders import analysis_folders

if TYPE_CHECKING:
    from ..analysis.explore import ExploreMatrix

#: Largest ``top`` of one request.
MAX_TOP = 1000
DEFAULT_TOP = 50
_KEYS = {"groups", "method", "top"}


class GroupsError(InputError):
    """A differential-expression request is wrong: ``issues`` maps each field at fault to
    what to fix (``field`` and ``message`` are the first of them)."""

    def __init__(self, issues: dict[str, str]) -> None:
        field, message = next(iter(issues.items()))
        super().__init__(message, field=field)
        self.issues = issues


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


def check_request(
    body: object, *, extra_keys: frozenset[str] = frozenset()
) -> tuple[object, object, str, int]:
    """Check the shape of a request (keys other than ``groups``, ``method``, ``top`` and
    ``extra_keys`` are refused); return ``(A spec, B spec, method, top)``.

    Raises
    ------
    GroupsError
        Naming every field at fault.
    """
    from ..analysis.diffexp import METHODS

    issues: dict[str, str] = {}
    if not isinstance(body, dict):
        raise GroupsError({"body": 'give a JSON object, {"groups": [A, B]}'})
    for key in sorted(set(body) - _KEYS - extra_keys):
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
        raise GroupsError(issues)
    assert isinstance(groups, list)
    return groups[0], groups[1], str(method), int(top)


def group_masks(
    spec_a: object, spec_b: object, method: str, n_cells: int, tracks: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the masks of groups A and B (``None``: the rest) over the ``n_cells`` cells
    whose categorical ``tracks`` (name → one label per cell) the specs may name.

    Raises
    ------
    GroupsError
        For empty, overlapping or out-of-range groups, unknown tracks or labels, or groups
        too small for the method.
    """
    issues: dict[str, str] = {}
    mask_a = _group_mask(spec_a, "groups.0", n_cells, tracks, issues)
    mask_b = None
    if spec_b != "rest":
        mask_b = _group_mask(spec_b, "groups.1", n_cells, tracks, issues)
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
        raise GroupsError(issues)
    assert mask_a is not None
    return mask_a, mask_b


def answer(
    data: ExploreMatrix, analysis_id: str, masks: tuple[np.ndarray, np.ndarray | None],
    method: str, top: int,
) -> dict[str, Any]:  # fmt: skip
    """Run the test on the groups ``masks`` (from :func:`group_masks`); return the answer:
    ``analysis``, ``method``, ``top``, ``pseudocount``, ``sizes`` and ``genes`` (the ``top``
    genes by score, see :meth:`bioblocks.analysis.diffexp.DiffExpResult.records`)."""
    from ..analysis.diffexp import PSEUDOCOUNT, diffexp

    result = diffexp(data.ranked, masks[0], masks[1], method=method)  # type: ignore[arg-type]
    return {
        "analysis": analysis_id,
        "method": method,
        "top": top,
        "pseudocount": PSEUDOCOUNT,
        "sizes": [result.n_a, result.n_b],
        "genes": result.records(data.genes, top=top),
    }


__all__ = [
    "DEFAULT_TOP",
    "MAX_TOP",
    "GroupsError",
    "analysis_folders",
    "answer",
    "check_request",
    "group_masks",
]
