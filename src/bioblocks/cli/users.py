"""``bioblocks user`` and ``bioblocks group``: who may read and write which datasets."""

from __future__ import annotations

import typer

from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import console, friendly_errors, settings

user_group = typer.Typer(help="Users (they hold scoped tokens).", no_args_is_help=True)
group_group = typer.Typer(help="Groups (they own private datasets).", no_args_is_help=True)


@user_group.command("create")
@friendly_errors
def user_create(
    name: str = typer.Argument(..., help="The user's name."),
    admin: bool = typer.Option(False, "--admin", help="An admin of every group."),  # noqa: FBT003
) -> None:
    """Create a user; give it tokens with `bioblocks token create --user NAME`."""
    from ..store import create_user, open_store

    store = open_store(settings())
    try:
        create_user(store, name, admin=admin)
    finally:
        store.close()
    console.print(f"user {name!r} created" + (" (admin of every group)" if admin else ""))


@user_group.command("list")
@friendly_errors
def user_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List users: name, server admin, role in each group."""
    from ..store import list_users, open_store

    store = open_store(settings())
    try:
        infos = list_users(store)
    finally:
        store.close()
    rows = [{"name": u.name, "admin": u.admin,
             "groups": ", ".join(f"{g}:{r}" for g, r in sorted(u.roles.items()))}
            for u in infos]
    render_rows(rows, [Column("name"), Column("admin"), Column("groups")], fmt,
                summary=f"{len(rows)} user(s)", notes=console)


@group_group.command("create")
@friendly_errors
def group_create(name: str = typer.Argument(..., help="The group's name.")) -> None:
    """Create a group; add members with `bioblocks group add GROUP USER --role ROLE`."""
    from ..store import create_group, open_store

    store = open_store(settings())
    try:
        create_group(store, name)
    finally:
        store.close()
    console.print(f"group {name!r} created")


@group_group.command("add")
@friendly_errors
def group_add(
    group: str = typer.Argument(..., help="The group."),
    user: str = typer.Argument(..., help="The user."),
    role: str = typer.Option("reader", "--role", help="reader, writer or admin."),
) -> None:
    """Give USER the role in GROUP (replacing the role it had there)."""
    from ..store import add_member, open_store

    store = open_store(settings())
    try:
        add_member(store, group, user, role=role)
    finally:
        store.close()
    console.print(f"{user!r} is a {role} of {group!r}")


@group_group.command("list")
@friendly_errors
def group_list() -> None:
    """List the groups."""
    from ..store import group_names, open_store

    store = open_store(settings())
    try:
        names = group_names(store)
    finally:
        store.close()
    for name in names:
        console.print(name, highlight=False)
    if not names:
        console.print("no groups; create one with `bioblocks group create NAME`")
