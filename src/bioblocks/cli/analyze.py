"""``bioblocks analyze``: run a SPRING, t-SNE or UMAP analysis in this process."""

from __future__ import annotations

import sys

import typer

from ._base import Bar, console, friendly_errors, open_configured_store, parse_params


@friendly_errors
def analyze(
    dataset_id: str = typer.Argument(..., help="The dataset to analyse."),
    process: str = typer.Option(..., "--process", help="SPRING, TSNE or UMAP (any case)."),
    subsample: int | None = typer.Option(None, "--subsample", help="SPRING: analyse this many "
                                         "cells, drawn uniformly (default: all)."),
    param: list[str] | None = typer.Option(None, "--param", help="name=value, e.g. "
                                           "n_force_iter=200, seed=7 (default 0; seed=random "
                                           "draws one), springAnalysis=<id>; "
                                           "TSNE: perplexity=30, affinity=uniform, "
                                           "k_neighbors=15, n_iter=750; UMAP: "
                                           "n_neighbors=15, min_dist=0.5."),
) -> None:
    """Run an analysis now, with a stage-by-stage progress bar; prints the analysis id.

    t-SNE's affinities are perplexity-calibrated (perplexity 30) below 100,000 cells and
    uniform over the 15 nearest neighbours from there on, unless given. The parameters are
    checked before the matrix is read; the seed (0 unless given) is recorded.
    """
    from ..pipeline.operations import canonical_process, run_analysis, validate_params

    params = parse_params(param)
    if subsample is not None:
        params["subsample"] = subsample
    process = canonical_process(process, field="--process")
    process, params = validate_params(process, params)  # before the store is even opened
    config, store = open_configured_store()
    try:
        with Bar(process) as bar:
            doc = run_analysis(store, config, dataset_id, process=process, params=params,
                               progress=bar)
    finally:
        store.close()
    console.print(f"{doc['processType']} analysis {doc['_id']} ({doc['name']}), seed "
                  f"{doc.get('seed')}: datasets/{dataset_id}/analyses/{doc['_id']}/",
                  highlight=False)
    sys.stdout.write(doc["_id"] + "\n")
