"""What an .h5ad brings beyond its matrix: where the counts come from, view-only files,
embeddings, colours, gene symbols, the parts not imported (issue 17, "In")."""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioblocks.errors import IngestError
from bioblocks.ingest import ImportLimits, import_matrix, read_canonical, read_viewer_parts
from bioblocks.ingest._anndata import facets, hex_color

from ._formats import Reference


def _adata(ref: Reference, X: np.ndarray) -> anndata.AnnData:
    adata = anndata.AnnData(X=X, obs=pd.DataFrame(index=ref.barcodes),
                            var=pd.DataFrame(index=ref.genes))
    return adata


def _notes(summary: object) -> dict[str, str]:
    return {n["element"]: n["reason"] for n in summary.not_imported}  # type: ignore[attr-defined]


def test_counts_come_from_raw_x_when_it_holds_integers(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    adata = _adata(ref, np.log1p(ref.counts.astype(np.float32)))
    adata.raw = _adata(ref, sp.csr_matrix(ref.counts.astype(np.float32)))
    adata.write_h5ad(tmp_path / "x.h5ad")
    summary = import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits,
                            allow_view_only=True)
    assert summary.counts_source == "raw/X" and not summary.view_only
    assert summary.to_matrix_info()["countsSource"] == "raw/X"
    assert "counts come from raw/X" in _notes(summary)["X"]
    Y, _, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert Y.dtype == np.int32
    np.testing.assert_array_equal(Y.toarray(), ref.counts)


def test_a_fractional_raw_x_is_passed_over_for_an_integral_x(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    adata = _adata(ref, ref.counts.astype(np.float32))
    adata.raw = _adata(ref, np.log1p(ref.counts.astype(np.float32)))
    adata.write_h5ad(tmp_path / "x.h5ad")
    summary = import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits,
                            allow_view_only=True)
    assert summary.counts_source == "X" and "countsSource" not in summary.to_matrix_info()
    assert _notes(summary)["raw"] == "raw.X holds no counts (negative or fractional values)"
    Y, _, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(Y.toarray(), ref.counts)


@pytest.mark.parametrize("shift", [-0.5, 0.25])  # scaled (negative) or fractional values
def test_a_file_without_counts_is_view_only(
    ref: Reference, tmp_path: Path, limits: ImportLimits, shift: float
) -> None:
    values = ref.counts.astype(np.float32) + np.float32(shift)
    _adata(ref, values).write_h5ad(tmp_path / "x.h5ad")
    summary = import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits,
                            allow_view_only=True)
    assert summary.view_only and summary.counts_source is None
    Y, _, _, _ = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert Y.dtype == np.float32
    np.testing.assert_array_equal(Y.toarray(), values)
    assert read_viewer_parts(tmp_path / "out" / "matrix.h5ad").view_only


def test_view_only_still_refuses_non_finite_values(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    values = ref.counts.astype(np.float32) - 1
    values[2, 3] = np.nan
    _adata(ref, values).write_h5ad(tmp_path / "x.h5ad")
    with pytest.raises(IngestError, match="non-finite") as err:
        import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits,
                      allow_view_only=True)
    assert err.value.field == "x.h5ad"


