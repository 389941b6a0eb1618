"""The built-in page in a real headless chromium against a real uvicorn server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ._browser import (
    DATASET_ID,
    DATASET_NAME,
    EMBEDDING_ID,
    JOB_ID,
    RECORD_ID,
    RECORD_NAME,
    RECORD_SPRING_ID,
    SPRING_ID,
    build_site,
    canvas_pixels,
    new_page,
    non_background_fraction,
    open_analysis,
    serve,
    settle,
    site_fixture,
)

pytestmark = pytest.mark.browser

N_CELLS = 400


site = site_fixture("site", n_cells=N_CELLS, embedding_cells=N_CELLS)


@pytest.fixture(scope="module")
def base_url(site: tuple[str, Path]) -> str:
    return site[0]


def test_page_lists_the_dataset_with_analyses_and_jobs(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/ui/")
    item = page.locator(f'[data-dataset="{DATASET_ID}"]')
    item.wait_for()
    assert item.locator("h3").text_content() == DATASET_NAME
    assert item.locator(".facts").text_content() == (
        f"mus musculus · {N_CELLS} cells × 5 genes · source: local"
    )
    card = item.locator(f'[data-analysis="{SPRING_ID}"]')
    assert "SPRING" in card.text_content()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.analysis-card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    job = item.locator(".jobs li")
    assert job.count() == 1
    assert re.fullmatch(r"UMAP running\s*40% optimising the layout", job.text_content())
    assert job.locator("progress").get_attribute("value") == "0.4"
    assert page.errors == []


def test_job_progress_updates_live(page: Any, site: tuple[str, Path]) -> None:
    from bioblocks.config import Settings
    from bioblocks.store import open_store

    base_url, data_dir = site
    page.goto(f"{base_url}/ui/")
    progress = page.locator(f'[data-dataset="{DATASET_ID}"] .jobs progress')
    progress.wait_for()
    store = open_store(Settings(data_dir=data_dir))
    try:
        store.patch("job", JOB_ID, {"progress": 0.75, "message": "almost there"})
        page.wait_for_function(
            "() => document.querySelector('.jobs progress').getAttribute('value') === '0.75'",
            timeout=60_000,  # a bound only: the page polls every 2 s
        )
        assert "75% almost there" in page.locator(".jobs li").text_content()
    finally:
        store.patch("job", JOB_ID, {"progress": 0.4, "message": "optimising the layout"})
        store.close()
    assert page.errors == []


def test_opening_an_analysis_draws_the_points(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    assert non_background_fraction(canvas_pixels(page)) > 0.005
    legend = page.locator("#legend button")
    assert legend.count() == 5
    counts = [int(t.replace(",", "")) for t in page.locator("#legend .count").all_text_contents()]
    assert sum(counts) == N_CELLS
    assert page.locator("#plot-status").text_content() == f"{N_CELLS} cells · coloured by Cluster"
    assert page.errors == []


def test_a_dataset_known_only_by_its_metadata_has_no_dead_end(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/ui/")
    item = page.locator(f'[data-dataset="{RECORD_ID}"]')
    item.wait_for()
    # listed after the dataset with something to open, although created first
    order = page.locator(".dataset").evaluate_all("els => els.map(e => e.dataset.dataset)")
    assert order == [DATASET_ID, RECORD_ID]
    # rowCount = genes, colCount = cells, as the importer writes them
    assert item.locator(".facts").text_content() == (
        "mus musculus · 6,933 cells × 28,205 genes · source: no matrix on this server"
    )
    card = item.locator(f'[data-analysis="{RECORD_SPRING_ID}"]')
    assert "metadata only: its files are not on this server" in card.text_content()
    assert card.locator("button, img").count() == 0  # nothing to open, no preview to fetch
    page.locator("#token-input").fill("some-token")
    page.locator("#token-save").click()
    assert item.locator("button").count() == 0  # no analysis to start without a matrix
    assert f"--id {RECORD_ID}" in item.locator(".start").text_content()
    # the analysis's own URL explains instead of failing
    page.goto(f"{base_url}/ui/#/dataset/{RECORD_ID}/analysis/{RECORD_SPRING_ID}")
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.startsWith('Nothing to draw')"
    )
    assert page.locator("#analysis-title").text_content() == f"{RECORD_NAME} - SPRING"
    assert page.locator("#error").is_hidden()
    settle(page)
    assert page.errors == []


def test_status_line_follows_the_colouring(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    status = page.locator("#plot-status")
    assert status.text_content() == f"{N_CELLS} cells · coloured by Cluster"
    page.locator("#gene-input").fill("Actb")
    page.locator("#gene-go").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    page.locator("#categorical-select").select_option("Cluster")
    assert status.text_content() == f"{N_CELLS} cells · coloured by Cluster"
    assert page.locator("#legend strong").text_content() == "Cluster"
    page.locator("#continuous-select").select_option("Total Counts")
    assert status.text_content() == f"{N_CELLS} cells · coloured by Total Counts"
    page.locator("#continuous-select").select_option("")
    assert status.text_content() == f"{N_CELLS} cells"
    assert page.locator("#legend").inner_html() == ""
    assert page.errors == []


def test_a_track_with_a_label_per_cell_is_not_offered(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    options = page.locator("#categorical-select option").all_text_contents()
    assert options == ["—", "Cluster", "Default"]  # the folder's `barcode` track is left out
    assert page.errors == []


def test_typing_a_gene_recolours_the_points(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    before = canvas_pixels(page)
    page.locator("#gene-input").fill("act")
    page.wait_for_function("() => document.querySelectorAll('#gene-options option').length === 1")
    assert page.locator("#gene-options option").get_attribute("value") == "Actb"
    page.locator("#gene-input").press("Enter")
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    settle(page)
    after = canvas_pixels(page)
    assert after != before
    assert non_background_fraction(after) > 0.005
    assert page.locator("#legend strong").text_content() == "Actb"
    # Actb is 4.0 in cluster 1 and 0 elsewhere (9.0 only in the filtered-out rows).
    assert page.locator("#legend .ramp-labels span").all_text_contents() == ["0.00", "4.00"]
    assert page.errors == []


def test_umap_uses_the_tracks_and_genes_of_its_spring_analysis(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, EMBEDDING_ID, N_CELLS)
    assert page.locator("#analysis-meta").text_content() == f"UMAP · {DATASET_NAME}"
    page.wait_for_function("() => document.querySelectorAll('#legend button').length === 5")
    assert non_background_fraction(canvas_pixels(page)) > 0.005
    page.locator("#gene-input").fill("Actb")
    page.locator("#gene-go").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    assert page.locator("#legend .ramp-labels span").all_text_contents() == ["0.00", "4.00"]
    links = page.locator("#downloads a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links[0].endswith(f"/analyses/{EMBEDDING_ID}/umap_output.csv")
    assert page.errors == []


def test_box_selection_reports_the_count(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    page.locator('input[name="mode"][value="box"]').check()
    box = page.locator("#plot").bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=4)
    page.mouse.up()
    assert page.locator("#selection-count").text_content() == f"{N_CELLS} cells selected"
    # Half the canvas holds some of the cells, not all.
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2, steps=4)
    page.mouse.up()
    half = int(page.locator("#selection-count").text_content().split()[0].replace(",", ""))
    assert 0 < half < N_CELLS
    page.locator("#selection-clear").click()
    assert page.locator("#selection-count").text_content() == "No cells selected"
    # A lasso around the whole canvas takes every cell.
    page.locator('input[name="mode"][value="lasso"]').check()
    x0, y0, x1, y1 = box["x"] + 2, box["y"] + 2, box["x"] + box["width"] - 2, box["y"] + box["height"] - 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in [(x1, y0), (x1, y1), (x0, y1), (x0, y0 + 3)]:
        page.mouse.move(x, y, steps=3)
    page.mouse.up()
    assert page.locator("#selection-count").text_content() == f"{N_CELLS} cells selected"
    assert page.errors == []


def test_keyboard_pans_and_zooms_the_plot(page: Any, base_url: str) -> None:
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    page.locator("#plot").focus()
    start = page.evaluate("() => ({...window.bioblocksPlot.view})")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("+")
    moved = page.evaluate("() => ({...window.bioblocksPlot.view})")
    assert moved["cx"] < start["cx"]
    assert moved["zoom"] == pytest.approx(start["zoom"] * 1.25)
    page.keyboard.press("0")
    assert page.evaluate("() => window.bioblocksPlot.view.zoom") == pytest.approx(start["zoom"])
    assert page.errors == []


def test_starting_an_analysis_shows_the_error_envelope(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/ui/")
    page.locator("#token-input").fill("not-a-token")
    page.locator("#token-save").click()
    button = page.get_by_role("button", name="Start UMAP")
    button.click()
    error = page.locator("#error")
    error.wait_for()
    assert error.text_content().startswith(f"Could not start UMAP on {DATASET_NAME}: ")
    assert "token is unknown" in error.text_content()


@pytest.mark.slow
def test_a_million_points_draw(browser: Any, tmp_path: Path) -> None:
    n_points = 1_000_000
    build_site(tmp_path / "files", n_cells=50, embedding_cells=n_points)
    with serve(tmp_path / "files") as url, new_page(browser) as page:
        open_analysis(page, url, EMBEDDING_ID, n_points)
        assert non_background_fraction(canvas_pixels(page)) > 0.02
        assert page.errors == []


def test_downloads_are_the_files_the_api_lists(page: Any, base_url: str) -> None:
    """The download links are `GET /analysis/<id>/files`'s items: no list of names in the page."""
    open_analysis(page, base_url, SPRING_ID, N_CELLS)
    links = page.locator("#downloads a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    listed = page.evaluate(f"() => fetch('/analysis/{SPRING_ID}/files').then(r => r.json())")
    assert links == ["/" + item["href"] for item in listed["_items"]]
    folder = f"/datasets/{DATASET_ID}/analyses/{SPRING_ID}"
    assert f"{folder}/genes.txt" in links
    assert [link for link in links if link.endswith("/coordinates.txt")] == [
        f"{folder}/{DATASET_NAME.replace(' ', '%20')}/coordinates.txt"
    ]
    assert page.errors == []
