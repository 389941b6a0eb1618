"""SPRING viewer compatibility: static viewer files and the three native CGI scripts.

The analysis folder is written here in the exact formats of the viewer contract (§3)
from a small known matrix, so every response is checked against an independent
computation on that matrix.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from urllib.parse import quote

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from bioblocks.analysis.spring_folder import ZSCORE_TOP_GENES, _read
from bioblocks.api import spring
from bioblocks.api.app import create_app
from bioblocks.config import Settings

DATASET = "11111111-2222-3333-4444-555555555555"
ANALYSIS = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SUBPLOT = "My Data"  # a space: the viewer sends it as %20 inside the form value
GENES = ["Actb", "Gapdh", "Mki67", "Cd34", "Hba-a1", "Xist"]


def write_spring_folder(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Write a SPRING analysis folder (contract §3) and return (matrix, cell_filter)."""
    rng = np.random.default_rng(7)
    n_cells = 12
    dense = rng.poisson(0.8, size=(n_cells, len(GENES))).astype(np.float64) * 1.37
    dense[:, 5] = 0.0  # one gene with no expression at all
    dense[3, 0] = 0.04  # nonzero but printed with one decimal as 0.0
    cell_filter = np.array([0, 2, 3, 5, 6, 7, 9, 10, 11], dtype=np.int64)
    folder = data_dir / "datasets" / DATASET / "analyses" / ANALYSIS
    sub = folder / SUBPLOT
    sub.mkdir(parents=True)
    (folder / "genes.txt").write_text("\n".join(GENES) + "\n")
    with h5py.File(folder / "counts_norm_sparse_genes.hdf5", "w") as hf:
        hf.attrs["ncells"] = n_cells
        hf.attrs["ngenes"] = len(GENES)
        for g, name in enumerate(GENES):
            rows = np.flatnonzero(dense[:, g])
            hf.create_dataset(f"counts/{name}", data=dense[rows, g])
            hf.create_dataset(f"cell_ix/{name}", data=rows)
    with h5py.File(folder / "counts_norm_sparse_cells.hdf5", "w") as hf:
        hf.attrs["ncells"] = n_cells
        hf.attrs["ngenes"] = len(GENES)
        for row in range(n_cells):
            cols = np.flatnonzero(dense[row])
            hf.create_dataset(f"counts/{row}", data=dense[row, cols])
            hf.create_dataset(f"gene_ix/{row}", data=cols)
    np.save(sub / "cell_filter.npy", cell_filter)
    sub_matrix = dense[cell_filter]
    stats = {
        name: [
            float(sub_matrix[:, g].mean()),
            float(sub_matrix[:, g].std()),
            float(sub_matrix[:, g].min()),
            float(sub_matrix[:, g].max()),
            0.0,
        ]
        for g, name in enumerate(GENES)
    }
    (sub / "color_stats.json").write_text(json.dumps(stats, indent=4, sort_keys=True))
    return dense, cell_filter


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


