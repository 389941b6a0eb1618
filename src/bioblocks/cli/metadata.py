"""``bioblocks populate``, ``export`` and ``import-mongo``: metadata in and out of the store."""

from __future__ import annotations

from typing import Any

import typer

from ..output import Column, render_rows
from ._base import console, friendly_errors, settings, setup_logging


def _counts_table(title: str, counts: dict[str, Any], columns: tuple[str, ...]) -> None:
    """Print one row per resource with the ``columns`` attributes of its counts (stdout:
    a table on a terminal, else TSV)."""
    rows = [{"resource": resource, **{c: getattr(value, c) for c in columns}}
            for resource, value in counts.items()]
    render_rows(rows, [Column("resource"), *(Column(c, justify="right") for c in columns)],
                summary=title, notes=console)


@friendly_errors
def populate(
    file: str | None = typer.Argument(
        None, help="Metadata JSON (db_init.json shape); default: the shipped example."
    ),
) -> None:
    """Load metadata (analyses, datasets, visualizations, vignettes, jobs) from a JSON file.

    Idempotent: new ids are created, changed ones replaced, identical ones left alone.
    An `icon` is a path to an image file relative to the JSON file.
    """
    from pathlib import Path

    from ..metadata import populate as run_populate

    config = settings()
    setup_logging(config.log_level)
    report = run_populate(config, Path(file) if file else None)
    _counts_table("populate", report.counts, ("created", "updated", "unchanged"))
    console.print(f"loaded {report.source}; {report.media_uploaded} icon(s) uploaded",
                  highlight=False)


@friendly_errors
def export(
    file: str = typer.Argument(
        "bioblocks-export/metadata.json",
        help="Where to write the metadata JSON; icons go to icons/ beside it.",
    ),
    analysis: str | None = typer.Option(
        None, "--analysis", help="Export this analysis's cells as AnnData instead (a SPRING "
        "analysis, or a t-SNE/UMAP one: its SPRING analysis, with every embedding of it).",
    ),
    fmt: str = typer.Option("h5ad", "--format", help="With --analysis: h5ad or zarr (a zip "
                            "of the AnnData-Zarr store)."),
    output: str | None = typer.Option(
        None, "-o", "--output", help="With --analysis: the file to write (default: named "
        "after the analysis, in the current folder).",
    ),
) -> None:
    """Write all metadata to a JSON file that `bioblocks populate` loads back; with
    --analysis, write an analysis as an .h5ad or zipped AnnData-Zarr file for scanpy,
    cellxgene and Vitessce."""
    from pathlib import Path

    if analysis is not None:
        _export_analysis(analysis, fmt, output)
        return
    if output is not None or fmt != "h5ad":
        from ..errors import InputError

        raise InputError("--format and -o go with --analysis ID (an AnnData export); the "
                         "metadata JSON is written to FILE", field="--analysis")
    from ..metadata import export_metadata

    config = settings()
    setup_logging(config.log_level)
    report = export_metadata(config, Path(file))
    for resource, count in report.counts.items():
        console.print(f"{resource}: {count} document(s)")
    console.print(f"wrote {report.path} and {report.media_written} icon file(s)")


def _export_analysis(analysis: str, fmt: str, output: str | None) -> None:
    """``bioblocks export --analysis``: write the AnnData file and say what it holds."""
    from pathlib import Path

    from ..pipeline.export import analysis_family, check_format, export_analysis
    from ._base import Bar, open_configured_store

    fmt = check_format(fmt)
    config, store = open_configured_store()
    try:
        path = Path(output) if output else Path(analysis_family(store, analysis).file_name(fmt))
        with Bar("export") as bar:
            summary = export_analysis(store, config, analysis, path, format=fmt, progress=bar)
    finally:
        store.close()
    console.print(
        f"wrote {summary.path}: {summary.cells:,} cells x {summary.genes:,} genes, obsm "
        f"{', '.join(summary.embeddings)}" + ("" if summary.counts else " (view-only: no counts)"),
        highlight=False,
    )
    for analysis_id, reason in summary.skipped.items():
        console.print(f"left out analysis {analysis_id}: {reason}", highlight=False)


@friendly_errors
def import_mongo(
    paths: list[str] = typer.Argument(
        ..., help="mongoexport --jsonArray files named after their collection, or a folder."
    ),
    keep_existing: bool = typer.Option(
        default=False,
        help="Fail instead of overwriting documents whose _id exists.",
    ),
) -> None:
    """Import a MongoDB export of the old Eve server, keeping ids, dates and etags."""
    from pathlib import Path

    from ..metadata import import_mongo as run_import

    config = settings()
    setup_logging(config.log_level)
    report = run_import(config, [Path(p) for p in paths], replace=not keep_existing)
    _counts_table("imported", report.counts, ("created", "updated"))
    console.print(f"{report.media_imported} media file(s) imported")
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings)} warning(s), logged above[/yellow]")
