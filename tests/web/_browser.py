"""Helpers shared by the browser tests and ``benchmarks/web.py``.

A real uvicorn server on 127.0.0.1 (in a thread) serving the real application, and
Debian's chromium driven by Playwright (no browser download).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("BIOBLOCKS_CHROMIUM", "/usr/bin/chromium")

#: Headless chromium with WebGL on SwiftShader (the CPU implementation).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def chromium_missing() -> str | None:
    """Return why the browser tests cannot run (None when chromium and Playwright exist)."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return (
            f"Debian's chromium is not installed at {CHROMIUM}: "
            "run `apt-get update && apt-get install -y chromium` (CI does this in .ci/run)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: `pip install -e '.[dev]'`"
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    """Serve the application over ``data_dir`` with uvicorn in a child process; yield its URL.

    A separate process, so the server never competes with the test's own Python thread.
    """
    port = free_port()
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.web._browser", str(data_dir), str(port)], cwd=repo
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the test server exited with status {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the test server did not start within 60 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextlib.contextmanager
def launch_browser() -> Iterator[Any]:
    """Yield a Playwright browser: Debian's headless chromium."""
    from playwright.sync_api import sync_playwright

    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def new_page(browser: Any, *, width: int = 1366, height: int = 768) -> Iterator[Any]:
    """Yield a fresh page (own context); console errors land in ``page.errors``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.errors = []
        page.on(
            "console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None
        )
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        yield page
    finally:
        context.close()


def canvas_pixels(page: Any, selector: str = "#plot") -> bytes:
    """Return a PNG screenshot of one element."""
    return page.locator(selector).screenshot()


def non_background_fraction(png: bytes, *, background: tuple[int, int, int] = (255, 255, 255)) -> float:
    """Fraction of pixels of a PNG that differ from ``background``."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    diff = np.abs(pixels - np.array(background, dtype=np.int16)).sum(axis=2)
    return float((diff > 30).mean())


def require_chromium() -> None:
    """Skip the calling test without chromium; with ``CI=true`` fail it instead."""
    import pytest

    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def settle(page: Any) -> None:
    """Wait until the page is quiet: every request answered and the plot drawn at rest."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !window.bioblocksPlot || (!window.bioblocksPlot._pending"
        " && !window.bioblocksPlot._moving)"
    )
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def open_analysis(page: Any, base_url: str, analysis_id: str, n_points: int) -> None:
    """Open the analysis from the list; return once its n_points are drawn and the page is quiet."""
    page.goto(f"{base_url}/ui/")
    page.locator(f'[data-analysis="{analysis_id}"]').click()
    page.wait_for_function(
        f"() => window.bioblocksPlot && window.bioblocksPlot.count === {n_points}", timeout=60_000
    )
    page.wait_for_function(
        "() => !document.getElementById('plot-status').textContent.includes('Loading')"
    )
    settle(page)


# ---- an example site: real application, documents in its store, files on disk ----------

DATASET_ID = "11111111-2222-3333-4444-555555555555"
SPRING_ID = "aaaaaaaa-0000-0000-0000-000000000001"
EMBEDDING_ID = "aaaaaaaa-0000-0000-0000-000000000002"
TSNE_ID = "aaaaaaaa-0000-0000-0000-000000000003"
JOB_ID = "cccccccc-0000-0000-0000-000000000001"
DATASET_NAME = "Example cells"
#: A dataset known only by its metadata (as the shipped example's HPC): no matrix, no files.
RECORD_ID = "bbdeeded-0000-0000-0009-a1234567890b"
RECORD_SPRING_ID = "aaaaaaaa-0000-0000-0009-a1234567890b"
RECORD_NAME = "Metadata only"
GENES = ["Actb", "Gapdh", "Mki67", "Cd34", "Hba-a1"]
CLUSTER_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00"]


def _clusters(n_cells: int, seed: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLUSTER_COLORS), n_cells)
    centres = rng.normal(0.0, 300.0, size=(len(CLUSTER_COLORS), 2))
    return labels, centres[labels] + rng.normal(0.0, 60.0, size=(n_cells, 2)) + 500.0


def _write_lines(path: Any, rows: Any, fmt: str) -> None:
    import numpy as np

    with open(path, "w", encoding="utf-8") as handle:
        np.savetxt(handle, rows, fmt=fmt, delimiter=",")


def write_spring_analysis(folder: Any, *, n_cells: int, seed: int = 0) -> Any:
    """Write a SPRING analysis folder in the spec §10 formats; return the expression matrix.

    The subplot folder is named after the dataset; the expression store is written with
    :class:`bioblocks.analysis.ExpressionStore`. As the SPRING writer does, the main matrix
    keeps every input row (here 25 filtered-out cells first) and ``cell_filter.txt`` maps
    subplot cells to its rows. Gene ``Actb`` marks cluster 1 only.
    """
    import json

    import numpy as np
    import scipy.sparse as sp
    from PIL import Image

    from bioblocks.analysis import ExpressionStore

    labels, xy = _clusters(n_cells, seed)
    sub = folder / DATASET_NAME
    sub.mkdir(parents=True)
    _write_lines(sub / "coordinates.txt", np.column_stack([np.arange(n_cells), xy]), "%i,%.5f,%.5f")
    categorical = {
        "Default": {"label_colors": {"All cells": "#808080"}, "label_list": ["All cells"] * n_cells},
        "Cluster": {
            "label_colors": {str(c): color for c, color in enumerate(CLUSTER_COLORS)},
            "label_list": [str(c) for c in labels.tolist()],
        },
    }
    # a folder written before one-label-per-cell columns were left out of the tracks
    categorical["barcode"] = categorical_track_of([f"cell-{i}" for i in range(n_cells)])
    (sub / "categorical_coloring_data.json").write_text(json.dumps(categorical, sort_keys=True))
    tracks = {"Total Counts": xy[:, 0] * 3.0, "Uniform": np.zeros(n_cells)}
    (sub / "color_data_gene_sets.csv").write_text(
        "\n".join(f"{name}," + ",".join(f"{v:.3f}" for v in values) for name, values in tracks.items())
    )
    dropped = 25
    (sub / "cell_filter.txt").write_text("".join(f"{dropped + i}\n" for i in range(n_cells)))
    np.save(sub / "cell_filter.npy", np.arange(dropped, dropped + n_cells, dtype=np.int64))
    (sub / "run_info.json").write_text(json.dumps({"Nodes": n_cells}, indent=4, sort_keys=True))
    expression = np.zeros((n_cells, len(GENES)), dtype=np.float32)
    expression[:, 0] = (labels == 1) * 4.0
    expression[:, 1] = (xy[:, 1] - xy[:, 1].min()) / 100.0
    expression[:, 2] = np.random.default_rng(seed).poisson(0.3, n_cells)
    main = np.vstack([np.full((dropped, len(GENES)), 9.0, dtype=np.float32), expression])
    ExpressionStore.write(folder, sp.csc_matrix(main), GENES)
    (folder / "genes.txt").write_text("\n".join(GENES) + "\n")
    Image.new("RGB", (60, 40), (200, 220, 240)).save(folder / "preview.png")
    return expression


def categorical_track_of(labels: list[str]) -> dict[str, Any]:
    """A ``categorical_coloring_data.json`` track of ``labels`` (grey for every label)."""
    return {"label_colors": dict.fromkeys(labels, "#808080"), "label_list": labels}


def write_embedding_analysis(
    folder: Any, *, n_cells: int, seed: int = 1, output: str = "umap_output.csv"
) -> None:
    """Write a UMAP analysis folder (``umap_output.csv``, ``x,y`` per line) of ``n_cells``
    (a t-SNE one with ``output="tsne_output.csv"``)."""
    from PIL import Image

    _, xy = _clusters(n_cells, seed)
    folder.mkdir(parents=True)
    with open(folder / output, "w", encoding="utf-8") as handle:
        handle.write("\n".join(f"{x:.3f},{y:.3f}" for x, y in (xy / 50.0).tolist()) + "\n")
    Image.new("RGB", (60, 40), (240, 220, 200)).save(folder / "preview.png")


def build_site(
    data_dir: Path, *, n_cells: int = 400, embedding_cells: int | None = None, tsne: bool = False
) -> None:
    """Fill ``data_dir`` (store and files) with one dataset holding a SPRING analysis of
    ``n_cells`` (and a UMAP of ``embedding_cells`` if given: computed from the SPRING
    analysis, ``parameters.springAnalysis``, when it has the same cells; with ``tsne`` a
    t-SNE of the SPRING analysis's cells too, ``TSNE_ID``) and a running job, and a
    metadata-only dataset (``RECORD_ID``) whose SPRING analysis has no files."""
    from bioblocks.config import Settings
    from bioblocks.storage import analysis_dir
    from bioblocks.store import open_store

    settings = Settings(data_dir=data_dir)
    store = open_store(settings)
    root = settings.resolved_data_dir
    # a record without files, as `bioblocks populate` loads the example's HPC dataset (before the
    # datasets made here, as `bioblocks demo` does)
    store.insert("analysis", {
        "_id": RECORD_SPRING_ID, "name": f"{RECORD_NAME} - SPRING", "processType": "SPRING",
        "status": "NO_FILES", "parameters": {},
    })
    store.insert("dataset", {
        "_id": RECORD_ID, "name": RECORD_NAME, "species": "mus_musculus",
        "matrixInfo": {"rowCount": 28205, "colCount": 6933}, "analyses": [RECORD_SPRING_ID],
    })
    analyses = [SPRING_ID] + ([EMBEDDING_ID] if embedding_cells else []) + ([TSNE_ID] if tsne else [])
    store.insert("dataset", {
        "_id": DATASET_ID, "name": DATASET_NAME, "species": "mus_musculus",
        "matrixInfo": {"cells": n_cells, "genes": len(GENES)},
    })
    write_spring_analysis(analysis_dir(root, DATASET_ID, SPRING_ID), n_cells=n_cells)
    store.insert("analysis", {
        "_id": SPRING_ID, "name": DATASET_NAME, "processType": "SPRING", "dataset": DATASET_ID,
        "parameters": {"seed": 0}, "preview": f"datasets/{DATASET_ID}/analyses/{SPRING_ID}/preview.png",
    })
    if embedding_cells:
        linked = embedding_cells == n_cells
        write_embedding_analysis(analysis_dir(root, DATASET_ID, EMBEDDING_ID), n_cells=embedding_cells)
        store.insert("analysis", {
            "_id": EMBEDDING_ID, "name": f"{DATASET_NAME} - UMAP", "processType": "UMAP",
            "dataset": DATASET_ID,
            "parameters": {"seed": 0, **({"springAnalysis": SPRING_ID} if linked else {})},
            "preview": f"datasets/{DATASET_ID}/analyses/{EMBEDDING_ID}/preview.png",
        })
    if tsne:
        write_embedding_analysis(analysis_dir(root, DATASET_ID, TSNE_ID), n_cells=n_cells, seed=2,
                                 output="tsne_output.csv")  # fmt: skip
        store.insert("analysis", {
            "_id": TSNE_ID, "name": f"{DATASET_NAME} - t-SNE", "processType": "TSNE",
            "dataset": DATASET_ID, "parameters": {"seed": 0, "springAnalysis": SPRING_ID},
            "preview": f"datasets/{DATASET_ID}/analyses/{TSNE_ID}/preview.png",
        })
    store.patch("dataset", DATASET_ID, {"analyses": analyses})
    store.insert("job", {
        "_id": JOB_ID, "kind": "UMAP", "state": "running", "status": "IN_PROGRESS",
        "progress": 0.4, "message": "optimising the layout",
        "associatedDataset": {"dataset": DATASET_ID},
    })
    store.close()


def site_fixture(
    name: str, *, n_cells: int = 400, embedding_cells: int | None = None, tsne: bool = False
) -> Any:
    """Return a module-scoped fixture yielding ``(url, data_dir)``: a fresh data directory
    filled by :func:`build_site` and served by :func:`serve` (skips without chromium)."""
    import pytest

    @pytest.fixture(scope="module")
    def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
        require_chromium()
        data_dir = tmp_path_factory.mktemp(name) / "files"
        build_site(data_dir, n_cells=n_cells, embedding_cells=embedding_cells, tsne=tsne)
        with serve(data_dir) as url:
            yield url, data_dir

    return site


def create_token(data_dir: Path, name: str = "page tests") -> str:
    """Return a new write token of the site in ``data_dir``."""
    from bioblocks.config import Settings
    from bioblocks.store import open_store

    store = open_store(Settings(data_dir=data_dir))
    try:
        return str(store.create_token(name))
    finally:
        store.close()


def _analysis_dir(data_dir: Path, analysis_id: str) -> Path:
    return data_dir / "datasets" / DATASET_ID / "analyses" / analysis_id


def layout(data_dir: Path, analysis_id: str) -> Any:
    """The layout's (n, 2) coordinates as the page draws them (SPRING's y flipped)."""
    import numpy as np

    folder = _analysis_dir(data_dir, analysis_id)
    if analysis_id == SPRING_ID:
        xy = np.loadtxt(folder / DATASET_NAME / "coordinates.txt", delimiter=",")[:, 1:]
        return xy * [1.0, -1.0]
    name = "umap_output.csv" if analysis_id == EMBEDDING_ID else "tsne_output.csv"
    return np.loadtxt(folder / name, delimiter=",")


def categorical(data_dir: Path) -> dict[str, Any]:
    """The SPRING analysis's ``categorical_coloring_data.json`` as written (no annotations)."""
    import json

    path = _analysis_dir(data_dir, SPRING_ID) / DATASET_NAME / "categorical_coloring_data.json"
    return json.loads(path.read_text())


def to_screen(page: Any, x: float, y: float) -> tuple[float, float]:
    """The CSS pixel (relative to the plot) where the page draws data point (x, y)."""
    px, py = page.evaluate(f"() => window.bioblocksPlot.toScreen({x}, {y})")
    return px, py


def select_box(page: Any, x0: float, y0: float, x1: float, y1: float) -> None:
    """Box-select between two points given as fractions of the plot's size."""
    page.locator('input[name="mode"][value="box"]').check()
    box = page.locator("#plot").bounding_box()
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=4)
    page.mouse.up()


def site_app(data_dir: Path) -> Any:
    """Return the real application over ``data_dir``, with the page router."""
    from bioblocks.api.app import create_app
    from bioblocks.config import Settings

    settings = Settings(data_dir=data_dir)
    return create_app(settings)  # it includes the page router (bioblocks.api.page)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(site_app(Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]),
                log_level="warning")
