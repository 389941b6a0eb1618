"""Exploring an analysis in real chromium: track labels at the groups' centres, the hover
tooltip, the layouts of the same cells switched in place, refused categorical tracks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ._browser import (
    DATASET_ID,
    DATASET_NAME,
    EMBEDDING_ID,
    SPRING_ID,
    TSNE_ID,
    categorical,
    layout,
    open_analysis,
    select_box,
    settle,
    site_fixture,
    to_screen,
)

pytestmark = pytest.mark.browser

N_CELLS = 400


site = site_fixture("explore", n_cells=N_CELLS, embedding_cells=N_CELLS, tsne=True)


def isolated_cell(xy: np.ndarray, among: np.ndarray | None = None) -> int:
    """The cell (of `among`, default all) farthest from its nearest neighbour."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    if among is not None:
        nearest = np.where(among, nearest, -1.0)
    return int(np.argmax(nearest))


def label_centres(page: Any) -> dict[str, tuple[float, float]]:
    """Each drawn label's centre, in CSS pixels relative to the plot."""
    return page.evaluate("""() => {
      const plot = document.getElementById('plot').getBoundingClientRect();
      return Object.fromEntries([...document.querySelectorAll('#plot-labels .plot-label')].map(
        (n) => { const r = n.getBoundingClientRect();
                 return [n.textContent, [r.left + r.width / 2 - plot.left, r.top + r.height / 2 - plot.top]]; }));
    }""")


def assert_labels_at_centroids(page: Any, xy: np.ndarray, labels: list[str]) -> None:
    centres = label_centres(page)
    assert sorted(centres) == sorted(set(labels))
    for label, (cx, cy) in centres.items():
        mean = xy[np.asarray(labels) == label].mean(axis=0)
        px, py = to_screen(page, float(mean[0]), float(mean[1]))
        assert cx == pytest.approx(px, abs=1.0) and cy == pytest.approx(py, abs=1.0), label


def pixel_at(page: Any, px: float, py: float) -> tuple[int, int, int]:
    from PIL import Image

    # only the canvas: no labels or tooltip above it
    page.evaluate("() => { for (const id of ['plot-labels', 'tooltip']) "
                  "document.getElementById(id).hidden = true; }")  # fmt: skip
    png = page.locator("#plot").screenshot()
    page.evaluate("() => { document.getElementById('plot-labels').hidden = false; }")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image.getpixel((round(px), round(py)))


# ---- the tests --------------------------------------------------------------------------


