"""``bioblocks pipeline``: queue and run the pipeline steps."""

from __future__ import annotations

from typing import Any

import typer

from ..errors import InputError
from ..output import Column, render_rows
from ._base import Bar, console, friendly_errors, open_configured_store, parse_params

group = typer.Typer(help="The pipeline: hca-sync, fetch-matrices, spring, tsne, umap.",
                    no_args_is_help=True)


@group.command("run")
@friendly_errors
def pipeline_run(
    steps: str | None = typer.Option(None, "--steps", help="Comma-separated steps (default all): "
                                     "hca-sync,fetch-matrices,spring,tsne,umap."),
    dataset: list[str] | None = typer.Option(None, "--dataset", help="Only these datasets (repeat)."),
    limit: int | None = typer.Option(None, "--limit", help="At most N jobs per step."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be queued."),  # noqa: FBT003
    param: list[str] | None = typer.Option(None, "--param", help="PROCESS.name=value for the "
                                           "analysis jobs, e.g. SPRING.n_force_iter=200."),
    hca: list[str] | None = typer.Option(None, "--hca", help="hca-sync filter name=value: "
                                         "species, organ, format, maxCells."),
) -> None:
    """Queue what the pipeline steps need, run it, and print a summary table per step."""
    from ..pipeline.steps import run_pipeline
    from ..resources.analysis import PROCESS_TYPES

    per_process: dict[str, dict[str, Any]] = {}
    for name, value in parse_params(param).items():
        process, sep, key = name.partition(".")
        if not sep or process.upper() not in PROCESS_TYPES:
            raise InputError(f"{name!r}: write PROCESS.name=value, e.g. SPRING.n_force_iter=200",
                             field="--param")
        per_process.setdefault(process.upper(), {})[key] = value
    config, store = open_configured_store()
    try:
        with Bar("pipeline") as bar:
            reports = run_pipeline(
                store, config, steps=[s.strip() for s in steps.split(",")] if steps else None,
                datasets=dataset or None, limit=limit, dry_run=dry_run, params=per_process,
                hca_filter=parse_params(hca, option="--hca"), progress=bar,
            )
    finally:
        store.close()
    rows = [{"step": r.step, "planned": r.planned, "done": r.done, "skipped": r.skipped,
             "failed": r.failed, "seconds": round(r.seconds, 1)} for r in reports]
    columns = [Column("step"), *(Column(c, justify="right") for c in
                                 ("planned", "done", "skipped", "failed", "seconds"))]
    render_rows(rows, columns, summary="pipeline (dry run: nothing queued)" if dry_run
                else "pipeline", notes=console)
    for report in reports:
        for error in report.errors:
            console.print(f"[red]failed:[/red] {error}", highlight=False)
    if any(r.failed for r in reports):
        raise typer.Exit(1)
