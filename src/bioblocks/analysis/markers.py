"""Marker genes of every categorical track, and their files ``markers.json`` / ``markers.csv``.

For each track (clusters, libraries, imported labels) every label is tested against all
other cells (Wilcoxon rank-sum, :func:`bioblocks.analysis.diffexp.marker_genes`) and the
:data:`TOP` genes of highest score are kept. The analysis folder holds them twice:

* ``markers.json``: ``{"method", "top", "pseudocount", "tracks": {track: {label:
  {"size": n, "genes": [{"gene", "score", "logfoldchange", "pvalue", "padj",
  "frac_a", "frac_b", "mean_a", "mean_b"}, ...]}}}}`` (``_a``: the label, ``_b``: the rest);
* ``markers.csv``: one row per (track, label, rank), the same columns, for spreadsheets.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bioblocks.analysis.diffexp import PSEUDOCOUNT, RankedMatrix, marker_genes
from bioblocks.errors import ConflictError

MARKERS_JSON = "markers.json"
MARKERS_CSV = "markers.csv"
#: Genes kept per label.
TOP = 50
COLUMNS = ("gene", "score", "logfoldchange", "pvalue", "padj", "frac_a", "frac_b", "mean_a",
           "mean_b")  # fmt: skip

Markers = dict[str, object]


def compute_markers(
    matrix: RankedMatrix,
    gene_names: Sequence[str],
    tracks: Mapping[str, Sequence[object] | np.ndarray],
    *,
    top: int = TOP,
) -> Markers:
    """Return the markers document (see the module docstring) of every track.

    ``tracks`` maps a track name to one label per cell of ``matrix``. A track with one
    label only (no "rest") gets an empty ``{}``.
    """
    out: dict[str, dict[str, object]] = {}
    for name, labels in tracks.items():
        results = marker_genes(matrix, np.asarray(labels))
        out[str(name)] = {
            label: {"size": res.n_a, "genes": res.records(gene_names, top=top)}
            for label, res in results.items()
        }
    return {"method": "wilcoxon", "top": int(top), "pseudocount": PSEUDOCOUNT, "tracks": out}


def _finite(value: object) -> object:
    """JSON has no infinities or NaN: write them as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_markers(folder: Path, markers: Markers) -> None:
    """Write ``markers.json`` and ``markers.csv`` into ``folder`` (each through a temporary
    file renamed into place)."""
    folder = Path(folder)
    tracks = markers["tracks"]
    assert isinstance(tracks, dict)
    clean_tracks: dict[str, dict[str, Any]] = {
        t: {label: {"size": entry["size"],
                    "genes": [{k: _finite(v) for k, v in g.items()} for g in entry["genes"]]}
            for label, entry in labels.items()}
        for t, labels in tracks.items()
    }  # fmt: skip
    clean = {**markers, "tracks": clean_tracks}
    tmp = folder / f".{MARKERS_JSON}.tmp"
    tmp.write_text(json.dumps(clean, allow_nan=False), encoding="utf-8")
    os.replace(tmp, folder / MARKERS_JSON)
    tmp = folder / f".{MARKERS_CSV}.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["track", "label", "label_size", "rank", *COLUMNS])
        for track, labels in clean_tracks.items():
            for label, entry in labels.items():
                for rank, gene in enumerate(entry["genes"], start=1):
                    writer.writerow([track, label, entry["size"], rank,
                                     *("" if gene[c] is None else gene[c] for c in COLUMNS)])  # fmt: skip
    os.replace(tmp, folder / MARKERS_CSV)


def write_analysis_markers(folder: Path, subplot: Path, *, top: int = TOP) -> Markers:
    """Compute the markers of every categorical track of ``subplot`` on the expression
    store of the analysis folder ``folder``; write ``markers.json`` and ``markers.csv``
    into ``folder`` and return the document."""
    from bioblocks.analysis.explore import open_explore_matrix

    data = open_explore_matrix(folder, subplot)
    markers = compute_markers(data.ranked, data.genes, data.tracks, top=top)
    write_markers(folder, markers)
    return markers


def read_markers(folder: Path) -> Markers | None:
    """Return ``markers.json`` of ``folder``, or ``None`` when the folder has none (an
    analysis made before markers were written).

    Raises
    ------
    ConflictError
        When the file is not a markers document.
    """
    path = Path(folder) / MARKERS_JSON
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConflictError(f"{MARKERS_JSON} of {Path(folder).name} cannot be read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("tracks"), dict):
        raise ConflictError(f"{MARKERS_JSON} of {Path(folder).name} holds no tracks")
    return doc


__all__ = [
    "MARKERS_CSV",
    "MARKERS_JSON",
    "TOP",
    "compute_markers",
    "read_markers",
    "write_analysis_markers",
    "write_markers",
]
