"""``bioblocks diffexp``: differential expression of one label of a track, in this process."""

from __future__ import annotations

import typer

from ..errors import InputError
from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import friendly_errors, open_configured_store


def _number(value: object) -> str:
    return "" if value is None else f"{value:.4g}"


COLUMNS = [
    Column("gene"),
    Column("score", justify="right", show=_number),
    Column("logfoldchange", "log2 FC", justify="right", show=_number),
    Column("pvalue", "p", justify="right", show=_number),
    Column("padj", "p adj (BH)", justify="right", show=_number),
    Column("frac_a", "frac A", justify="right", show=_number),
    Column("frac_b", "frac B", justify="right", show=_number),
    Column("mean_a", "mean A", justify="right", show=_number),
    Column("mean_b", "mean B", justify="right", show=_number),
]


@friendly_errors
def diffexp(
    analysis_id: str = typer.Argument(..., help="The analysis (SPRING, or a t-SNE/UMAP of one)."),
    track: str = typer.Option(..., "--track", help="A categorical track, e.g. 'Leiden cluster'."),
    label: str = typer.Option(..., "--label", help="The label of the track forming group A."),
    vs: str = typer.Option("rest", "--vs", help="Group B: another label of the track, or rest."),
    method: str = typer.Option("wilcoxon", "--method", help="wilcoxon or t-test."),
    top: int = typer.Option(50, "--top", min=1, help="Genes listed, by score."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Test every gene of an analysis for a difference between two labels of a track (or one
    label and the rest); print the top genes by score.

    Wilcoxon rank-sum (as scipy's asymptotic Mann-Whitney U, tie- and continuity-corrected)
    or Welch's t-test on log1p; p adj is Benjamini-Hochberg over all genes; log2 FC is of
    the mean normalised expression with a 1e-9 pseudocount. Runs here, whatever the size.
    """
    from ..analysis.diffexp import METHODS
    from ..analysis.diffexp import diffexp as run
    from ..analysis.explore import open_explore_matrix
    from ..pipeline.folders import analysis_folders

    if method not in METHODS:
        raise InputError(f"use one of {', '.join(METHODS)} (not {method!r})", field="--method")
    config, store = open_configured_store()
    try:
        folder, subplot = analysis_folders(store, config.resolved_data_dir, analysis_id)
    finally:
        store.close()
    data = open_explore_matrix(folder, subplot)
    if track not in data.tracks:
        raise InputError(f"unknown track {track!r}; the analysis has: "
                         + ", ".join(sorted(data.tracks) or ["none"]), field="--track")  # fmt: skip
    labels = data.tracks[track]
    known = sorted(set(labels.tolist()))
    for option, value in (("--label", label), ("--vs", vs)):
        if value not in known and not (option == "--vs" and value == "rest"):
            raise InputError(f"track {track!r} has no label {value!r}; its labels: "
                             + ", ".join(known[:50]), field=option)  # fmt: skip
    if vs == label:
        raise InputError("give a label other than --label, or rest", field="--vs")
    group_b = None if vs == "rest" else labels == vs
    result = run(data.ranked, labels == label, group_b, method=method)  # type: ignore[arg-type]
    render_rows(
        result.records(data.genes, top=top), COLUMNS, fmt,
        summary=f"{method}: {track} {label} ({result.n_a} cells) vs {vs} ({result.n_b} cells), "
        f"top {min(top, len(data.genes))} of {len(data.genes)} genes",
    )  # fmt: skip
