"""PNG previews of 2-D embeddings, coloured by cluster, rasterised with numpy (no matplotlib).

A preview is a small picture (a few hundred pixels wide) for lists and cards:
each cell is a dot of a fixed categorical colour on a white background. The
points are rasterised with array indexing, so a million cells take well under
a second.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from bioblocks.errors import AnalysisInputError

__all__ = ["BACKGROUND", "PALETTE", "write_preview"]

log = logging.getLogger(__name__)

#: Categorical colours (Tableau 10, then its lighter companions), cycled for more labels.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)
BACKGROUND = (255, 255, 255)

_MARGIN = 0.04  # fraction of the width left blank on every side


def _dot_size(n_points: int) -> int:
    """Side in pixels of the square dot: larger for few points, one pixel for many."""
    if n_points <= 5_000:
        return 3
    if n_points <= 50_000:
        return 2
    return 1


def write_preview(
    coords: np.ndarray,
    labels: np.ndarray | None,
    path: Path,
    *,
    width: int = 400,
) -> Path:
    """Draw the embedding as a PNG, one dot per cell coloured by its label.

    Parameters
    ----------
    coords
        ``(n_cells, 2)`` finite coordinates; y grows upwards in the picture.
    labels
        One label per cell (any values; categories are sorted and take
        :data:`PALETTE` colours in that order, cycling after 20), or ``None``
        to draw every cell in the first colour.
    path
        PNG file to write (its folder must exist).
    width
        Picture width in pixels (16-4096); the height follows the data's aspect
        ratio, between half and twice the width.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    AnalysisInputError
        For bad coordinates, labels or width; ``field`` names it.
    """
    xy = np.asarray(coords)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
        raise AnalysisInputError(
            f"must be a non-empty (n_cells, 2) array, got shape {xy.shape}", field="coords"
        )
    xy = xy.astype(np.float64, copy=False)
    if not np.all(np.isfinite(xy)):
        raise AnalysisInputError("contains NaN or infinite values", field="coords")
    if isinstance(width, bool) or not isinstance(width, int | np.integer) or not 16 <= width <= 4096:
        raise AnalysisInputError(f"must be an integer in 16..4096, got {width!r}", field="width")
    n = xy.shape[0]
    if labels is None:
        codes = np.zeros(n, dtype=np.int64)
    else:
        lab = np.asarray(labels)
        if lab.shape != (n,):
            raise AnalysisInputError(
                f"must have one label per cell ({n}), got shape {lab.shape}", field="labels"
            )
        _, codes = np.unique(lab, return_inverse=True)
    colours = np.array(PALETTE, dtype=np.uint8)[codes % len(PALETTE)]

    lo = xy.min(axis=0)
    span = xy.max(axis=0) - lo
    span[span == 0] = 1.0
    height = int(np.clip(round(width * span[1] / span[0]), width // 2, 2 * width))
    margin = max(2, round(_MARGIN * width))
    dot = _dot_size(n)
    inner_w = width - 2 * margin - dot
    inner_h = height - 2 * margin - dot
    scale = min(inner_w / span[0], inner_h / span[1])
    # Centre the drawing in the free direction.
    off_x = margin + (inner_w - span[0] * scale) / 2
    off_y = margin + (inner_h - span[1] * scale) / 2
    px = np.rint(off_x + (xy[:, 0] - lo[0]) * scale).astype(np.int64)
    py = np.rint(height - dot - (off_y + (xy[:, 1] - lo[1]) * scale)).astype(np.int64)
    px = np.clip(px, 0, width - dot)
    py = np.clip(py, 0, height - dot)

    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    for dy in range(dot):
        for dx in range(dot):
            image[py + dy, px + dx] = colours  # later cells are drawn over earlier ones
    path = Path(path)
    Image.fromarray(image, "RGB").save(path, format="PNG")
    log.debug("preview of %d cells written to %s (%dx%d)", n, path, width, height)
    return path
