"""The page's differential expression, marker genes, CSV downloads and saved annotations
in real chromium against a real server."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ._browser import (
    SPRING_ID,
    categorical,
    create_token,
    layout,
    open_analysis,
    select_box,
    site_fixture,
)

pytestmark = pytest.mark.browser

N_CELLS = 400
COLUMNS = ["gene", "logfoldchange", "padj", "frac_a", "frac_b"]


site = site_fixture("diffexp", n_cells=N_CELLS, embedding_cells=N_CELLS)


def table(page: Any, selector: str) -> list[list[str]]:
    """The text of a table's body rows."""
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def shown(record: dict[str, Any]) -> list[str]:
    """A record as the page writes it (2 decimals, 3 significant digits, percentages)."""
    padj = record["padj"]
    return [
        record["gene"],
        f"{record['logfoldchange']:.2f}",
        "0" if padj == 0 else _js_precision(padj, 3),
        f"{100 * record['frac_a']:.1f}%",
        f"{100 * record['frac_b']:.1f}%",
    ]


def _js_precision(value: float, digits: int) -> str:
    """JavaScript's Number.prototype.toPrecision for the values of these tables."""
    exponent = int(np.floor(np.log10(abs(value))))
    if exponent < -6 or exponent >= digits:
        mantissa, exp = f"{value:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exp):+d}"
    return f"{value:.{max(digits - 1 - exponent, 0)}f}"


def post_diffexp(url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/analysis/{SPRING_ID}/diffexp", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_rows(page: Any, selector: str) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('{selector} tbody tr').length > 0")


