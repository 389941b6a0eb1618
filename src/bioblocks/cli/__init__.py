"""The ``bioblocks`` command: the composition root of its sub-command modules.

One module per command group: :mod:`.db`, :mod:`.token`, :mod:`.serve` (``serve``,
``worker``), :mod:`.metadata` (``populate``, ``export``, ``import-mongo``),
:mod:`.dataset`, :mod:`.analyze`, :mod:`.diffexp`, :mod:`.annotation` (``annotation``,
``geneset``), :mod:`.job`, :mod:`.pipeline`, :mod:`.hca` and :mod:`.demo`; what they
share (console, settings, logging, one-line errors) is in :mod:`._base`. A failing
command prints one line: exit code 2 for bad input
(:class:`bioblocks.errors.BioblocksError`, invalid settings), 1 for anything else,
with the traceback only under ``--debug`` or ``BIOBLOCKS_DEBUG=1``.
"""

from __future__ import annotations

import typer

from . import (
    analyze,
    annotation,
    dataset,
    db,
    demo,
    diffexp,
    hca,
    job,
    metadata,
    pipeline,
    serve,
    token,
    users,
)
from ._base import root_options

__all__ = ["app", "main"]

app = typer.Typer(
    help="Bioblocks Server: single-cell datasets and their SPRING, t-SNE and UMAP analyses.",
    no_args_is_help=True,
    add_completion=False,
)
app.callback()(root_options)
app.add_typer(db.group, name="db")
app.add_typer(token.group, name="token")
app.add_typer(users.user_group, name="user")
app.add_typer(users.group_group, name="group")
app.command()(serve.serve)
app.command()(metadata.populate)
app.command()(metadata.export)
app.command("import-mongo")(metadata.import_mongo)
app.add_typer(dataset.group, name="dataset")
app.command()(analyze.analyze)
app.command()(diffexp.diffexp)
app.add_typer(annotation.group, name="annotation")
app.add_typer(annotation.geneset_group, name="geneset")
app.add_typer(job.group, name="job")
app.add_typer(pipeline.group, name="pipeline")
app.command()(serve.worker)
app.add_typer(hca.group, name="hca")
app.command()(demo.demo)


def main() -> None:
    """Entry point of the ``bioblocks`` console script."""
    app()