@pytest.fixture
def matrix(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    return write_spring_folder(data_dir)


def make_client(data_dir: Path, viewer_dir: Path | None = None) -> TestClient:
    """A client of the whole application (so route order and middleware are the real ones)."""
    return TestClient(create_app(Settings(data_dir=data_dir, spring_viewer_dir=viewer_dir)))


@pytest.fixture
def client(data_dir: Path, matrix: tuple[np.ndarray, np.ndarray]) -> TestClient:
    return make_client(data_dir)


BASE = f"../datasets/{DATASET}/analyses/{ANALYSIS}"
SUB = f"{BASE}/My%20Data"  # raw location.search text, as the viewer sends it


def post(client: TestClient, script: str, **fields: str):
    """POST form fields exactly as jQuery encodes them (so '%20' travels as '%2520')."""
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())
    return client.post(
        f"/spring/cgi-bin/{script}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


# ---- load_counts.py ---------------------------------------------------------------------


def test_load_counts_returns_every_gene_line(client: TestClient) -> None:
    response = post(client, "load_counts.py", base_dir=BASE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "".join(f"{g}\n" for g in GENES)


def test_load_counts_accepts_path_below_spring_datasets(client: TestClient) -> None:
    response = post(client, "load_counts.py", base_dir=f"datasets/{DATASET}/analyses/{ANALYSIS}")
    assert response.text.split("\n")[:-1] == GENES


def test_load_counts_without_trailing_newline_in_genes_txt(
    client: TestClient, data_dir: Path
) -> None:
    folder = data_dir / "datasets" / DATASET / "analyses" / ANALYSIS
    (folder / "genes.txt").write_text("\n".join(GENES))
    assert post(client, "load_counts.py", base_dir=BASE).text == "".join(f"{g}\n" for g in GENES)


def test_load_counts_empty_base_dir_is_absent(client: TestClient) -> None:
    response = post(client, "load_counts.py", base_dir="")
    assert response.status_code == 400
    assert "base_dir" in response.json()["_error"]["message"]


# ---- grab_one_gene.py -------------------------------------------------------------------


def expected_gene_lines(dense: np.ndarray, cell_filter: np.ndarray, gene: str) -> str:
    values = dense[cell_filter, GENES.index(gene)]
    return "".join(("0" if v == 0 else f"{v:.1f}") + "\n" for v in values)


@pytest.mark.parametrize("gene", ["Actb", "Gapdh", "Xist"])
def test_grab_one_gene_values_per_subplot_cell(
    client: TestClient, matrix: tuple[np.ndarray, np.ndarray], gene: str
) -> None:
    dense, cell_filter = matrix
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene=gene)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == expected_gene_lines(dense, cell_filter, gene)
    lines = response.text.split("\n")[:-1]  # what the viewer does
    assert len(lines) == len(cell_filter)


def test_grab_one_gene_prints_small_nonzero_with_one_decimal(client: TestClient) -> None:
    lines = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene="Actb").text
    assert lines.split("\n")[2] == "0.0"  # subplot cell 2 is main row 3 = 0.04


@pytest.mark.parametrize("gene", ["NoSuchGene", "actb", "../cell_ix/Actb", "/counts/Actb", "."])
def test_grab_one_gene_unknown_gene_is_404_naming_it(client: TestClient, gene: str) -> None:
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene=gene)
    assert response.status_code == 404
    assert response.json()["_error"]["message"] == f"Gene {gene!r} is not in this dataset."


def test_grab_one_gene_missing_field(client: TestClient) -> None:
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=SUB, gene="")
    assert response.status_code == 400
    assert "gene" in response.json()["_error"]["message"]


# ---- get_gene_zscores.from_hdf5.dev.py --------------------------------------------------


def expected_zscores(
    dense: np.ndarray, cell_filter: np.ndarray, selected: list[int], compared: list[int]
) -> tuple[list[str], list[float]]:
    sub = dense[cell_filter]
    mean, std = sub.mean(0), sub.std(0)
    scores = (dense[cell_filter[selected]].mean(0) - mean) / (std + 0.02)
    if compared:
        scores -= (dense[cell_filter[compared]].mean(0) - mean) / (std + 0.02)
    order = np.argsort(-scores, kind="stable")
    return [GENES[i] for i in order], [round(float(scores[i]), 3) for i in order]


@pytest.mark.parametrize(
    ("selected", "compared"), [([0, 2, 5], []), ([1, 4], [0, 3, 6, 8]), ([7], [7])]
)
def test_gene_zscores_match_independent_computation(
    client: TestClient,
    matrix: tuple[np.ndarray, np.ndarray],
    selected: list[int],
    compared: list[int],
) -> None:
    dense, cell_filter = matrix
    response = post(
        client,
        "get_gene_zscores.from_hdf5.dev.py",
        base_dir=BASE,
        sub_dir=SUB,
        selected_cells=",".join(map(str, selected)),
        compared_cells=",".join(map(str, compared)),  # "" must mean "none"
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names_part, scores_part = response.text.split("\t")
    assert scores_part.endswith("\n")
    names = names_part.split("\n")
    scores = [float(s) for s in scores_part.split("\n")[:-1]]
    want_names, want_scores = expected_zscores(dense, cell_filter, selected, compared)
    np.testing.assert_allclose(scores, want_scores, atol=1e-3)
    assert sorted(names) == sorted(want_names)
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("selected", ["", "1,x", "1.5"])
def test_gene_zscores_rejects_bad_selection(client: TestClient, selected: str) -> None:
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB,
        selected_cells=selected,
    )
    assert response.status_code == 400
    assert "selected_cells" in response.json()["_error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("selected_cells", "0,9"), ("selected_cells", "-1"), ("compared_cells", "1," * 5000 + "9"),
     ("selected_cells", "9" * 40)],
)
def test_gene_zscores_out_of_range_index_is_422_naming_the_field(
    client: TestClient, field: str, value: str
) -> None:
    fields = {"selected_cells": "0,1", field: value}
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB, **fields
    )
    assert response.status_code == 422
    body = response.json()
    assert body["_status"] == "ERR"
    assert set(body["_issues"]) == {field}
    assert "0..8" in body["_issues"][field]


