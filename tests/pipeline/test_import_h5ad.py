"""Importing an .h5ad keeps what a viewer can use (issue 17, "In"): counts or view-only,
every obsm embedding as an imported analysis, obs tracks with their colours, what is not
imported listed, the CELLxGENE Discover facets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient

from bioblocks.config import Settings
from bioblocks.errors import AnalysisInputError, IngestError
from bioblocks.ingest import read_canonical
from bioblocks.pipeline.operations import import_dataset, run_analysis


def _pbmc68k_path() -> Path:
    """The 10x_pbmc68k_reduced.h5ad shipped inside the scanpy wheel (no download)."""
    scanpy_datasets = pytest.importorskip("scanpy.datasets")
    return Path(scanpy_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"


def _analyses(store: Any, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dataset's analyses by their obsm key."""
    docs = [store.get("analysis", a) for a in doc["analyses"]]
    return {d["parameters"]["embedding"]: d for d in docs}


def _folder(settings: Settings, analysis: dict[str, Any]) -> Path:
    return settings.resolved_data_dir / "datasets" / analysis["dataset"] / "analyses" / analysis["_id"]


def _csv(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_pbmc68k_reduced_is_imported_view_only_with_its_umap_and_louvain(
    store: Any, settings: Settings
) -> None:
    path = _pbmc68k_path()
    adata = anndata.read_h5ad(path)
    # What the file holds: scaled X (negative values), raw.X log-normalised, no layers.
    assert float(adata.X.min()) < 0 and not adata.layers
    assert not np.allclose(adata.raw.X.data, np.round(adata.raw.X.data))

    doc = import_dataset(store, settings, [path], name="pbmc68k")
    assert doc["viewOnly"] is True
    info = doc["matrixInfo"]
    assert info["cells"] == 700 and info["genes"] == 765 and "countsSource" not in info
    assert info["embeddings"] == ["X_pca", "X_umap"]
    not_imported = {n["element"]: n["reason"] for n in info["notImported"]}
    assert {"raw", "varm/PCs", "uns/rank_genes_groups", "uns/neighbors",
            "var/highly_variable"} <= set(not_imported)
    assert "no counts" in not_imported["raw"]

    # The matrix is X as it is (for colouring); the per-cell metadata kept.
    X, genes, barcodes, obs = read_canonical(settings.resolved_data_dir / doc["matrixLocation"])
    np.testing.assert_array_equal(X.toarray(), adata.X)
    assert genes.tolist() == adata.var_names.tolist()
    assert barcodes.tolist() == adata.obs_names.tolist()
    assert obs["louvain"].astype(str).tolist() == adata.obs["louvain"].astype(str).tolist()

    analyses = _analyses(store, doc)
    assert set(analyses) == {"X_pca", "X_umap"}
    umap, pca = analyses["X_umap"], analyses["X_pca"]
    assert umap["processType"] == "UMAP" and pca["processType"] == "SPRING"
    assert umap["imported"] is True and pca["imported"] is True
    assert umap["parameters"]["springAnalysis"] == pca["_id"]
    assert pca["parameters"]["pcs"] == 50 and umap["subsample"] == 700
    # The UMAP analysis has exactly the file's coordinates.
    np.testing.assert_array_equal(_csv(_folder(settings, umap) / "umap_output.csv"),
                                  adata.obsm["X_umap"])
    # The SPRING-style analysis draws PC1/PC2 and keeps the 50 PCs for t-SNE/UMAP.
    subplot = _folder(settings, pca) / pca["parameters"]["subplot"]
    coordinates = _csv(subplot / "coordinates.txt")
    np.testing.assert_array_equal(coordinates[:, 0], np.arange(700))
    np.testing.assert_allclose(coordinates[:, 1:], adata.obsm["X_pca"][:, :2], atol=5e-6)
    with np.load(subplot / "intermediates.npz") as data:
        np.testing.assert_array_equal(data["Epca"], adata.obsm["X_pca"])
    # The louvain track has exactly the file's labels and colours.
    tracks = json.loads((subplot / "categorical_coloring_data.json").read_text())
    louvain = tracks["louvain"]
    assert louvain["label_list"] == adata.obs["louvain"].astype(str).tolist()
    categories = adata.obs["louvain"].cat.categories.tolist()
    assert louvain["label_colors"] == dict(zip(categories, adata.uns["louvain_colors"],
                                               strict=True))
    assert tracks["bulk_labels"]["label_colors"] == dict(zip(
        adata.obs["bulk_labels"].cat.categories, adata.uns["bulk_labels_colors"], strict=True))
    assert "Default" in tracks
    continuous = dict(line.split(",", 1) for line in
                      (subplot / "color_data_gene_sets.csv").read_text().split("\n"))
    assert "Total Counts" not in continuous  # no counts to total
    np.testing.assert_allclose(np.array(continuous["n_counts"].split(","), dtype=float),
                               adata.obs["n_counts"], atol=5e-4)


def test_view_only_analyses_refuse_before_the_matrix_is_read(
    store: Any, settings: Settings
) -> None:
    doc = import_dataset(store, settings, [_pbmc68k_path()], name="pbmc68k")
    (settings.resolved_data_dir / doc["matrixLocation"]).unlink()  # nothing to load
    with pytest.raises(AnalysisInputError, match="view-only.*SPRING needs raw counts") as err:
        run_analysis(store, settings, doc["_id"], process="SPRING")
    assert err.value.field == "dataset"


def test_tsne_of_the_imported_cells_starts_from_their_x_pca(
    store: Any, settings: Settings
) -> None:
    adata = anndata.read_h5ad(_pbmc68k_path())
    doc = import_dataset(store, settings, [_pbmc68k_path()], name="pbmc68k")
    pca = _analyses(store, doc)["X_pca"]
    tsne = run_analysis(store, settings, doc["_id"], process="TSNE", params={"n_iter": 250})
    assert tsne["parameters"]["springAnalysis"] == pca["_id"]
    np.testing.assert_allclose(_csv(_folder(settings, tsne) / "tsne_matrix.csv"),
                               adata.obsm["X_pca"], atol=5e-4)


def test_the_page_and_the_viewer_read_the_imported_analyses(
    store: Any, settings: Settings
) -> None:
    from bioblocks.api import create_app

    adata = anndata.read_h5ad(_pbmc68k_path())
    doc = import_dataset(store, settings, [_pbmc68k_path()], name="pbmc68k")
    analyses = _analyses(store, doc)
    umap, pca = analyses["X_umap"], analyses["X_pca"]
    app = create_app(settings)
    try:
        client = TestClient(app)
        folder = f"/datasets/{doc['_id']}/analyses"
        assert client.get(f"{folder}/{umap['_id']}/umap_output.csv").status_code == 200
        assert client.get(f"/{umap['preview']}").status_code == 200
        # the page's gene colouring of the UMAP reads the expression of its springAnalysis
        gene = adata.var_names[0]
        values = client.get(f"/analysis/{umap['_id']}/expression", params={"genes": gene})
        assert values.status_code == 200, values.text
        np.testing.assert_allclose(values.json()[gene], adata.X[:, 0], atol=1e-6)
        # the SPRING viewer: subplot files, gene list, one value per cell
        main = f"../datasets/{doc['_id']}/analyses/{pca['_id']}"
        sub = f"{main}/pbmc68k"
        for name in ("mutability.txt", "coordinates.txt", "edges.csv",
                     "color_data_gene_sets.csv", "categorical_coloring_data.json",
                     "color_stats.json"):
            assert client.get(f"/spring/{sub}/{name}").status_code == 200, name
        genes = client.post("/spring/cgi-bin/load_counts.py", data={"base_dir": main})
        assert genes.text.splitlines() == adata.var_names.tolist()
        lines = client.post("/spring/cgi-bin/grab_one_gene.py",
                            data={"base_dir": main, "sub_dir": sub, "gene": gene})
        assert lines.status_code == 200 and lines.text.count("\n") == 700
    finally:
        app.state.store.close()


def _cellxgene_file(path: Path) -> anndata.AnnData:
    """A small file of the CELLxGENE Discover shape: normalised X, counts in raw.X, Ensembl
    ids as var names with symbols in feature_name, ontology-coded obs columns."""
    rng = np.random.default_rng(0)
    n_cells, n_genes = 60, 12
    counts = sp.csr_matrix(rng.poisson(2.0, size=(n_cells, n_genes)).astype(np.float32))
    counts[0, 0] = 30  # no cell is empty
    cell_type = rng.choice(["T cell", "B cell", "monocyte"], n_cells)
    terms = {"T cell": "CL:0000084", "B cell": "CL:0000236", "monocyte": "CL:0000576"}
    obs = pd.DataFrame({
        "cell_type": pd.Categorical(cell_type),
        "cell_type_ontology_term_id": pd.Categorical([terms[c] for c in cell_type]),
        "tissue": pd.Categorical(["blood"] * n_cells),
        "tissue_ontology_term_id": pd.Categorical(["UBERON:0000178"] * n_cells),
        "disease": pd.Categorical(["normal"] * 30 + ["COVID-19"] * 30),
        "disease_ontology_term_id": pd.Categorical(["PATO:0000461"] * 30
                                                   + ["MONDO:0100096"] * 30),
        "assay": pd.Categorical(["10x 3' v3"] * n_cells),
        "assay_ontology_term_id": pd.Categorical(["EFO:0009922"] * n_cells),
        "library": pd.Categorical(["donor1"] * 20 + ["donor2"] * 40),
        "Uniform": np.linspace(0.0, 1.0, n_cells),
    }, index=[f"cell{i}" for i in range(n_cells)])
    var = pd.DataFrame({"feature_name": pd.Categorical([f"GENE{i}" for i in range(n_genes)])},
                       index=[f"ENSG{i:011d}" for i in range(n_genes)])
    normalised = counts.multiply(1e4 / counts.sum(axis=1)).tocsr()
    normalised.data = np.log1p(normalised.data)
    adata = anndata.AnnData(X=normalised.astype(np.float32), obs=obs, var=var)
    adata.raw = anndata.AnnData(X=counts, var=var)
    adata.obsm["X_umap"] = rng.normal(size=(n_cells, 2))
    adata.obsm["X_draw_graph_fa"] = rng.normal(size=(n_cells, 2))
    adata.obsm["X_pca"] = rng.normal(size=(n_cells, 5))
    adata.obsm["X_phate"] = rng.normal(size=(n_cells, 3))
    adata.obsm["spatial"] = rng.normal(size=(n_cells, 2))
    adata.obsp["connectivities"] = sp.identity(n_cells, format="csr")
    adata.uns["cell_type_colors"] = np.array(["#ff0000", "#00ff00", "#0000ff"])
    adata.uns["schema_version"] = "5.0.0"
    adata.write_h5ad(path)
    return adata


def test_a_cellxgene_discover_file_keeps_counts_facets_and_every_embedding(
    store: Any, settings: Settings, tmp_path: Path
) -> None:
    adata = _cellxgene_file(tmp_path / "discover.h5ad")
    doc = import_dataset(store, settings, [tmp_path / "discover.h5ad"], name="discover")
    assert "viewOnly" not in doc
    info = doc["matrixInfo"]
    assert info["countsSource"] == "raw/X"
    counts, genes, _barcodes, obs = read_canonical(settings.resolved_data_dir / doc["matrixLocation"])
    np.testing.assert_array_equal(counts.toarray(), adata.raw.X.toarray())
    assert genes.tolist() == [f"GENE{i}" for i in range(12)]  # feature_name, not the ids
    assert obs["library"].tolist() == adata.obs["library"].tolist()  # never overwritten
    not_imported = {n["element"] for n in info["notImported"]}
    assert {"X", "obsm/spatial", "obsp/connectivities", "uns/schema_version"} <= not_imported

    assert doc["cell_types"] == ["B cell", "T cell", "monocyte"]
    assert doc["tissues"] == ["blood"] and doc["assays"] == ["10x 3' v3"]
    assert doc["diseases"] == ["COVID-19", "normal"]
    assert "CL:0000084" in doc["ontology_term_ids"]
    assert [d["_id"] for d in store.find("dataset", {"cell_types": "T cell"})] == [doc["_id"]]
    assert list(store.find("dataset", {"cell_types": "neuron"})) == []

    analyses = _analyses(store, doc)
    assert {k: a["processType"] for k, a in analyses.items()} == {
        "X_draw_graph_fa": "SPRING", "X_phate": "SPRING", "X_pca": "SPRING", "X_umap": "UMAP"}
    layout = analyses["X_draw_graph_fa"]
    assert analyses["X_umap"]["parameters"]["springAnalysis"] == layout["_id"]
    subplot = _folder(settings, layout) / "discover"
    tracks = json.loads((subplot / "categorical_coloring_data.json").read_text())
    assert tracks["cell_type"]["label_colors"] == {"B cell": "#ff0000", "T cell": "#00ff00",
                                                   "monocyte": "#0000ff"}
    assert tracks["library"]["label_list"] == adata.obs["library"].tolist()
    continuous = dict(line.split(",", 1) for line in
                      (subplot / "color_data_gene_sets.csv").read_text().split("\n"))
    # the file's own "Uniform" column is kept, not replaced by the built-in zeros
    np.testing.assert_allclose(np.array(continuous["Uniform"].split(","), dtype=float),
                               adata.obs["Uniform"], atol=5e-4)
    totals = np.asarray(adata.raw.X.sum(axis=1)).ravel()
    np.testing.assert_allclose(np.array(continuous["Total Counts"].split(","), dtype=float),
                               totals, atol=5e-4)
    # gene colouring: counts scaled to the mean total, as SPRING normalises them
    norm = sp.load_npz(_folder(settings, layout) / "counts_norm.npz").toarray()
    expected = adata.raw.X.toarray() * (totals.mean() / totals)[:, None]
    np.testing.assert_allclose(norm, expected, rtol=1e-5)
    # the other layouts share the main files (hard links), each with its own subplot
    phate = _folder(settings, analyses["X_phate"])
    assert (phate / "counts_norm.npz").read_bytes() == (subplot.parent / "counts_norm.npz").read_bytes()
    np.testing.assert_allclose(_csv(phate / "discover" / "coordinates.txt")[:, 1:],
                               adata.obsm["X_phate"][:, :2], atol=5e-6)
    # counts: SPRING runs on the dataset (its own analysis, not the imported ones)
    spring = run_analysis(store, settings, doc["_id"], process="SPRING",
                          params={"n_force_iter": 10, "n_neighbors": 4})
    assert not spring.get("imported")


def test_a_file_without_counts_is_not_combined_with_others(
    settings: Settings, store: Any, tmp_path: Path
) -> None:
    flat = anndata.AnnData(X=np.array([[0.5, -1.0], [1.5, 2.0]], dtype=np.float32))
    flat.write_h5ad(tmp_path / "flat.h5ad")
    counts = anndata.AnnData(X=np.array([[1, 2], [3, 4]], dtype=np.float32))
    counts.obs_names = ["x", "y"]
    counts.write_h5ad(tmp_path / "counts.h5ad")
    with pytest.raises(IngestError, match="cannot be combined") as err:
        import_dataset(store, settings, [tmp_path / "counts.h5ad", tmp_path / "flat.h5ad"],
                       name="mixed")
    assert err.value.field == "flat.h5ad"
    assert store.count("dataset") == 0


def test_a_failed_imported_analysis_leaves_nothing(
    store: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioblocks.pipeline import imported

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk trouble")

    monkeypatch.setattr(imported, "_write_embedding", broken)
    with pytest.raises(OSError, match="disk trouble"):
        import_dataset(store, settings, [_pbmc68k_path()], name="pbmc68k")
    assert store.count("dataset") == 0 and store.count("analysis") == 0
    datasets = settings.resolved_data_dir / "datasets"
    assert not datasets.exists() or not any(datasets.iterdir())


def test_jobs_and_the_pipeline_leave_a_view_only_dataset_alone(
    store: Any, settings: Settings
) -> None:
    from bioblocks.jobs import submit_job
    from bioblocks.pipeline.steps import plan_step

    doc = import_dataset(store, settings, [_pbmc68k_path()], name="pbmc68k")
    with pytest.raises(AnalysisInputError, match="view-only") as err:
        submit_job(store, settings, "SPRING", dataset_id=doc["_id"], parameters={})
    assert err.value.field == "dataset" and store.count("job") == 0
    units, skipped = plan_step(store, settings, "spring")
    assert units == [] and skipped == 1
    # t-SNE and UMAP of the imported cells start from the imported X_pca
    assert [u.kind for u in plan_step(store, settings, "tsne")[0]] == ["TSNE"]


def test_the_import_job_reports_what_the_file_brought_and_left(
    store: Any, settings: Settings, tmp_path: Path
) -> None:
    from bioblocks.jobs import execute, submit_job

    source = settings.resolved_data_dir / "uploads" / "discover.h5ad"
    source.parent.mkdir(parents=True)
    _cellxgene_file(source)
    job = submit_job(store, settings, "import", parameters={
        "sources": ["uploads/discover.h5ad"], "name": "discover"})
    execute(store, settings, job["_id"])
    done = store.get("job", job["_id"])
    results = done["results"]
    assert results["embeddings"] == ["X_draw_graph_fa", "X_pca", "X_phate", "X_umap"]
    assert {"element": "obsm/spatial", "file": "discover.h5ad",
            "reason": "not an embedding named X_* (cellxgene's convention)"} in results["notImported"]
    assert "viewOnly" not in results


def test_a_file_with_only_x_tsne_gets_a_layout_for_its_tracks(
    store: Any, settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    counts = rng.poisson(3.0, size=(30, 8)).astype(np.float32) + 1
    adata = anndata.AnnData(X=counts, obs=pd.DataFrame(
        {"batch": pd.Categorical(["a", "b"] * 15)}, index=[f"c{i}" for i in range(30)]))
    adata.obsm["X_tsne"] = rng.normal(size=(30, 2)) * 10 ** rng.uniform(-3, 3, size=(30, 1))
    adata.write_h5ad(tmp_path / "tsne.h5ad")
    doc = import_dataset(store, settings, [tmp_path / "tsne.h5ad"], name="only tsne")
    docs = [store.get("analysis", a) for a in doc["analyses"]]
    assert [(d["processType"], d["name"]) for d in docs] == [
        ("SPRING", "only tsne - t-SNE (SPRING view) (imported)"),
        ("TSNE", "only tsne - t-SNE (imported)")]
    layout, tsne = docs
    assert tsne["parameters"]["springAnalysis"] == layout["_id"]
    assert layout["parameters"]["pcs"] == 0
    folder = _folder(settings, tsne)
    np.testing.assert_array_equal(_csv(folder / "tsne_output.csv"), adata.obsm["X_tsne"])
    np.testing.assert_allclose(_csv(folder / "tsne_matrix.csv"), adata.obsm["X_tsne"], atol=5e-4)
    assert json.loads((folder / "run_info.json").read_text())["imported"] == {
        "file": "tsne.h5ad", "embedding": "X_tsne"}
    assert not (_folder(settings, layout) / "only tsne" / "intermediates.npz").exists()
    with pytest.raises(AnalysisInputError, match="imported layout without a PCA"):
        run_analysis(store, settings, doc["_id"], process="UMAP",
                     params={"springAnalysis": layout["_id"]})
