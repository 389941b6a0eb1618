"""``bioblocks db``: the metadata database (schema migrations and the files tree)."""

from __future__ import annotations

import typer

from ..config import Settings
from ._base import console, friendly_errors, settings, setup_logging

group = typer.Typer(help="The metadata database.", no_args_is_help=True)


@group.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply pending schema migrations and upgrade the files tree (both also done when the
    server starts): SPRING subplot folders are renamed after their dataset (spec §10) and
    their name recorded in the analysis's parameters. Safe to rerun and to interrupt."""
    from ..store import make_engine, upgrade

    config = settings()
    setup_logging(config.log_level)
    if config.database_url is None:
        config.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    try:
        applied = upgrade(engine)
    finally:
        engine.dispose()
    console.print("migrations applied" if applied else "database already up to date")
    for line in apply_file_upgrades(config):
        console.print(line, highlight=False)


def apply_file_upgrades(config: Settings) -> list[str]:
    """Run :func:`bioblocks.pipeline.upgrade.upgrade_files`; return what it changed."""
    from ..pipeline.upgrade import upgrade_files
    from ..store import open_store

    store = open_store(config, migrate=False)
    try:
        return upgrade_files(store, config)
    finally:
        store.close()
