"""``bioblocks dataset``: import count matrices, fetch remote ones, list datasets."""

from __future__ import annotations

import sys

import typer

from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import Bar, console, find_configured, friendly_errors, open_configured_store

group = typer.Typer(help="Datasets: import count matrices, fetch remote ones, list them.",
                    no_args_is_help=True)


@group.command("import")
@friendly_errors
def dataset_import(
    paths: list[str] = typer.Argument(..., help="Matrix file(s) or 10x folder(s); several are "
                                      "combined, each cell labelled with its library."),
    name: str | None = typer.Option(None, "--name", help="Dataset name (required for a new dataset)."),
    species: str | None = typer.Option(None, "--species", help="Species, e.g. mus_musculus."),
    dataset_id: str | None = typer.Option(None, "--id", help="Dataset id: replace the matrix of "
                                          "this dataset, or create it with this id."),
    label: list[str] | None = typer.Option(None, "--label", help="Library label per input file "
                                           "(default: the file name up to its first dot)."),
) -> None:
    """Import count matrices into a dataset (new, or an existing one with --id)."""
    from pathlib import Path

    from ..pipeline.operations import import_dataset

    config, store = open_configured_store()
    try:
        with Bar("import") as bar:
            doc = import_dataset(store, config, [Path(p) for p in paths], name=name,
                                 species=species, dataset_id=dataset_id, labels=label or None,
                                 progress=bar)
    finally:
        store.close()
    info = doc.get("matrixInfo") or {}
    console.print(f"dataset {doc['_id']} ({doc.get('name')}): {info.get('cells')} cells × "
                  f"{info.get('genes')} genes, {info.get('nonzeros')} nonzeros, from "
                  f"{info.get('sourceFormat')}", highlight=False)
    for note in info.get("renamed") or []:
        console.print(f"renamed: {note['column']} → {note['as']} ({note['reason']})",
                      highlight=False, soft_wrap=True)
    for note in info.get("dropped") or []:
        console.print(f"dropped: {note['file']}: column {note['column']} ({note['reason']})",
                      highlight=False, soft_wrap=True)
    if doc.get("viewOnly"):
        console.print("view-only: the file holds no counts; its values colour the cells, "
                      "SPRING/t-SNE/UMAP need counts", highlight=False, soft_wrap=True)
    if info.get("embeddings"):
        console.print(f"imported analyses of {', '.join(info['embeddings'])}", highlight=False)
    for note in info.get("notImported") or []:
        console.print(f"not imported: {note['file']}: {note['element']} ({note['reason']})",
                      highlight=False, soft_wrap=True)
    sys.stdout.write(doc["_id"] + "\n")


@group.command("fetch")
@friendly_errors
def dataset_fetch(dataset_id: str = typer.Argument(..., help="Dataset whose matrixLocation is "
                                                   "an http(s) URL.")) -> None:
    """Download a dataset's matrix from its http(s) matrixLocation and import it."""
    from ..pipeline.operations import fetch_dataset_matrix

    config, store = open_configured_store()
    try:
        with Bar("fetch") as bar:
            doc = fetch_dataset_matrix(store, config, dataset_id, progress=bar)
    finally:
        store.close()
    info = doc.get("matrixInfo") or {}
    console.print(f"dataset {doc['_id']}: {info.get('cells')} cells × {info.get('genes')} genes",
                  highlight=False)


@group.command("list")
@friendly_errors
def dataset_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List datasets: id, name, species, cells, genes, source format, analyses."""
    docs = find_configured("dataset", {}, sort=[("_created", 1)])
    rows = []
    for doc in docs:
        info = doc.get("matrixInfo") or {}
        remote = str(doc.get("matrixLocation", "")).startswith("http")
        rows.append({"id": doc["_id"], "name": doc.get("name"), "species": doc.get("species"),
                     "cells": info.get("cells"), "genes": info.get("genes"),
                     "format": info.get("sourceFormat") or ("remote" if remote else None),
                     "analyses": len(doc.get("analyses") or [])})
    columns = [Column("id"), Column("name"), Column("species"), Column("cells", justify="right"),
               Column("genes", justify="right"), Column("format"),
               Column("analyses", justify="right")]
    render_rows(rows, columns, fmt, summary=f"{len(docs)} dataset(s)", notes=console)
