"""Embedding previews: a PNG of the right size with dots in the palette colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bioblocks.analysis.preview import BACKGROUND, PALETTE, write_preview
from bioblocks.errors import AnalysisInputError


def _colours(path: Path) -> dict[tuple[int, int, int], int]:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        pixels = np.asarray(image).reshape(-1, 3)
    values, counts = np.unique(pixels, axis=0, return_counts=True)
    return {tuple(int(c) for c in v): int(k) for v, k in zip(values, counts, strict=True)}


def test_clusters_are_drawn_in_their_palette_colours(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    coords = np.concatenate([rng.normal(c, 1.0, size=(200, 2)) for c in centres])
    labels = np.repeat(np.array(["b", "a", "c"]), 200)  # sorted: a, b, c -> colours 0, 1, 2
    out = write_preview(coords, labels, tmp_path / "p.png", width=300)
    assert out == tmp_path / "p.png"
    with Image.open(out) as image:
        assert image.width == 300 and 150 <= image.height <= 600
    colours = _colours(out)
    assert set(colours) == {BACKGROUND, PALETTE[0], PALETTE[1], PALETTE[2]}
    assert colours[BACKGROUND] > 0.5 * sum(colours.values())
    # The left-bottom cluster ("b") is drawn in colour 1, at the lower left.
    with Image.open(out) as image:
        pixels = np.asarray(image)
    ys, xs = np.nonzero(np.all(pixels == PALETTE[1], axis=2))
    assert xs.mean() < pixels.shape[1] / 2 and ys.mean() > pixels.shape[0] / 2


def test_without_labels_every_dot_has_the_first_colour(tmp_path: Path) -> None:
    coords = np.random.default_rng(1).random((1000, 2))
    colours = _colours(write_preview(coords, None, tmp_path / "p.png", width=200))
    assert set(colours) == {BACKGROUND, PALETTE[0]}


def test_many_labels_cycle_the_palette_and_a_million_points_draw(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    coords = rng.normal(size=(1_000_000, 2))
    labels = rng.integers(0, 25, 1_000_000)
    colours = _colours(write_preview(coords, labels, tmp_path / "big.png"))
    assert set(colours) - {BACKGROUND} == set(PALETTE)


def test_degenerate_coordinates_still_draw(tmp_path: Path) -> None:
    colours = _colours(write_preview(np.zeros((5, 2)), None, tmp_path / "p.png", width=64))
    assert colours[PALETTE[0]] > 0


@pytest.mark.parametrize(
    ("coords", "labels", "width", "field"),
    [
        (np.zeros((0, 2)), None, 400, "coords"),
        (np.zeros((3, 3)), None, 400, "coords"),
        (np.array([[0.0, np.nan], [1, 1]]), None, 400, "coords"),
        (np.zeros((3, 2)), np.array([1, 2]), 400, "labels"),
        (np.zeros((3, 2)), None, 8, "width"),
    ],
)
def test_bad_input_names_the_field(
    tmp_path: Path, coords: np.ndarray, labels: np.ndarray | None, width: int, field: str
) -> None:
    with pytest.raises(AnalysisInputError) as info:
        write_preview(coords, labels, tmp_path / "p.png", width=width)
    assert info.value.field == field
    assert not (tmp_path / "p.png").exists()
