"""``bioblocks annotation list|show|export`` and ``bioblocks geneset add|list``.

Annotations are written from the page or the API (``POST /annotation``); here they are
listed, shown with their versions, and exported as CSV (one line per cell). Gene sets
are added here or by ``POST /geneset``.
"""

from __future__ import annotations

import csv
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..errors import NotFoundError
from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import console, find_configured, friendly_errors, open_configured_store

if TYPE_CHECKING:
    from ..store import Doc, Store

group = typer.Typer(help="Saved annotations of analyses: list, show, export.",
                    no_args_is_help=True)
geneset_group = typer.Typer(help="Gene sets to score cells by: add, list.", no_args_is_help=True)

ANNOTATION_COLUMNS = [
    Column("_id", "id"), Column("analysis"), Column("name"), Column("version", justify="right"),
    Column("author"), Column("categories", show=lambda cs: [c["name"] for c in cs or []]),
    Column("_updated", "updated"),
]
VERSION_COLUMNS = [Column("version", justify="right"), Column("_etag", "etag"),
                   Column("_updated", "updated"), Column("author"), Column("name")]
GENESET_COLUMNS = [Column("_id", "id"), Column("name"), Column("species"), Column("author"),
                   Column("genes")]


def _annotation(store: Store, annotation_id: str, version: int | None) -> Doc:
    from ..documents import annotation_version

    doc = store.get("annotation", annotation_id)
    if doc is None:
        raise NotFoundError(f"no annotation {annotation_id!r}; see `bioblocks annotation list`")
    if version is None:
        return dict(doc)
    found = annotation_version(doc, version)
    if found is None:
        raise NotFoundError(f"annotation {annotation_id} has versions 1 to "
                            f"{doc.get('version', 1)}; see `bioblocks annotation show`")
    return found


@group.command("list")
@friendly_errors
def list_annotations(
    analysis: str | None = typer.Option(None, "--analysis", help="Only this analysis's."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List the saved annotations (newest first)."""
    docs = find_configured("annotation", {"analysis": analysis} if analysis else None,
                           sort=[("_updated", -1)])
    render_rows(docs, ANNOTATION_COLUMNS, fmt, summary=f"{len(docs)} annotation(s)",
                notes=console)


@group.command("show")
@friendly_errors
def show(
    annotation_id: str = typer.Argument(..., help="The annotation's _id."),
    version: int | None = typer.Option(None, "--version", min=1, help="An earlier version."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Show an annotation's categories (with their cell counts) and every version."""
    from ..documents import category_names, read_labels

    config, store = open_configured_store()
    try:
        current = _annotation(store, annotation_id, None)
        doc = _annotation(store, annotation_id, version)
    finally:
        store.close()
    codes = read_labels(config.resolved_data_dir, doc)
    rows = [{"category": c["name"], "color": c["color"], "cells": int((codes == i).sum())}
            for i, c in enumerate(doc.get("categories") or [])]
    rows.append({"category": "(unlabelled)", "color": "", "cells": int((codes < 0).sum())})
    render_rows(rows, [Column("category"), Column("color"), Column("cells", justify="right")],
                fmt, notes=console,
                summary=f"{doc['name']} (version {doc.get('version')}, by {doc.get('author')}) "
                        f"of analysis {doc['analysis']}: {len(category_names(doc))} categories, "
                        f"{codes.size} cells")  # fmt: skip
    versions = [*(current.get("history") or []),
                {**current, "_updated": current["_updated"].isoformat()}]
    render_rows(versions, VERSION_COLUMNS, fmt, notes=console,
                summary=f"{len(versions)} version(s)")


@group.command("export")
@friendly_errors
def export(
    annotation_id: str = typer.Argument(..., help="The annotation's _id."),
    version: int | None = typer.Option(None, "--version", min=1, help="An earlier version."),
    out: Path | None = typer.Option(None, "--out", help="CSV file to write (default: stdout)."),
) -> None:
    """Write the labels as CSV: a ``cell,label`` header, then one line per cell (its index
    in the order of the analysis's coordinates; the label is empty for unlabelled cells)."""
    from ..documents import category_names, read_labels

    config, store = open_configured_store()
    try:
        doc = _annotation(store, annotation_id, version)
    finally:
        store.close()
    codes = read_labels(config.resolved_data_dir, doc)
    names = [*category_names(doc), ""]
    stream = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(stream)
        writer.writerow(["cell", "label"])
        writer.writerows((i, names[code]) for i, code in enumerate(codes.tolist()))
    finally:
        if out:
            stream.close()
    if out:
        console.print(f"wrote {codes.size} cells of {doc['name']!r} (version "
                      f"{doc.get('version')}) to {out}", highlight=False)


@geneset_group.command("add")
@friendly_errors
def add(
    name: str = typer.Argument(..., help="The set's name."),
    genes: list[str] = typer.Argument(..., help="Gene names, as in the analyses' genes.txt."),
    species: str | None = typer.Option(None, "--species", help="e.g. human, mouse."),
    author: str | None = typer.Option(None, "--author", help="Default: your user name."),
) -> None:
    """Add a gene set; print its _id."""
    from .. import documents
    from ..resources import RESOURCES

    body: dict[str, Any] = {"name": name, "genes": genes}
    if species:
        body["species"] = species
    _, store = open_configured_store()
    try:
        doc = documents.insert(store, RESOURCES["geneset"], [body],
                               stamp={"author": author or getpass.getuser()})[0]
    finally:
        store.close()
    console.print(f"added gene set {name!r} ({len(genes)} genes): {doc['_id']}",
                  highlight=False)


@geneset_group.command("list")
@friendly_errors
def list_genesets(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List the gene sets."""
    docs = find_configured("geneset", None, sort=[("name", 1)])
    render_rows(docs, GENESET_COLUMNS, fmt, summary=f"{len(docs)} gene set(s)", notes=console)
