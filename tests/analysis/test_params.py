"""The parameter models of SPRING, t-SNE and UMAP: one set of rules, one seed rule, the
bounds that depend on the number of cells."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bioblocks.analysis import SpringParams, TsneParams, UmapParams, embeddings
from bioblocks.errors import AnalysisInputError

MODELS = [SpringParams, TsneParams, UmapParams]


def _refused(build: object, *args: object, **kwargs: object) -> AnalysisInputError:
    with pytest.raises(AnalysisInputError) as info:
        build(*args, **kwargs)  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize("model", MODELS)
def test_one_seed_rule_for_every_analysis(model: type) -> None:
    assert model().seed == 0  # the documented default
    assert model(seed=7).seed == 7 and model(seed=2**32 - 1).seed == 2**32 - 1
    assert type(model(seed=np.int64(5)).seed) is int
    assert model.from_dict({"seed": " 42 "}).seed == 42  # text of --param seed=42
    for bad in (True, -1, 2**32, 1.5, 3.0, "random", None):
        error = _refused(model, seed=bad)
        assert error.field == "seed"
        assert error.message == f"must be an integer in 0..2^32-1, got {bad!r}"


@pytest.mark.parametrize("model", MODELS)
def test_unknown_names_list_the_known_ones(model: type) -> None:
    error = _refused(model.from_dict, {"bogus": 1}, others=("springAnalysis",))
    names = sorted([*(f.name for f in dataclasses.fields(model)), "springAnalysis"])
    assert error.field == "bogus"
    assert error.message == f"unknown {model._label} parameter; known: {', '.join(names)}"
    # a name the caller handles itself is skipped, not checked
    skipped = model.from_dict({"springAnalysis": "x", "seed": 3}, others=("springAnalysis",))
    assert skipped == model(seed=3)


def test_values_are_parsed_and_checked_by_kind() -> None:
    tsne = TsneParams.from_dict({"perplexity": "12.5", "n_iter": "300", "n_jobs": "none",
                                 "affinity": " perplexity "})
    assert tsne == TsneParams(perplexity=12.5, n_iter=300, affinity="perplexity")
    assert type(TsneParams(perplexity=12).perplexity) is int  # a whole number stays one
    umap = UmapParams.from_dict({"min_dist": "0", "init": "pca"})
    assert umap == UmapParams(min_dist=0, init="pca")
    for model, values, field, message in [
        (TsneParams, {"perplexity": 0.5}, "perplexity", "must be between 1 and 1000000, got 0.5"),
        (TsneParams, {"n_iter": 2.5}, "n_iter", "must be an integer, got 2.5"),
        (TsneParams, {"n_iter": True}, "n_iter", "must be an integer, got True"),
        (TsneParams, {"perplexity": float("nan")}, "perplexity",
         "must be a finite number, got nan"),
        (TsneParams, {"affinity": "gaussian"}, "affinity",
         "must be 'perplexity' or 'uniform', got 'gaussian'"),
        (TsneParams, {"affinity": "uniform", "perplexity": 30}, "perplexity",
         "the uniform affinities have no perplexity; set k_neighbors instead, or "
         "affinity='perplexity'"),
        (UmapParams, {"init": 3}, "init", "must be 'spectral', 'pca' or 'random', got 3"),
        (UmapParams, {"min_dist": "far"}, "min_dist", "must be a number, got 'far'"),
        (UmapParams, {"n_neighbors": 1}, "n_neighbors", "must be between 2 and 1000000000, got 1"),
        (SpringParams, {"exclude_genes": [1, 2]}, "exclude_genes", "must be a list of gene names"),
    ]:
        error = _refused(model.from_dict, values)
        assert (error.field, error.message) == (field, message), values


def test_tsne_for_cells_chooses_the_affinity_and_bounds_the_neighbours() -> None:
    below = embeddings.UNIFORM_MIN_CELLS - 1
    assert TsneParams().for_cells(below) == TsneParams(affinity="perplexity", perplexity=30.0)
    assert TsneParams().for_cells(below + 1) == TsneParams(affinity="uniform")
    assert TsneParams(perplexity=50).for_cells(below + 1).affinity == "perplexity"
    assert TsneParams(perplexity=33).for_cells(100).perplexity == 33  # 3 x 33 = 99 = n - 1
    error = _refused(TsneParams(perplexity=34).for_cells, 100)
    assert error.field == "perplexity" and "use at most 33" in error.message
    error = _refused(TsneParams(affinity="uniform", k_neighbors=100).for_cells, 100)
    assert (error.field, error.message) == (
        "k_neighbors", "must be an integer in 1..99 for 100 cells, got 100")


def test_umap_and_spring_for_cells() -> None:
    assert UmapParams().for_cells(embeddings.UMAP_PCA_INIT_MIN_CELLS - 1).init == "spectral"
    assert UmapParams().for_cells(embeddings.UMAP_PCA_INIT_MIN_CELLS).init == "pca"
    assert UmapParams(init="random").for_cells(10**6).init == "random"
    assert _refused(UmapParams().for_cells, 15).field == "n_neighbors"  # 15 neighbours of 15
    assert SpringParams(n_neighbors=5).for_cells(6) == SpringParams(n_neighbors=5)
    error = _refused(SpringParams(n_neighbors=5).for_cells, 5)
    assert (error.field, error.message) == (
        "n_neighbors", "5 cell(s) to analyse, but n_neighbors=5 needs at least 6; analyse a "
        "larger dataset or lower n_neighbors")
    assert _refused(SpringParams(n_neighbors=1).for_cells, 2).field == "n_neighbors"  # >= 3