@pytest.mark.parametrize("selected", [[0, 2, 5], list(range(9)), [8, 1, 1, 3, 4, 6, 7, 0]])
def test_gene_zscores_repeated_indices_count_once(
    client: TestClient, matrix: tuple[np.ndarray, np.ndarray], selected: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """500,000 repeated indices: quick, and the score of the deduplicated selection.

    Selections of more cells than genes (6) are read gene by gene; the smaller ones cell
    by cell; both must match an independent numpy computation. The parse is chunked
    (small chunks here) so no step holds the whole list.
    """
    monkeypatch.setattr(spring, "SELECTION_CHUNK_CHARS", 4096)
    dense, cell_filter = matrix
    repeated = (selected * (500_000 // len(selected) + 1))[:500_000]
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB,
        selected_cells=",".join(map(str, repeated)), compared_cells="2,2,2,7",
    )
    assert response.status_code == 200, response.text
    names_part, scores_part = response.text.split("\t")
    scores = dict(zip(names_part.split("\n"), map(float, scores_part.split("\n")[:-1]),
                      strict=True))
    want_names, want_scores = expected_zscores(dense, cell_filter, sorted(set(selected)), [2, 7])
    np.testing.assert_allclose([scores[n] for n in want_names], want_scores, atol=1e-3)


def test_gene_zscores_large_selection_reads_genes_not_cells(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work is bounded: a selection larger than the gene count never reads row by row."""

    def no_rows(*_: object) -> None:
        raise AssertionError("read row by row")

    monkeypatch.setattr(_read, "_means_by_cells", no_rows)
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB,
        selected_cells=",".join(map(str, range(9))),
    )
    assert response.status_code == 200


def test_cgi_body_over_the_limit_is_413(data_dir: Path, matrix: object) -> None:
    client = TestClient(create_app(Settings(data_dir=data_dir, max_body_bytes=1000)))
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=SUB,
        selected_cells="0," * 600,
    )
    assert response.status_code == 413
    body = response.json()
    assert body["_status"] == "ERR"
    assert "BIOBLOCKS_MAX_BODY_BYTES" in body["_error"]["message"]


def test_gene_zscores_stop_when_the_client_disconnects(
    data_dir: Path, matrix: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client goes away while the scores are computed: the work stops at its next check.

    The test's ``receive`` hands over the body, then answers ``http.disconnect`` only
    once the computation has started (signalled from its first check); that check then
    waits until the endpoint has cancelled it, so the order is fixed without any timer.
    """
    import anyio

    app = create_app(Settings(data_dir=data_dir))
    started = threading.Event()
    checks: list[bool] = []
    original = spring.Cancel.check

    def check(self: spring.Cancel) -> None:
        checks.append(self.is_set())
        if len(checks) == 1:
            started.set()
            assert self.wait(60), "the endpoint never cancelled the work"
        original(self)

    monkeypatch.setattr(spring.Cancel, "check", check)
    body = "&".join(f"{k}={quote(v, safe='')}" for k, v in {
        "base_dir": BASE, "sub_dir": SUB, "selected_cells": "0,1,2"}.items()).encode()
    messages: list[dict] = []
    calls = {"n": 0}

    async def receive() -> dict:
        calls["n"] += 1
        if calls["n"] == 1:
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.to_thread.run_sync(started.wait, 60)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/spring/cgi-bin/get_gene_zscores.from_hdf5.dev.py",
        "raw_path": b"/spring/cgi-bin/get_gene_zscores.from_hdf5.dev.py", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("testserver", 80),
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                    (b"content-length", str(len(body)).encode())],
    }
    try:
        anyio.run(app, scope, receive, send)
    finally:
        app.state.store.close()
    assert checks == [False]  # one check only: it raised once the endpoint cancelled
    assert messages[0]["status"] == 499


# ---- confinement and other scripts ------------------------------------------------------


SECRET = "top secret outside the data directory"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the data directory holding files an attacker would like to read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "genes.txt").write_text(SECRET + "\n")
    return folder