def test_labels_sit_at_each_groups_centroid(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    xy = layout(data_dir, SPRING_ID)
    clusters = categorical(data_dir)["Cluster"]["label_list"]
    assert_labels_at_centroids(page, xy, clusters)
    # the labels follow the view
    page.locator("#plot").focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("+")
    settle(page)
    assert_labels_at_centroids(page, xy, clusters)
    # another track: its own labels; a gene colouring: none
    page.locator("#categorical-select").select_option("Default")
    assert_labels_at_centroids(page, xy, ["All cells"] * N_CELLS)
    page.locator("#gene-input").fill("Actb")
    page.locator("#gene-go").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    assert page.locator("#plot-labels .plot-label").count() == 0
    assert page.errors == []


def test_hover_shows_the_cells_metadata(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    xy = layout(data_dir, SPRING_ID)
    tracks = categorical(data_dir)
    cell = isolated_cell(xy)
    box = page.locator("#plot").bounding_box()
    px, py = to_screen(page, *xy[cell])
    page.mouse.move(box["x"] + px, box["y"] + py)
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    page.wait_for_function(f"() => document.getElementById('tooltip').dataset.cell === '{cell}'")

    def facts() -> dict[str, str]:
        rows = tooltip.locator("div").evaluate_all(
            "rows => rows.map(r => [...r.children].map(c => c.textContent))"
        )
        return dict(rows)

    shown = facts()
    assert shown["Cell"] == str(cell)
    assert shown["Cluster"] == tracks["Cluster"]["label_list"][cell]
    assert shown["Default"] == "All cells"
    assert shown["barcode"] == f"cell-{cell}"  # refused as a colouring, still shown
    # color_data_gene_sets.csv: Total Counts is 3 x the SPRING x (3 decimals written)
    total = float(shown["Total Counts"].replace(",", ""))
    assert total == pytest.approx(3.0 * xy[cell, 0], abs=1.0 if abs(total) >= 1000 else 0.01)
    assert shown["Uniform"] == "0.00"
    # coloured by a gene, the tooltip gives the cell's value (Actb: 4 in cluster 1, else 0)
    page.locator("#gene-input").fill("Actb")
    page.locator("#gene-go").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    page.mouse.move(box["x"] + px + 1, box["y"] + py)
    page.wait_for_function("() => [...document.querySelectorAll('#tooltip .key')]"
                           ".some(k => k.textContent === 'Actb')")  # fmt: skip
    expected = "4.00" if tracks["Cluster"]["label_list"][cell] == "1" else "0.00"
    assert facts()["Actb"] == expected
    # off the canvas, no tooltip
    page.mouse.move(box["x"] + box["width"] + 50, box["y"] + 10)
    tooltip.wait_for(state="hidden")
    assert page.errors == []


def test_switching_layouts_keeps_colours_and_selection(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    layouts = page.locator("#layout-select option").evaluate_all("os => os.map(o => o.value)")
    assert layouts == [SPRING_ID, EMBEDDING_ID, TSNE_ID]
    assert page.locator("#layout-select").input_value() == SPRING_ID
    clusters = categorical(data_dir)["Cluster"]["label_list"]
    select_box(page, 0.01, 0.01, 0.5, 0.99)
    selected = page.evaluate("() => Array.from(window.bioblocksState.view.selection.cells)")
    count = page.locator("#selection-count").text_content()
    assert 0 < len(selected) < N_CELLS
    page.locator("#keep-a").click()
    legend = page.locator("#legend").inner_text()
    frames = page.evaluate("() => window.bioblocksPlot.frames")
    page.locator("#layout-select").select_option(EMBEDDING_ID)
    page.wait_for_function(f"() => window.bioblocksState.view.analysis._id === '{EMBEDDING_ID}'")
    page.wait_for_function(f"() => window.bioblocksPlot.frames > {frames}")
    settle(page)
    assert page.url.endswith(f"#/dataset/{DATASET_ID}/analysis/{EMBEDDING_ID}")
    assert page.locator("#analysis-meta").text_content() == f"UMAP · {DATASET_NAME}"
    # same cells, same colouring, same selection (cell i is cell i), the UMAP's positions
    umap = layout(data_dir, EMBEDDING_ID)
    drawn = np.asarray(page.evaluate("() => Array.from(window.bioblocksPlot.positions)"))
    np.testing.assert_allclose(drawn.reshape(-1, 2), umap, rtol=1e-6)
    assert page.locator("#plot-status").text_content() == f"{N_CELLS} cells · coloured by Cluster"
    assert page.locator("#legend").inner_text() == legend
    assert page.evaluate("() => Array.from(window.bioblocksState.view.selection.cells)") == selected
    assert page.locator("#selection-count").text_content() == count
    assert page.locator("#group-a-count").text_content() == f"{len(selected)} cells"
    assert_labels_at_centroids(page, umap, clusters)
    # the pixel of an isolated cell of cluster 1 has cluster 1's colour (#377eb8)
    cell = isolated_cell(umap, np.asarray(clusters) == "1")
    assert pixel_at(page, *to_screen(page, *umap[cell])) == (0x37, 0x7E, 0xB8)
    links = page.locator("#downloads a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links[0].endswith(f"/analyses/{EMBEDDING_ID}/umap_output.csv")
    # a gene colouring carries over too
    page.locator("#gene-input").fill("Actb")
    page.locator("#gene-go").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    page.locator("#layout-select").select_option(TSNE_ID)
    page.wait_for_function(f"() => window.bioblocksState.view.analysis._id === '{TSNE_ID}'")
    settle(page)
    tsne = layout(data_dir, TSNE_ID)
    assert page.locator("#plot-status").text_content() == f"{N_CELLS} cells · coloured by Actb"
    assert page.locator("#legend .ramp-labels span").all_text_contents() == ["0.00", "4.00"]
    assert page.evaluate("() => Array.from(window.bioblocksState.view.selection.cells)") == selected
    cell = isolated_cell(tsne, np.asarray(clusters) == "1")  # Actb 4.0: the ramp's top
    assert pixel_at(page, *to_screen(page, *tsne[cell])) == (0x67, 0x00, 0x0D)
    # reopening the URL shows the t-SNE with its layout choice
    page.reload()
    page.wait_for_function(f"() => window.bioblocksPlot && window.bioblocksPlot.count === {N_CELLS}")
    settle(page)
    assert page.locator("#layout-select").input_value() == TSNE_ID
    assert page.errors == []


def test_a_track_with_a_label_per_cell_is_refused_with_a_message(
    page: Any, site: tuple[str, Path]
) -> None:
    url, _ = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    options = page.locator("#categorical-select option").all_text_contents()
    assert options == ["—", "Cluster", "Default"]
    note = page.locator("#categorical-refused")
    assert note.is_visible()
    assert note.text_content().startswith(
        f"Not offered for colouring: barcode ({N_CELLS} labels for {N_CELLS} cells)."
    )
    assert "one label per cell, like a barcode" in note.text_content()
    assert page.errors == []
