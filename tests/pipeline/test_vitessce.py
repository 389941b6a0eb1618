"""Vitessce: the AnnData-Zarr store of the HPC SPRING analysis with a t-SNE and a UMAP of it
(``hpc_family``), read back by anndata and compared with the analysis files (read here
independently), and its view configuration checked against Vitessce's own JSON schema
(``data/vitessce-config-1.0.16.schema.json``: ``dist/config-1.0.16.schema.json`` of the
npm package ``@vitessce/json-schema`` 4.0.8, MIT licence) and against the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata
import jsonschema_rs
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import zarr
from anndata.io import write_elem

from bioblocks.errors import NotFoundError
from bioblocks.pipeline.vitessce import (
    CONFIG_VERSION,
    MAX_SET_CATEGORIES,
    CellSets,
    StoreContents,
    embedding_name,
    store_contents,
    vitessce_config,
    vitessce_store,
)
from bioblocks.storage import analysis_dir

SCHEMA = Path(__file__).parent / "data" / f"vitessce-config-{CONFIG_VERSION}.schema.json"
URL = "http://example.org/analysis/x/vitessce/adata.zarr"


def _folder(family: Any, analysis_id: str) -> Path:
    return analysis_dir(family.settings.resolved_data_dir, family.dataset_id, analysis_id)


def _csv(path: Path) -> np.ndarray:
    return np.array([[float(v) for v in line.split(",")] for line in path.read_text().splitlines()])


def _schema_errors(config: dict[str, Any]) -> list[str]:
    validator = jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(config)]


@pytest.fixture(scope="module")
def store_dir(hpc_family: Any) -> Path:
    """The store of the family, asked for through its t-SNE analysis."""
    return vitessce_store(hpc_family.store, hpc_family.settings, hpc_family.tsne_id)


def test_one_store_per_family_written_once(hpc_family: Any, store_dir: Path) -> None:
    spring = _folder(hpc_family, hpc_family.spring_id)
    assert store_dir.parent == spring / "vitessce"
    written = (store_dir / ".zmetadata").stat().st_mtime_ns
    for analysis_id in (hpc_family.spring_id, hpc_family.umap_id):
        assert vitessce_store(hpc_family.store, hpc_family.settings, analysis_id) == store_dir
    assert (store_dir / ".zmetadata").stat().st_mtime_ns == written
    assert sorted(p.name for p in store_dir.parent.iterdir()) == [store_dir.name]
    assert not list((hpc_family.settings.resolved_data_dir / "tmp").glob("*.partial"))


def test_store_reads_back_as_the_analysis_files(hpc_family: Any, store_dir: Path) -> None:
    adata = anndata.read_zarr(store_dir)
    subplot = _folder(hpc_family, hpc_family.spring_id) / "HPC"
    cells = np.loadtxt(subplot / "cell_filter.txt", dtype=np.int64)
    assert adata.n_obs == cells.size == 4_790 and adata.n_vars == 28_205
    assert list(adata.obs_names) == list(hpc_family.barcodes[cells])
    np.testing.assert_array_equal(adata.obsm["X_spring"], _csv(subplot / "coordinates.txt")[:, 1:])
    np.testing.assert_array_equal(
        adata.obsm["X_tsne"], _csv(_folder(hpc_family, hpc_family.tsne_id) / "tsne_output.csv"))
    np.testing.assert_array_equal(
        adata.obsm["X_umap"], _csv(_folder(hpc_family, hpc_family.umap_id) / "umap_output.csv"))
    tracks = json.loads((subplot / "categorical_coloring_data.json").read_text())
    louvain = tracks["Louvain cluster"]
    assert list(adata.obs["Louvain cluster"].astype(str)) == louvain["label_list"]
    colors = dict(zip(adata.obs["Louvain cluster"].cat.categories,
                      adata.uns["Louvain cluster_colors"], strict=True))
    assert colors == {k: v for k, v in louvain["label_colors"].items() if k in colors}
    hvg = np.zeros(adata.n_vars, dtype=bool)
    with np.load(subplot / "intermediates.npz") as z:
        hvg[z["gene_filter"]] = True
    np.testing.assert_array_equal(adata.var["highly_variable"].to_numpy(), hvg)
    # Vitessce reads X per gene: its CSR arrays are chunked, never one block of the matrix
    x = zarr.open_group(str(store_dir), mode="r")["X"]
    assert x.attrs["encoding-type"] == "csr_matrix" and x["data"].chunks[0] < x["data"].shape[0]


def test_store_contents_name_what_the_store_holds(hpc_family: Any, store_dir: Path) -> None:
    contents = store_contents(store_dir)
    adata = anndata.read_zarr(store_dir)
    assert contents.embeddings == ["X_spring", "X_tsne", "X_umap"]
    assert contents.analyses == {"X_spring": hpc_family.spring_id, "X_tsne": hpc_family.tsne_id,
                                 "X_umap": hpc_family.umap_id}
    expected = [c for c in adata.obs.columns if isinstance(adata.obs[c].dtype, pd.CategoricalDtype)
                and 2 <= len(adata.obs[c].cat.categories) <= MAX_SET_CATEGORIES]
    assert [s.name for s in contents.cell_sets] == expected
    assert "Louvain cluster" in expected and "library" in expected and "Default" not in expected
    for cell_sets in contents.cell_sets:
        assert cell_sets.categories == list(adata.obs[cell_sets.name].cat.categories)
        assert cell_sets.colors == list(adata.uns[f"{cell_sets.name}_colors"])
    assert contents.highly_variable
    assert (contents.n_cells, contents.n_genes) == (4_790, 28_205)


def test_configuration_follows_vitessce_schema_and_the_store(hpc_family: Any, store_dir: Path) -> None:
    from bioblocks.pipeline.vitessce import analysis_config

    config = analysis_config(hpc_family.store, hpc_family.settings, hpc_family.umap_id,
                             zarr_url=URL)
    assert _schema_errors(config) == []
    assert config["version"] == CONFIG_VERSION
    (file,) = config["datasets"][0]["files"]
    assert file["fileType"] == "anndata.zarr" and file["url"] == URL
    options = file["options"]
    # the UMAP analysis leads; every embedding of the store is a path Vitessce can read there
    assert [e["path"] for e in options["obsEmbedding"]] == ["obsm/X_umap", "obsm/X_spring",
                                                             "obsm/X_tsne"]
    assert [e["embeddingType"] for e in options["obsEmbedding"]] == ["UMAP", "SPRING", "t-SNE"]
    paths = [e["path"] for e in options["obsEmbedding"]] + [s["path"] for s in options["obsSets"]]
    meta = json.loads((store_dir / ".zmetadata").read_text())["metadata"]
    for path in paths:
        assert f"{path}/.zarray" in meta or f"{path}/.zattrs" in meta, path
    assert options["obsFeatureMatrix"] == {"path": "X",
                                           "initialFeatureFilterPath": "var/highly_variable"}
    plots = [v for v in config["layout"] if v["component"] == "scatterplot"]
    space = config["coordinationSpace"]
    assert [space["embeddingType"][v["coordinationScopes"]["embeddingType"]] for v in plots] == [
        "UMAP", "SPRING", "t-SNE"]
    assert sorted(v["component"] for v in config["layout"]) == [
        "featureList", "heatmap", "obsSets", "scatterplot", "scatterplot", "scatterplot"]
    # the cells are coloured by the first cell sets, with the analysis's own colours
    tracks = json.loads((_folder(hpc_family, hpc_family.spring_id) / "HPC"
                         / "categorical_coloring_data.json").read_text())
    first = options["obsSets"][0]["name"]
    assert space["obsSetSelection"]["A"] == [[first, c] for c in tracks[first]["label_colors"]]
    louvain = {tuple(c["path"]): c["color"] for c in space["obsSetColor"]["A"]
               if c["path"][0] == "Louvain cluster"}
    assert louvain == {("Louvain cluster", k): [int(v[i:i + 2], 16) for i in (1, 3, 5)]
                       for k, v in tracks["Louvain cluster"]["label_colors"].items()}


def _contents(embeddings: list[str], sets: list[CellSets] | None = None) -> StoreContents:
    return StoreContents(embeddings=embeddings, analyses={}, cell_sets=sets or [],
                         highly_variable=False, n_cells=10, n_genes=5)


@pytest.mark.parametrize("n_plots", [1, 2, 3, 4, 7])
def test_layout_fills_the_grid_without_overlaps(n_plots: int) -> None:
    keys = [f"X_e{i}" for i in range(n_plots)]
    config = vitessce_config(_contents(keys), zarr_url=URL, name="n")
    assert _schema_errors(config) == []
    cells: set[tuple[int, int]] = set()
    for view in config["layout"]:
        assert view["w"] >= 3 and view["h"] >= 3 and view["x"] + view["w"] <= 12
        area = {(view["x"] + i, view["y"] + j) for i in range(view["w"]) for j in range(view["h"])}
        assert not cells & area, view["uid"]
        cells |= area
    scopes = [v["coordinationScopes"]["embeddingType"] for v in config["layout"]
              if v["component"] == "scatterplot"]
    assert len(set(scopes)) == n_plots
    # no cell sets: the cells are coloured by the selected gene
    assert config["coordinationSpace"]["obsColorEncoding"] == {"A": "geneSelection"}
    assert "obsSets" not in config["datasets"][0]["files"][0]["options"]


def test_colours_and_names() -> None:
    sets = [CellSets(name="type", categories=["B", "T", "NK"], colors=["#abc", "#00ff7f", "red"])]
    config = vitessce_config(_contents(["X_tsne_2", "X_draw_graph_fa"], sets), zarr_url=URL,
                             name="n", first_embedding="X_draw_graph_fa")
    assert config["coordinationSpace"]["obsSetColor"]["A"] == [
        {"path": ["type", "B"], "color": [170, 187, 204]},
        {"path": ["type", "T"], "color": [0, 255, 127]},  # "red" is no hex colour: left out
    ]
    assert [e["embeddingType"] for e in config["datasets"][0]["files"][0]["options"]
            ["obsEmbedding"]] == ["draw_graph_fa", "t-SNE 2"]
    assert embedding_name("X_umap") == "UMAP" and embedding_name("X_spring_3") == "SPRING 3"
    with pytest.raises(NotFoundError, match="no 2-D embedding"):
        vitessce_config(_contents([]), zarr_url=URL, name="n")


def test_store_contents_of_a_store_anndata_wrote(tmp_path: Path) -> None:
    """Cell sets only from categoricals with 2..MAX_SET_CATEGORIES categories; no X_pca or
    1-D obsm as a scatterplot; colours only where uns has them."""
    n = MAX_SET_CATEGORIES + 1
    obs = pd.DataFrame({
        "cluster": pd.Categorical(["a", "b"] * (n // 2) + ["a"] * (n % 2)),
        "barcode": pd.Categorical([f"c{i}" for i in range(n)]),
        "batch": pd.Categorical(["one"] * n),
        "score": np.linspace(0, 1, n),
        "state": pd.Categorical(["x", "y", "z"] * (n // 3) + ["x"] * (n % 3)),
    }, index=[f"c{i}" for i in range(n)])
    adata = anndata.AnnData(
        X=sp.random(n, 4, density=0.5, format="csr", random_state=0, dtype=np.float32), obs=obs,
        obsm={"X_pca": np.zeros((n, 5)), "X_umap": np.ones((n, 2)), "X_line": np.ones((n, 1))},
        uns={"cluster_colors": np.array(["#111111", "#222222"], dtype=object)},
    )
    group = zarr.open_group(str(tmp_path / "a.zarr"), mode="w", zarr_format=2)
    write_elem(group, "/", adata)
    zarr.consolidate_metadata(str(tmp_path / "a.zarr"))
    contents = store_contents(tmp_path / "a.zarr")
    assert contents.embeddings == ["X_umap"] and not contents.highly_variable
    assert contents.cell_sets == [
        CellSets(name="cluster", categories=["a", "b"], colors=["#111111", "#222222"]),
        CellSets(name="state", categories=["x", "y", "z"], colors=[]),
    ]
    with pytest.raises(NotFoundError, match="consolidated metadata"):
        store_contents(tmp_path)