@pytest.mark.parametrize(
    "base_dir",
    [
        "../outside",
        "../../outside",
        "../datasets/../../outside",
        f"../datasets/{DATASET}/../../../outside",
        "%2e%2e/%2e%2e/outside",
        "..%2f..%2foutside",
        "%252e%252e/%252e%252e/outside",
        "/etc",
        "%2Fetc",
        "{outside}",
        "../datasets/x%00/../../../outside",
        "..\\..\\outside",
        "../datasets/link",
        "../bioblocks.sqlite3",
        "",
    ],
)
def test_cgi_paths_are_confined_to_datasets(
    client: TestClient, data_dir: Path, outside: Path, base_dir: str
) -> None:
    (data_dir / "datasets" / "link").symlink_to(outside)
    response = post(client, "load_counts.py", base_dir=base_dir.format(outside=outside))
    assert response.status_code in (400, 404)
    assert SECRET not in response.text


def test_symlinked_sub_dir_leaving_data_dir_is_refused(
    client: TestClient, data_dir: Path, tmp_path: Path
) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    np.save(evil / "cell_filter.npy", np.arange(3))
    os.symlink(evil, data_dir / "datasets" / DATASET / "analyses" / ANALYSIS / "evil")
    response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=f"{BASE}/evil", gene="Actb")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "script",
    [
        "save_data.py",
        "save_sticky.py",
        "run_clustering.py",
        "spring_from_selection2.py",
        "delete_subdirectory.py",
        "list_directories_with_filename.py",
        "%2e%2e/cgi-bin/load_counts.py",
        "load_counts.py/x",
        "helper_functions.py",
    ],
)
def test_other_cgi_scripts_are_404_and_write_nothing(
    client: TestClient, data_dir: Path, script: str
) -> None:
    datasets = data_dir / "datasets"
    before = sorted((p.relative_to(datasets), p.stat().st_mtime_ns) for p in datasets.rglob("*"))
    response = post(
        client, script, base_dir=BASE, sub_dir=SUB, path=f"{SUB}/x.py", content="import os"
    )
    assert response.status_code == 404
    after = sorted((p.relative_to(datasets), p.stat().st_mtime_ns) for p in datasets.rglob("*"))
    assert after == before


def test_cgi_scripts_accept_post_only(client: TestClient) -> None:
    assert client.get("/spring/cgi-bin/load_counts.py").status_code == 405


# ---- static viewer ----------------------------------------------------------------------


@pytest.fixture
def viewer(tmp_path: Path, outside: Path) -> Path:
    folder = tmp_path / "viewer"
    (folder / "scripts_1_6_dev").mkdir(parents=True)
    (folder / "cgi-bin").mkdir()
    (folder / "springViewer_1_6_dev.html").write_text("<!doctype html><title>SPRING</title>")
    (folder / "scripts_1_6_dev" / "forceLayout_script.js").write_text("var x = 1;")
    (folder / "scripts_1_6_dev" / "notes.txt").write_text("alert(1)")
    (folder / "scripts_1_6_dev" / "table.csv").write_text("a,b\n")
    (folder / "cgi-bin" / "load_counts.py").write_text("print('source code')")
    (folder / "escape").symlink_to(outside)
    return folder


