"""The ``bioblocks`` command.

Each command group lives in its own section below; commands are thin: they
parse options, build :class:`bioblocks.config.Settings`, call the library and
print a one-line error (exit code 2) for :class:`bioblocks.errors.InputError`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from .config import Settings, get_settings
from .errors import BioblocksError, InputError, NotFoundError

app = typer.Typer(
    help="Bioblocks Server: single-cell datasets and their SPRING, t-SNE and UMAP analyses.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """Settings from the environment (one place, so tests can monkeypatch it)."""
    return get_settings()


def setup_logging(level: str) -> None:
    """Log to stderr with times, at ``level``."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def friendly_errors(func: F) -> F:
    """Turn the package's deliberate errors into a one-line message and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFoundError, BioblocksError) as exc:
            console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def main() -> None:
    """Entry point of the ``bioblocks`` console script."""
    app()


# ---- section: db, token, populate, export, serve (foundation) -------------------------------

# ---- section: dataset (ingest) --------------------------------------------------------------

# ---- section: analyze (analyses) ------------------------------------------------------------

# ---- section: job, worker, pipeline (jobs) --------------------------------------------------

# ---- section: hca (HCA import) --------------------------------------------------------------

# ---- section: demo (the README's first command) ---------------------------------------------
