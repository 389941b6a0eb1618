"""``bioblocks token``: API tokens (server-wide writers, or a user's scoped tokens)."""

from __future__ import annotations

import sys

import typer

from ..errors import InputError
from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import console, friendly_errors, settings

group = typer.Typer(help="API tokens: a user's scoped tokens, or server-wide writers.",
                    no_args_is_help=True)


@group.command("create")
@friendly_errors
def token_create(
    name: str | None = typer.Option(None, "--name", help="Who or what uses the token "
                                    "(defaults to the user's name)."),
    user: str | None = typer.Option(None, "--user", help="The user the token acts for; "
                                    "without it the token is a server-wide writer."),
    scope: str = typer.Option("read", "--scope", help="read, write or admin (with --user)."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 30d, 12h, "
                                       "2w (with --user; never expires without)."),
) -> None:
    """Create a token and print it once (only its SHA-256 hash is stored)."""
    from ..store import create_user_token, open_store, parse_duration

    if user is None and name is None:
        raise InputError("give --user NAME (a user's token) or --name NAME (a server-wide "
                         "writer)", field="user")
    lifetime = parse_duration(expires) if expires is not None else None
    store = open_store(settings())
    try:
        if user is None:
            assert name is not None
            token = store.create_token(name)
            what = f"server-wide writer token {name!r}"
        else:
            token = create_user_token(store, user, scope=scope, expires=lifetime, name=name)
            what = f"{scope} token of user {user!r}" + (f", expires in {expires}" if expires
                                                        else "")
    finally:
        store.close()
    console.print(f"{what} (shown once; store it safely):", highlight=False)
    sys.stdout.write(token + "\n")


@group.command("list")
@friendly_errors
def token_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List tokens: name, state (active, expired, revoked), creation and revocation times;
    once users exist, also each token's user, scope, expiry and id (for ``revoke '#ID'``)."""
    from ..store import list_token_records, open_store

    store = open_store(settings())
    try:
        records = list_token_records(store)
    finally:
        store.close()
    names = ["name", "state", "created", "revoked"]  # what scripts read before users existed
    if any(r.user is not None for r in records):
        names += ["user", "scope", "expires", "id"]
    rows = [{"id": r.id, "name": r.name, "user": r.user or "(server-wide)", "scope": r.scope,
             "state": r.state(), "created": r.created, "expires": r.expires,
             "revoked": r.revoked} for r in records]
    columns = [Column(c) for c in names]
    render_rows(rows, columns, fmt, summary=f"{len(rows)} token(s)", notes=console)
    if not records:
        console.print("no tokens; create one with `bioblocks token create --user NAME`")


@group.command("revoke")
@friendly_errors
def token_revoke(
    name: str = typer.Argument(..., help="Name of the token(s) to revoke, or #ID for one."),
) -> None:
    """Revoke every active token with this name (or the one token ``#ID``)."""
    from ..store import open_store, revoke_token_by_id

    store = open_store(settings())
    try:
        if name.startswith("#") and name[1:].isdigit():
            revoke_token_by_id(store, int(name[1:]))
            count = 1
        else:
            count = store.revoke_token(name)
    finally:
        store.close()
    console.print(f"revoked {count} token(s) {name!r}")
