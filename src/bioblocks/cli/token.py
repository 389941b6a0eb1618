"""``bioblocks token``: API tokens for writes."""

from __future__ import annotations

import sys

import typer

from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import console, friendly_errors, settings

group = typer.Typer(help="API tokens for writes (POST/PATCH/PUT/DELETE).", no_args_is_help=True)


@group.command("create")
@friendly_errors
def token_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
) -> None:
    """Create a token and print it once (only its SHA-256 hash is stored)."""
    from ..store import open_store

    store = open_store(settings())
    try:
        token = store.create_token(name)
    finally:
        store.close()
    console.print(f"token for {name!r} (shown once; store it safely):", highlight=False)
    sys.stdout.write(token + "\n")


@group.command("list")
@friendly_errors
def token_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List tokens: name, state (active or revoked), creation and revocation times."""
    from ..store import open_store

    store = open_store(settings())
    try:
        infos = store.list_tokens()
    finally:
        store.close()
    rows = [{"name": info.name, "state": "revoked" if info.revoked else "active",
             "created": info.created, "revoked": info.revoked} for info in infos]
    render_rows(rows, [Column("name"), Column("state"), Column("created"), Column("revoked")],
                fmt, summary=f"{len(rows)} token(s)", notes=console)
    if not infos:
        console.print("no tokens; create one with `bioblocks token create --name NAME`")


@group.command("revoke")
@friendly_errors
def token_revoke(name: str = typer.Argument(..., help="Name of the token(s) to revoke.")) -> None:
    """Revoke every active token with this name."""
    from ..store import open_store

    store = open_store(settings())
    try:
        count = store.revoke_token(name)
    finally:
        store.close()
    console.print(f"revoked {count} token(s) named {name!r}")
