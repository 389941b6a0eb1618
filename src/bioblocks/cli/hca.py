"""``bioblocks hca``: list Human Cell Atlas projects and import their matrices."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import typer

from ..config import Settings
from ..errors import BioblocksError, InputError
from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ..progress import ProgressBar
from ._base import console, friendly_errors, settings, setup_logging

group = typer.Typer(help="Human Cell Atlas projects (Azul API): list and import.",
                    no_args_is_help=True)


def _human_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _hca_settings(catalog: str | None) -> Settings:
    """Settings with ``--catalog`` applied; logging set up, httpx's per-request lines hidden."""
    current = settings()
    setup_logging(current.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return current.model_copy(update={"hca_catalog": catalog}) if catalog else current


@group.command("projects")
@friendly_errors
def hca_projects(
    catalog: str | None = typer.Option(None, help="Azul catalog (default: BIOBLOCKS_HCA_CATALOG or the service's default)."),
    species: str | None = typer.Option(None, help="Species, e.g. homo_sapiens or 'Homo sapiens'."),
    organ: str | None = typer.Option(None, help="HCA organ, e.g. kidney."),
    matrix_format: str | None = typer.Option(None, "--matrix-format", help="Matrix format: loom, h5ad, mtx (.mtx.zip) or csv (.csv.zip)."),
    output: str | None = typer.Option(None, "--format", help=FORMAT_HELP + " For compatibility, "
                                      "a matrix format here is taken as --matrix-format."),
) -> None:
    """List HCA projects that have a matrix the importer reads, with their matrix files."""
    from ..sources.hca import IMPORTABLE_FORMATS, AzulClient, matching_matrices, projects

    fmt = matrix_format
    if output is not None and output.lower() in IMPORTABLE_FORMATS and matrix_format is None:
        fmt, output = output.lower(), None
    elif output is not None and output.lower() not in tuple(OutputFormat):
        raise InputError(f"--format {output!r}: use table, tsv or json (or --matrix-format "
                         f"{', '.join(IMPORTABLE_FORMATS)})", field="--format")
    current = _hca_settings(catalog)
    rows = []
    with AzulClient.from_settings(current) as client:
        summary = f"HCA projects ({client.base_url}, catalog {client.catalog})"
        for project in projects(client, species=species, organ=organ, fmt=fmt):
            files = [
                {"name": m.name, "format": m.format, "size": m.size, "cells": m.cell_count,
                 "origin": m.origin}
                for m in matching_matrices(project, species=species, organ=organ, fmt=fmt)
            ]
            rows.append({"shortName": project.short_name, "title": project.title,
                         "species": list(project.species), "organs": list(project.organs),
                         "estimatedCells": project.estimated_cells, "matrixFiles": files})
    columns = [
        Column("shortName", "short name"), Column("title"),
        Column("species", show=", ".join), Column("organs", show=", ".join),
        Column("estimatedCells", "est. cells", justify="right"),
        Column("matrixFiles", "matrix files", show=_describe_matrices),
    ]
    render_rows(rows, columns, output.lower() if output else None,
                summary=f"{summary}: {len(rows)} project(s)", notes=console)


def _describe_matrices(files: list[dict[str, Any]]) -> list[str]:
    """Return one ``name (format, size, cells, origin)`` per matrix file."""
    return [
        f"{m['name']} ({m['format']}, {_human_size(m['size'])}, "
        f"{m['cells'] if m['cells'] is not None else '?'} cells, {m['origin']})" for m in files
    ]


def _hca_importer() -> Callable[..., Any] | None:
    """``bioblocks.pipeline.operations.import_hca_project`` when this installation has it."""
    import importlib

    try:
        operations = importlib.import_module("bioblocks.pipeline.operations")
    except ModuleNotFoundError:
        return None
    return getattr(operations, "import_hca_project", None)


def _print_hca_result(project: str, result: Any) -> None:
    """One line for the outcome of ``import_hca_project`` (``{"dataset", "skipped", "warnings"}``)."""
    if not isinstance(result, dict):
        console.print(f"imported {project}: {result}", highlight=False)
        return
    for warning in result.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    dataset = result.get("dataset") or {}
    ident = dataset.get("_id", "?") if isinstance(dataset, dict) else dataset
    if result.get("skipped"):
        console.print(f"{project}: already imported at this file version (dataset {ident})", highlight=False)
    else:
        console.print(f"{project}: imported as dataset {ident}", highlight=False)
    typer.echo(ident)


@group.command("import")
@friendly_errors
def hca_import(
    project: str = typer.Argument(..., help="Project UUID or short name."),
    file: str | None = typer.Option(None, "--file", help="Matrix file name or uuid (default: the preferred one)."),
    catalog: str | None = typer.Option(None, help="Azul catalog (default: BIOBLOCKS_HCA_CATALOG or the service's default)."),
    download_only: bool = typer.Option(False, "--download-only", help="Download and verify the matrix, print the dataset fields as JSON, import nothing."),  # noqa: FBT003
) -> None:
    """Import an HCA project's matrix as a dataset (a re-import of the same file version is a no-op)."""
    import json

    from ..sources.hca import AzulClient, prepare_import
    from ..storage import tmp_dir

    current = _hca_settings(catalog)
    importer = None if download_only else _hca_importer()
    if importer is None and not download_only:
        raise BioblocksError(
            "this installation cannot create datasets from HCA yet "
            "(bioblocks.pipeline.operations.import_hca_project is missing); "
            "use --download-only to download and verify the matrix"
        )
    with ProgressBar("HCA import", console, eta=True) as progress:
        if importer is not None:
            result = importer(current, project, file_name=file, progress=progress)
        else:
            with AzulClient.from_settings(current) as client:
                prepared = prepare_import(
                    client,
                    project,
                    file_name=file,
                    dest_dir=tmp_dir(current.resolved_data_dir) / "hca",
                    progress=progress,
                    max_bytes=current.hca_max_download_bytes,
                )
    if importer is not None:
        _print_hca_result(project, result)
        return
    for warning in prepared.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    typer.echo(json.dumps({"path": str(prepared.path), "dataset": prepared.dataset_fields()}, indent=2))