def test_viewer_files_are_served_with_safe_types(data_dir: Path, viewer: Path) -> None:
    client = make_client(data_dir, viewer)
    page = client.get(f"/spring/springViewer_1_6_dev.html?{BASE}/{SUBPLOT}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    script = client.get("/spring/scripts_1_6_dev/forceLayout_script.js?_=123")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.text == "var x = 1;"
    text = client.get("/spring/scripts_1_6_dev/notes.txt")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.headers["x-content-type-options"] == "nosniff"
    assert client.get("/spring/scripts_1_6_dev/table.csv").headers["content-type"].startswith(
        "text/csv"
    )


@pytest.mark.parametrize(
    "path",
    [
        "scripts_1_6_dev/text_annotations.js",
        "..%2foutside/genes.txt",
        "%2e%2e/outside/genes.txt",
        "scripts_1_6_dev/%2e%2e/%2e%2e/outside/genes.txt",
        "%252e%252e/outside/genes.txt",
        "escape/genes.txt",
        "scripts_1_6_dev/x%00.js",
    ],
)
def test_viewer_missing_or_escaping_paths_are_404(
    data_dir: Path, viewer: Path, path: str
) -> None:
    response = make_client(data_dir, viewer).get(f"/spring/{path}")
    assert response.status_code == 404
    assert SECRET not in response.text


def test_viewer_cgi_sources_are_never_served(data_dir: Path, viewer: Path) -> None:
    response = make_client(data_dir, viewer).get("/spring/cgi-bin/load_counts.py")
    assert response.status_code == 405
    assert "source code" not in response.text


def test_viewer_not_installed_is_404(data_dir: Path) -> None:
    response = make_client(data_dir).get("/spring/springViewer_1_6_dev.html")
    assert response.status_code == 404
    assert "BIOBLOCKS_SPRING_VIEWER_DIR" in response.json()["_error"]["message"]


def test_viewer_route_leaves_spring_datasets_to_the_files_router(
    data_dir: Path, viewer: Path
) -> None:
    routes = [r for r in spring.router.routes if getattr(r, "path_regex", None)]
    for path in [f"/spring/datasets/{DATASET}/x.txt", "/spring/datasets"]:
        assert [r.path for r in routes if r.path_regex.match(path)] == [], path


def test_viewer_path_maps_browser_resolution(data_dir: Path) -> None:
    root = (data_dir / "datasets").resolve()
    (root / "a b").mkdir(parents=True)
    assert spring.viewer_path(data_dir, "../datasets/a%20b") == root / "a b"
    assert spring.viewer_path(data_dir, "datasets/a%20b") == root / "a b"
    assert spring.viewer_path(data_dir, "x/../../datasets/a%20b/.") == root / "a b"


# ---- against a folder written by the real SPRING pipeline --------------------------------


@pytest.fixture(scope="module")
def real_analysis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A SPRING analysis written by :func:`bioblocks.analysis.run_spring` (small synthetic
    counts with three cell types); return (data_dir, subplot name)."""
    from bioblocks.analysis import SpringParams, run_spring

    rng = np.random.default_rng(11)
    n_cells, n_genes = 240, 400
    profiles = rng.gamma(0.6, 1.0, size=(3, n_genes))
    kinds = rng.integers(0, 3, n_cells)
    counts = rng.poisson(profiles[kinds] * rng.uniform(0.5, 1.5, size=(n_cells, 1)))
    counts[0] = 0  # an empty cell: filtered out, so cell_filter is not the identity
    genes = [f"Gene{j}" for j in range(n_genes)]
    data_dir = tmp_path_factory.mktemp("real") / "files"
    folder = data_dir / "datasets" / DATASET / "analyses" / ANALYSIS
    run_spring(
        sp.csr_matrix(counts.astype(np.float64)), genes, out_dir=folder, dataset_name="Real cells",
        params=SpringParams(n_force_iter=20, n_neighbors=4, n_prin_comps=10, seed=0),
    )
    return data_dir, "Real cells"


def test_real_folder_endpoints_match_its_files(real_analysis: tuple[Path, str]) -> None:
    data_dir, name = real_analysis
    folder = data_dir / "datasets" / DATASET / "analyses" / ANALYSIS
    client = make_client(data_dir)
    genes = (folder / "genes.txt").read_text().splitlines()
    assert post(client, "load_counts.py", base_dir=BASE).text == "".join(f"{g}\n" for g in genes)

    sub_dir = f"{BASE}/{quote(name)}"
    matrix = sp.load_npz(folder / "counts_norm.npz").toarray()
    cell_filter = np.load(folder / name / "cell_filter.npy")
    assert 0 not in cell_filter.tolist()
    expressed = np.flatnonzero(matrix[cell_filter].sum(0))[:3].tolist()
    for g in expressed:
        response = post(client, "grab_one_gene.py", base_dir=BASE, sub_dir=sub_dir, gene=genes[g])
        values = matrix[cell_filter, g]
        want = "".join(("0" if v == 0 else f"{v:.1f}") + "\n" for v in values)
        assert response.text == want

    stats = json.loads((folder / name / "color_stats.json").read_text())
    mean = np.array([stats[g][0] for g in genes])
    std = np.array([stats[g][1] for g in genes])
    selected = list(range(0, 40, 3))
    response = post(
        client, "get_gene_zscores.from_hdf5.dev.py", base_dir=BASE, sub_dir=sub_dir,
        selected_cells=",".join(map(str, selected)), compared_cells="",
    )
    names_part, scores_part = response.text.split("\t")
    scores = (matrix[cell_filter[selected]].mean(0) - mean) / (std + 0.02)
    order = np.argsort(-scores, kind="stable")[: ZSCORE_TOP_GENES]
    np.testing.assert_allclose(
        [float(s) for s in scores_part.split("\n")[:-1]], np.round(scores[order], 3), atol=1e-3
    )
    assert names_part.split("\n")[:5] == [genes[i] for i in order[:5]]


def test_viewer_page_and_its_data_urls_resolve_together(
    data_dir: Path, viewer: Path, matrix: tuple[np.ndarray, np.ndarray]
) -> None:
    """The page at /spring/ with ?../datasets/... or ?datasets/...: both data URLs answer."""
    client = make_client(data_dir, viewer)
    assert client.get("/spring/springViewer_1_6_dev.html").status_code == 200
    relative = f"datasets/{DATASET}/analyses/{ANALYSIS}/{quote(SUBPLOT)}/color_stats.json"
    for url in (f"/{relative}", f"/spring/{relative}"):
        response = client.get(f"{url}?_=1700000000000")
        assert response.status_code == 200, url
        assert set(response.json()) == set(GENES)
    sub_url = f"/spring/datasets/{DATASET}/analyses/{ANALYSIS}/{quote(SUBPLOT)}"
    assert client.get(f"{sub_url}/mutability.txt").status_code == 404  # 404 means editable


# ---- GET /analysis/{id}/files ------------------------------------------------------------


def test_analysis_files_list_what_exists_with_working_links(
    real_analysis: tuple[Path, str],
) -> None:
    """The page's download list: the format's files that exist, each link serving that file."""
    data_dir, name = real_analysis
    client = make_client(data_dir)
    store = client.app.state.store  # type: ignore[attr-defined]
    store.insert("analysis", {"_id": ANALYSIS, "name": name, "processType": "SPRING",
                              "parameters": {}})  # no "dataset": found through its owner
    store.insert("dataset", {"_id": DATASET, "name": name, "analyses": [ANALYSIS]})
    tsne = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"
    tsne_dir = data_dir / "datasets" / DATASET / "analyses" / tsne
    tsne_dir.mkdir()
    (tsne_dir / "tsne_output.csv").write_text("0.5,1.5\n")
    store.insert("analysis", {"_id": tsne, "name": "t", "processType": "TSNE", "dataset": DATASET})
    try:
        answer = client.get(f"/analysis/{ANALYSIS}/files").json()
        folder = f"datasets/{DATASET}/analyses/{ANALYSIS}"
        sub = f"{folder}/{quote(name)}"
        assert answer["subplot"] == sub and answer["coordinates"] == f"{sub}/coordinates.txt"
        assert [i["name"] for i in answer["_items"]] == [
            "coordinates.txt", "edges.csv", "categorical_coloring_data.json",
            "color_data_gene_sets.csv", "color_stats.json", "pca.csv", "cell_filter.txt",
            "run_info.json", "graph_data.json", "genes.txt", "counts_norm.npz", "total_counts.txt",
        ]  # no preview.png: run_spring writes none
        local = data_dir / "datasets" / DATASET / "analyses" / ANALYSIS
        for item in answer["_items"]:
            response = client.get(f"/{item['href']}")
            assert response.status_code == 200, item
            assert len(response.content) == item["size"] == (
                local / (name if item["href"].startswith(sub) else "") / item["name"]
            ).stat().st_size
        embedding = client.get(f"/analysis/{tsne}/files").json()
        assert embedding["subplot"] is None
        assert embedding["_items"] == [{"name": "tsne_output.csv", "size": 8,
                                        "href": f"datasets/{DATASET}/analyses/{tsne}/tsne_output.csv"}]
        assert embedding["coordinates"] == embedding["_items"][0]["href"]
        missing = client.get("/analysis/no-such-analysis/files")
        assert missing.status_code == 404 and missing.json()["_status"] == "ERR"
    finally:
        store.close()