def test_embeddings_and_colours_reach_the_canonical_matrix(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    adata = _adata(ref, ref.counts.astype(np.float32))
    adata.obs["group"] = pd.Categorical(list("aabbbcccc"))
    adata.obs["other"] = pd.Categorical(list("xxxxxyyyy"))
    adata.uns["group_colors"] = np.array(["#AABBCC", "#123", "tab:blue"])
    adata.uns["other_colors"] = np.array(["#000000"])  # one colour for two categories
    adata.uns["params"] = {"resolution": 1.0}
    rng = np.random.default_rng(1)
    adata.obsm["X_umap"] = rng.normal(size=(9, 2)).astype(np.float32)
    adata.obsm["X_pca"] = rng.normal(size=(9, 4))
    adata.obsm["X_one"] = rng.normal(size=(9, 1))
    adata.obsm["X_bad"] = np.full((9, 2), np.nan)
    adata.obsm["spatial"] = rng.normal(size=(9, 2))
    adata.obsm["X_sparse"] = sp.csr_matrix(rng.normal(size=(9, 3)))
    adata.layers["spliced"] = sp.csr_matrix(ref.counts)
    adata.obsp["distances"] = sp.identity(9, format="csr")
    adata.var["highly_variable"] = [True, False] * 3
    adata.write_h5ad(tmp_path / "x.h5ad")
    summary = import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits,
                            allow_view_only=True)
    assert summary.embeddings == ["X_pca", "X_umap"]
    assert _notes(summary) == {
        "obsm/X_bad": "holds NaN or infinite values",
        "obsm/X_one": "fewer than two dimensions",
        "obsm/X_sparse": "not a dense array (a sparse matrix or a data frame)",
        "obsm/spatial": "not an embedding named X_* (cellxgene's convention)",
        "uns/other_colors": "not one colour per category of 'other' (2)",
        "uns/params": "not used by the viewers",
        "layers/spliced": "only layers['counts'] is imported",
        "obsp/distances": "cell graphs are not imported",
        "var/highly_variable": "gene annotations other than ids and names are not imported",
    }
    assert summary.dropped == []
    parts = read_viewer_parts(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(parts.embeddings["X_umap"], adata.obsm["X_umap"])
    np.testing.assert_array_equal(parts.embeddings["X_pca"], adata.obsm["X_pca"])
    assert parts.colors == {"group": ["#aabbcc", "#112233", "#1f77b4"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = anndata.read_h5ad(tmp_path / "out" / "matrix.h5ad")  # scanpy reads it as is
    assert list(back.uns["group_colors"]) == ["#aabbcc", "#112233", "#1f77b4"]
    np.testing.assert_array_equal(back.obsm["X_umap"], adata.obsm["X_umap"])


def test_embeddings_of_several_inputs_are_listed_not_kept(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    for name in ("a", "b"):
        adata = _adata(ref, ref.counts.astype(np.float32))
        adata.obsm["X_umap"] = np.zeros((9, 2))
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
    summary = import_matrix([tmp_path / "a.h5ad", tmp_path / "b.h5ad"], tmp_path / "out",
                            limits=limits, allow_view_only=True)
    assert summary.embeddings == []
    assert [(n["element"], n["file"]) for n in summary.not_imported] == [
        ("obsm/X_umap", "a.h5ad"), ("obsm/X_umap", "b.h5ad")]


def test_embeddings_count_against_the_memory_limit(
    ref: Reference, tmp_path: Path
) -> None:
    adata = _adata(ref, ref.counts.astype(np.float32))
    adata.obsm["X_pca"] = np.zeros((9, 50_000))
    adata.write_h5ad(tmp_path / "x.h5ad", compression="gzip")
    tight = ImportLimits(max_memory_bytes=1_000_000, ratio_grace_bytes=10**9)
    with pytest.raises(IngestError, match="import memory limit") as err:
        import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=tight)
    assert err.value.field == "x.h5ad:obsm/X_pca"


def test_feature_name_gives_the_gene_names_and_the_index_the_ids(
    ref: Reference, tmp_path: Path, limits: ImportLimits
) -> None:
    ids = [f"ENSMUSG{i:011d}" for i in range(6)]
    var = pd.DataFrame({"feature_name": pd.Categorical(ref.genes)}, index=ids)
    adata = anndata.AnnData(X=np.log1p(ref.counts.astype(np.float32)),
                            obs=pd.DataFrame(index=ref.barcodes), var=var)
    adata.raw = anndata.AnnData(X=sp.csr_matrix(ref.counts.astype(np.float32)),
                                var=pd.DataFrame(index=ids))  # raw.var without names
    adata.write_h5ad(tmp_path / "x.h5ad")
    import_matrix([tmp_path / "x.h5ad"], tmp_path / "out", limits=limits, allow_view_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = anndata.read_h5ad(tmp_path / "out" / "matrix.h5ad")
    assert back.var_names.tolist() == ref.genes
    assert back.var["gene_ids"].tolist() == ids


def test_hex_colors() -> None:
    assert hex_color("#AbC") == "#aabbcc"
    assert hex_color(b"#11223344") == "#112233"
    assert hex_color("red") == "#ff0000"
    assert hex_color("no such colour") is None


def test_cellxgene_facets() -> None:
    obs = pd.DataFrame({
        "cell_type": pd.Categorical(["T cell", "B cell", "T cell", None]),
        "cell_type_ontology_term_id": ["CL:0000084", "CL:0000236", "CL:0000084", None],
        "tissue": ["blood"] * 4,
        "batch": ["1", "2", "1", "2"],
    })
    assert facets(obs) == {"cell_types": ["B cell", "T cell"], "tissues": ["blood"],
                           "ontology_term_ids": ["CL:0000084", "CL:0000236"]}
    assert facets(pd.DataFrame({"batch": [1]})) == {}


def test_an_anndata_06_file_keeps_its_embeddings_and_categories(
    tmp_path: Path, limits: ImportLimits
) -> None:
    scanpy_datasets = pytest.importorskip("scanpy.datasets")
    path = Path(scanpy_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = anndata.read_h5ad(path)
    summary = import_matrix([path], tmp_path / "out", limits=limits, allow_view_only=True)
    assert summary.view_only
    parts = read_viewer_parts(tmp_path / "out" / "matrix.h5ad")
    np.testing.assert_array_equal(parts.embeddings["X_umap"], adata.obsm["X_umap"])
    np.testing.assert_array_equal(parts.embeddings["X_pca"], adata.obsm["X_pca"])
    assert parts.colors["louvain"] == list(adata.uns["louvain_colors"])
    _, _, _, obs = read_canonical(tmp_path / "out" / "matrix.h5ad")
    assert obs["phase"].cat.categories.tolist() == adata.obs["phase"].cat.categories.tolist()
    assert obs["phase"].tolist() == adata.obs["phase"].tolist()