def read_download(page: Any, button: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.locator(button).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_a_label_against_the_rest(page: Any, site: tuple[str, Path]) -> None:
    url, _ = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    page.locator("#de-panel summary").click()
    page.locator("#de-a").select_option("label:1")
    page.locator("#de-b").select_option("rest")
    page.locator("#de-run").click()
    wait_for_rows(page, "#de-table")
    answer = post_diffexp(url, {"groups": [{"track": "Cluster", "label": "1"}, "rest"],
                                "method": "wilcoxon", "top": 50})  # fmt: skip
    rows = table(page, "#de-table")
    assert rows == [shown(r) for r in answer["genes"]]
    # Actb is 4.0 in cluster 1 and 0 elsewhere: first, in every cell of A and none of B
    assert rows[0][0] == "Actb" and rows[0][3:] == ["100.0%", "0.0%"]
    headers = page.locator("#de-table th").all_text_contents()
    assert headers == ["Gene", "log2 fold change", "Adjusted p", "% 1", "% rest"]
    size_a, size_b = answer["sizes"]
    assert page.locator("#de-status").text_content().startswith(
        f"1 ({size_a} cells) against rest ({size_b} cells) · wilcoxon"
    )
    assert size_a + size_b == N_CELLS
    # sorting: largest log fold change first, then smallest; genes A to Z
    lfc = page.locator('#de-table th[data-key="logfoldchange"] button')
    lfc.click()
    by_lfc = sorted(answer["genes"], key=lambda r: -r["logfoldchange"])
    assert [r[0] for r in table(page, "#de-table")] == [r["gene"] for r in by_lfc]
    assert page.locator('#de-table th[data-key="logfoldchange"]').get_attribute("aria-sort") == "descending"
    lfc.click()
    ascending = sorted(answer["genes"], key=lambda r: r["logfoldchange"])  # ties keep their order
    assert [r[0] for r in table(page, "#de-table")] == [r["gene"] for r in ascending]
    page.locator('#de-table th[data-key="gene"] button').click()
    assert [r[0] for r in table(page, "#de-table")] == sorted(r["gene"] for r in answer["genes"])
    # the CSV holds the rows shown, in their order, with every digit
    name, text = read_download(page, "#de-download")
    assert name == "diffexp 1 vs rest.csv"
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["gene", "log2_fold_change", "padj", "fraction_expressing_a",
                        "fraction_expressing_b"]  # fmt: skip
    by_gene = sorted(answer["genes"], key=lambda r: r["gene"])
    assert [line[0] for line in lines[1:]] == [r["gene"] for r in by_gene]
    for line, record in zip(lines[1:], by_gene, strict=True):
        assert [float(v) for v in line[1:]] == [record[k] for k in COLUMNS[1:]]
    # a gene of the table colours the plot
    page.locator("#de-table button.gene", has_text="Actb").click()
    page.wait_for_function(
        "() => document.getElementById('plot-status').textContent.endsWith('coloured by Actb')"
    )
    assert page.locator("#legend .ramp-labels span").all_text_contents() == ["0.00", "4.00"]
    assert page.errors == []


def test_two_selections_against_each_other(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    xy = layout(data_dir, SPRING_ID)

    def box_cells(x0: float, x1: float) -> list[int]:
        """The cells the page draws between two fractions of the plot's width."""
        plot = page.locator("#plot").bounding_box()
        (left, top), (right, bottom) = page.evaluate(
            f"() => [window.bioblocksPlot.toData({x0 * plot['width']}, {0.01 * plot['height']}),"
            f" window.bioblocksPlot.toData({x1 * plot['width']}, {0.99 * plot['height']})]"
        )
        inside = (xy[:, 0] >= left) & (xy[:, 0] <= right) & (xy[:, 1] <= top) & (xy[:, 1] >= bottom)
        return np.flatnonzero(inside).tolist()

    select_box(page, 0.01, 0.01, 0.45, 0.99)
    page.locator("#keep-a").click()
    group_a = box_cells(0.01, 0.45)
    select_box(page, 0.55, 0.01, 0.99, 0.99)
    page.locator("#keep-b").click()
    group_b = box_cells(0.55, 0.99)
    assert group_a and group_b
    assert page.locator("#group-a-count").text_content() == f"{len(group_a)} cells"
    assert page.locator("#group-b-count").text_content() == f"{len(group_b)} cells"
    page.locator("#de-panel summary").click()
    page.locator("#de-a").select_option("kept")
    page.locator("#de-b").select_option("kept")
    page.locator("#de-method").select_option("t-test")
    page.locator("#de-run").click()
    wait_for_rows(page, "#de-table")
    answer = post_diffexp(url, {"groups": [{"cells": group_a}, {"cells": group_b}],
                                "method": "t-test", "top": 50})  # fmt: skip
    assert answer["sizes"] == [len(group_a), len(group_b)]
    assert table(page, "#de-table") == [shown(r) for r in answer["genes"]]
    assert page.locator("#de-status").text_content().startswith(
        f"selection A ({len(group_a)} cells) against selection B ({len(group_b)} cells) · t-test"
    )
    assert page.errors == []


def test_the_marker_table_of_the_current_track(page: Any, site: tuple[str, Path]) -> None:
    url, _ = site
    open_analysis(page, url, SPRING_ID, N_CELLS)
    page.locator("#markers summary").click()
    wait_for_rows(page, "#markers-table")
    markers = httpx.get(f"{url}/analysis/{SPRING_ID}/markers", params={"track": "Cluster"},
                        timeout=60).json()["tracks"]["Cluster"]  # fmt: skip
    options = page.locator("#markers-label option").all_text_contents()
    assert options == [f"{label} ({markers[label]['size']} cells)" for label in markers]
    page.locator("#markers-label").select_option("1")
    rows = table(page, "#markers-table")
    assert rows == [shown(r) for r in markers["1"]["genes"]]
    assert rows[0][0] == "Actb"
    assert page.locator("#markers-status").text_content().startswith(
        "Cluster: 1 against every other cell · wilcoxon"
    )
    # another track: its markers
    page.locator("#categorical-select").select_option("Default")
    page.wait_for_function(
        "() => document.getElementById('markers-status').textContent.startsWith('Default')"
    )
    assert page.locator("#markers-status").text_content() == "Default has no marker genes (one label only)."
    page.locator("#markers-table").locator("tbody tr").wait_for(state="detached")
    assert page.errors == []


def select_left_half(page: Any, url: str) -> list[int]:
    """Open the SPRING analysis, box-select the left half of the plot; return the cells."""
    open_analysis(page, url, SPRING_ID, N_CELLS)
    select_box(page, 0.01, 0.01, 0.5, 0.99)
    return page.evaluate("() => Array.from(window.bioblocksState.view.selection.cells)")


def test_selected_cells_download_with_their_barcodes(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    cells = select_left_half(page, url)
    name, text = read_download(page, "#selection-download")
    assert name == "Example cells selection.csv"
    barcodes = categorical(data_dir)["barcode"]["label_list"]
    assert list(csv.reader(io.StringIO(text))) == [["cell", "barcode"]] + [
        [str(i), barcodes[i]] for i in cells
    ]
    assert 0 < len(cells) < N_CELLS
    assert page.errors == []


def test_saving_the_selection_as_an_annotation(page: Any, site: tuple[str, Path]) -> None:
    url, data_dir = site
    cells = select_left_half(page, url)
    page.locator("#annotation-name").fill("left side")
    page.locator("#annotation-category").fill("left")
    page.locator("#annotation-save").click()
    status = page.locator("#annotation-status")
    assert status.text_content() == "Saving needs an API token: enter it at the top of the page."
    page.locator("#token-input").fill(create_token(data_dir))
    page.locator("#token-save").click()
    page.locator("#annotation-save").click()
    page.wait_for_function(
        "() => document.getElementById('annotation-status').textContent.startsWith('Saved')"
    )
    assert status.text_content() == f"Saved “left side” ({len(cells)} cells): it is a track now."
    saved = status.get_attribute("data-annotation")
    doc = httpx.get(f"{url}/annotation/{saved}", timeout=30).json()
    assert (doc["name"], doc["analysis"], doc["version"]) == ("left side", SPRING_ID, 1)
    labels = httpx.get(f"{url}/annotation/{saved}/labels", timeout=30).json()
    assert labels["cells"] == {"left": cells}
    # the page colours by it: the selected cells and the others
    assert page.locator("#categorical-select").input_value() == "left side"
    counts = dict(zip(page.locator("#legend button span:nth-child(2)").all_text_contents(),
                      page.locator("#legend .count").all_text_contents(), strict=True))  # fmt: skip
    assert counts == {"left": str(len(cells)), "Unlabelled": str(N_CELLS - len(cells))}
    # and its label is a group for differential expression
    page.locator("#de-panel summary").click()
    page.locator("#de-a").select_option("label:left")
    page.locator("#de-b").select_option("rest")
    page.locator("#de-run").click()
    wait_for_rows(page, "#de-table")
    answer = post_diffexp(url, {"groups": [{"cells": cells}, "rest"], "method": "wilcoxon",
                                "top": 50})  # fmt: skip
    assert table(page, "#de-table") == [shown(r) for r in answer["genes"]]
    assert page.errors == []
