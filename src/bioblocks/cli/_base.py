"""What every ``bioblocks`` command shares: the console, settings, logging and errors.

Commands are thin: they parse options, build :class:`bioblocks.config.Settings`
(:func:`settings`), call the library and print a one-line error for what goes
wrong (:func:`friendly_errors`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from ..config import Settings, get_settings
from ..errors import BioblocksError, InputError, NotFoundError
from ..progress import ConsoleLogHandler, ProgressBar

if TYPE_CHECKING:
    from ..store import Doc, Store

console = Console(stderr=True, soft_wrap=True)  # messages never wrapped (or cut) at 80 columns
F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """Settings from the environment (one place, so tests can monkeypatch it)."""
    return get_settings()


def setup_logging(level: str) -> None:
    """Log to stderr with times, at ``level``, through the console of the progress bars.

    Replaces the handler an earlier call installed (so a record is printed once); a live
    progress bar stays below the log lines.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, ConsoleLogHandler)]:
        root.removeHandler(handler)
    handler = ConsoleLogHandler(console)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # anndata prints "... storing 'x' as categorical" with a handler of its own, into the bar.
    logging.getLogger("anndata").setLevel(logging.WARNING)


#: Set by ``--debug`` (or ``BIOBLOCKS_DEBUG``): unexpected errors show their traceback.
_debug = {"on": False}


def root_options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected "  # noqa: FBT003
                               "error (also BIOBLOCKS_DEBUG=1)."),
) -> None:
    """Bioblocks Server: single-cell datasets and their SPRING, t-SNE and UMAP analyses."""
    _debug["on"] = debug
    from ..jobs import install_kinds  # the CLI is a composition root: it hands the kinds in
    from ..pipeline.kinds import register_kinds

    install_kinds(register_kinds)


def debugging() -> bool:
    """Return whether ``--debug`` was given or ``BIOBLOCKS_DEBUG`` is set (1, true, yes)."""
    env = os.environ.get("BIOBLOCKS_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return _debug["on"] or env


def _error_line(message: str) -> None:
    console.print("[red]error:[/red] ", end="", markup=True, highlight=False)
    console.print(" ".join(message.split()), markup=False, highlight=False, soft_wrap=True)


def _settings_problem(exc: Exception) -> str:
    """One line for a pydantic ValidationError of the settings: each bad variable and why."""
    issues = []
    for error in exc.errors():  # type: ignore[attr-defined]
        name = "BIOBLOCKS_" + "_".join(str(part) for part in error.get("loc", ())).upper()
        issues.append(f"{name}={error.get('input')!r}: {error.get('msg')}")
    return "invalid settings: " + "; ".join(issues)


def _is_cli_exit(exc: Exception) -> bool:
    """Whether ``exc`` is typer's or click's own (``Exit``, ``Abort``, a usage error)."""
    return type(exc).__module__.split(".")[0] in ("typer", "click")


def friendly_errors(func: F) -> F:
    """Print one line instead of a traceback when the command fails.

    Bad input (:class:`BioblocksError` and subclasses, invalid ``BIOBLOCKS_*`` settings):
    ``error: <message>``, exit code 2. A file system error (a missing folder, no
    permission, a full disk): ``error: <message>``, exit code 1. Anything else is a bug:
    one line saying so, exit code 1, and the traceback only with ``--debug`` or
    ``BIOBLOCKS_DEBUG=1``.
    """
    from pydantic import ValidationError

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFoundError, BioblocksError) as exc:
            _error_line(str(exc))
            raise typer.Exit(2) from exc
        except Exception as exc:
            if debugging() or _is_cli_exit(exc):
                raise
            if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
                _error_line(_settings_problem(exc))
                raise typer.Exit(2) from exc
            if isinstance(exc, OSError):
                _error_line(str(exc))
                raise typer.Exit(1) from exc
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            _error_line(f"unexpected {type(exc).__name__}: {exc} (a bug; rerun with --debug "
                        "or BIOBLOCKS_DEBUG=1 for the traceback, and please report it)")
            raise typer.Exit(1) from exc

    return wrapper  # type: ignore[return-value]




def parse_params(pairs: list[str] | None, *, option: str = "--param") -> dict[str, Any]:
    """Parse ``name=value`` pairs; values are JSON when they parse (numbers, lists), else text.

    A value that starts like a JSON list or object but does not parse is an :class:`InputError`.
    """
    import json

    params: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"{pair!r} is not name=value", field=option)
        try:
            params[name.strip()] = json.loads(value)
        except ValueError as exc:
            if value.lstrip().startswith(("[", "{")):  # meant as JSON: say where it breaks
                raise InputError(f"{name.strip()}: {value!r} is not valid JSON ({exc}); "
                                 "quote it for the shell, e.g. 'steps=[\"spring\"]'",
                                 field=option) from exc
            params[name.strip()] = value
    return params


class Bar(ProgressBar):
    """A progress bar on the command's stderr console: one line per stage, logs above it."""

    def __init__(self, title: str) -> None:
        super().__init__(title, console)


def open_configured_store() -> tuple[Settings, Store]:
    """Return the settings and the store they name, with logging set up (close the store)."""
    from ..store import open_store

    config = settings()
    setup_logging(config.log_level)
    return config, open_store(config)


def find_configured(
    resource: str, where: dict[str, Any] | None, *, sort: list[tuple[str, int]],
    limit: int | None = None,
) -> list[Doc]:
    """Return the documents of ``resource`` matching ``where`` (sorted, at most ``limit``)
    from the configured store, opened and closed here."""
    from ..store import find_docs

    _, store = open_configured_store()
    try:
        return find_docs(store, resource, where, sort=sort, limit=limit)
    finally:
        store.close()
