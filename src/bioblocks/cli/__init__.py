"""The ``bioblocks`` command.

Each command group lives in its own section below; commands are thin: they
parse options, build :class:`bioblocks.config.Settings`, call the library and
print a one-line error for what goes wrong (:func:`friendly_errors`): exit code 2
for bad input (:class:`bioblocks.errors.BioblocksError`, invalid settings), 1 for
anything else, with the traceback only under ``--debug`` or ``BIOBLOCKS_DEBUG=1``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from .config import Settings, get_settings
from .errors import BioblocksError, InputError, NotFoundError
from .output import FORMAT_HELP, Column, OutputFormat, render_rows
from .progress import ConsoleLogHandler, ProgressBar

app = typer.Typer(
    help="Bioblocks Server: single-cell datasets and their SPRING, t-SNE and UMAP analyses.",
    no_args_is_help=True,
    add_completion=False,
)
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


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected "  # noqa: FBT003
                               "error (also BIOBLOCKS_DEBUG=1)."),
) -> None:
    """Bioblocks Server: single-cell datasets and their SPRING, t-SNE and UMAP analyses."""
    _debug["on"] = debug


def main() -> None:
    """Entry point of the ``bioblocks`` console script."""
    app()


# ---- section: db, token, populate, export, serve (foundation) -------------------------------

db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="API tokens for writes (POST/PATCH/PUT/DELETE).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@db_app.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Apply pending schema migrations and upgrade the files tree (both also done when the
    server starts): SPRING subplot folders are renamed after their dataset (spec §10) and
    their name recorded in the analysis's parameters. Safe to rerun and to interrupt."""
    from .store import make_engine, upgrade

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
    for line in _upgrade_files(config):
        console.print(line, highlight=False)


def _upgrade_files(config: Settings) -> list[str]:
    """Run :func:`bioblocks.pipeline.upgrade.upgrade_files`; return what it changed."""
    from .pipeline.upgrade import upgrade_files
    from .store import open_store

    store = open_store(config, migrate=False)
    try:
        return upgrade_files(store, config)
    finally:
        store.close()


@token_app.command("create")
@friendly_errors
def token_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
) -> None:
    """Create a token and print it once (only its SHA-256 hash is stored)."""
    from .store import open_store

    store = open_store(settings())
    try:
        token = store.create_token(name)
    finally:
        store.close()
    console.print(f"token for {name!r} (shown once; store it safely):", highlight=False)
    sys.stdout.write(token + "\n")


@token_app.command("list")
@friendly_errors
def token_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List tokens: name, state (active or revoked), creation and revocation times."""
    from .store import open_store

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


@token_app.command("revoke")
@friendly_errors
def token_revoke(name: str = typer.Argument(..., help="Name of the token(s) to revoke.")) -> None:
    """Revoke every active token with this name."""
    from .store import open_store

    store = open_store(settings())
    try:
        count = store.revoke_token(name)
    finally:
        store.close()
    console.print(f"revoked {count} token(s) named {name!r}")


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Server processes (all share one store)."),
) -> None:
    """Run the HTTP API with uvicorn (migrations are applied first).

    Also starts the local job workers (BIOBLOCKS_JOB_WORKERS processes, unless
    BIOBLOCKS_BROKER_URL hands jobs to Celery) and, when BIOBLOCKS_PIPELINE_SCHEDULE
    is set, the pipeline scheduler. SIGTERM (what systemd sends) and SIGINT (Ctrl-C)
    both shut down gracefully: the API stops, then the job workers (exit status 0).
    """
    import signal

    import uvicorn

    from .pipeline.scheduler import background_services
    from .store import make_engine, upgrade

    def stop_on_signal(signum: int, frame: object) -> None:  # noqa: ARG001
        # uvicorn shuts down on SIGTERM/SIGINT, then raises it again; by default SIGTERM
        # would kill this process before `background_services` stops the job workers
        # (orphaning them). Both end the same way: workers stopped, exit status 0.
        raise SystemExit(0)

    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, stop_on_signal)
    config = settings()
    setup_logging(config.log_level)
    if workers < 1:
        raise InputError("--workers must be at least 1", field="workers")
    if config.database_url is None:
        config.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.resolved_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    _upgrade_files(config)
    with background_services(config) as services:
        if services["workers"] is not None:
            console.print(f"{config.job_workers} local job worker(s) started", highlight=False)
        uvicorn.run(
            "bioblocks.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=config.log_level.lower(),
            # Longer than clients' and proxies' idle timeouts, so the server never closes a
            # kept-alive connection just as a client reuses it (seen as ReadErrors under load).
            timeout_keep_alive=75,
        )


# populate/export


def _counts_table(title: str, counts: dict[str, Any], columns: tuple[str, ...]) -> None:
    """Print one row per resource with the ``columns`` attributes of its counts (stdout:
    a table on a terminal, else TSV)."""
    rows = [{"resource": resource, **{c: getattr(value, c) for c in columns}}
            for resource, value in counts.items()]
    render_rows(rows, [Column("resource"), *(Column(c, justify="right") for c in columns)],
                summary=title, notes=console)


@app.command()
@friendly_errors
def populate(
    file: str | None = typer.Argument(
        None, help="Metadata JSON (db_init.json shape); default: the shipped example."
    ),
) -> None:
    """Load metadata (analyses, datasets, visualizations, vignettes, jobs) from a JSON file.

    Idempotent: new ids are created, changed ones replaced, identical ones left alone.
    An `icon` is a path to an image file relative to the JSON file.
    """
    from pathlib import Path

    from .metadata import populate as run_populate

    config = settings()
    setup_logging(config.log_level)
    report = run_populate(config, Path(file) if file else None)
    _counts_table("populate", report.counts, ("created", "updated", "unchanged"))
    console.print(f"loaded {report.source}; {report.media_uploaded} icon(s) uploaded",
                  highlight=False)


@app.command()
@friendly_errors
def export(
    file: str = typer.Argument(
        "bioblocks-export/metadata.json",
        help="Where to write the metadata JSON; icons go to icons/ beside it.",
    ),
) -> None:
    """Write all metadata to a JSON file that `bioblocks populate` loads back."""
    from pathlib import Path

    from .metadata import export_metadata

    config = settings()
    setup_logging(config.log_level)
    report = export_metadata(config, Path(file))
    for resource, count in report.counts.items():
        console.print(f"{resource}: {count} document(s)")
    console.print(f"wrote {report.path} and {report.media_written} icon file(s)")


@app.command("import-mongo")
@friendly_errors
def import_mongo(
    paths: list[str] = typer.Argument(
        ..., help="mongoexport --jsonArray files named after their collection, or a folder."
    ),
    keep_existing: bool = typer.Option(
        default=False,
        help="Fail instead of overwriting documents whose _id exists.",
    ),
) -> None:
    """Import a MongoDB export of the old Eve server, keeping ids, dates and etags."""
    from pathlib import Path

    from .metadata import import_mongo as run_import

    config = settings()
    setup_logging(config.log_level)
    report = run_import(config, [Path(p) for p in paths], replace=not keep_existing)
    _counts_table("imported", report.counts, ("created", "updated"))
    console.print(f"{report.media_imported} media file(s) imported")
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings)} warning(s), logged above[/yellow]")


# ---- section: dataset (ingest) --------------------------------------------------------------

dataset_app = typer.Typer(help="Datasets: import count matrices, fetch remote ones, list them.",
                          no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


def _parse_params(pairs: list[str] | None, *, option: str = "--param") -> dict[str, Any]:
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


class _Bar(ProgressBar):
    """A progress bar on the command's stderr console: one line per stage, logs above it."""

    def __init__(self, title: str) -> None:
        super().__init__(title, console)


def _open_store() -> tuple[Settings, Any]:
    from .store import open_store

    config = settings()
    setup_logging(config.log_level)
    return config, open_store(config)


@dataset_app.command("import")
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

    from .pipeline.operations import import_dataset

    config, store = _open_store()
    try:
        with _Bar("import") as bar:
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
    sys.stdout.write(doc["_id"] + "\n")


@dataset_app.command("fetch")
@friendly_errors
def dataset_fetch(dataset_id: str = typer.Argument(..., help="Dataset whose matrixLocation is "
                                                   "an http(s) URL.")) -> None:
    """Download a dataset's matrix from its http(s) matrixLocation and import it."""
    from .pipeline.operations import fetch_dataset_matrix

    config, store = _open_store()
    try:
        with _Bar("fetch") as bar:
            doc = fetch_dataset_matrix(store, config, dataset_id, progress=bar)
    finally:
        store.close()
    info = doc.get("matrixInfo") or {}
    console.print(f"dataset {doc['_id']}: {info.get('cells')} cells × {info.get('genes')} genes",
                  highlight=False)


@dataset_app.command("list")
@friendly_errors
def dataset_list(
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List datasets: id, name, species, cells, genes, source format, analyses."""
    from .jobs import find_docs

    _config, store = _open_store()
    try:
        docs = find_docs(store, "dataset", {}, sort=[("_created", 1)])
    finally:
        store.close()
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


# ---- section: analyze (analyses) ------------------------------------------------------------


@app.command()
@friendly_errors
def analyze(
    dataset_id: str = typer.Argument(..., help="The dataset to analyse."),
    process: str = typer.Option(..., "--process", help="SPRING, TSNE or UMAP (any case)."),
    subsample: int | None = typer.Option(None, "--subsample", help="SPRING: analyse this many "
                                         "cells, drawn uniformly (default: all)."),
    param: list[str] | None = typer.Option(None, "--param", help="name=value, e.g. "
                                           "n_force_iter=200, seed=7 (default 0; seed=random "
                                           "draws one), springAnalysis=<id>; "
                                           "TSNE: perplexity=30, affinity=uniform, "
                                           "k_neighbors=15, n_iter=750; UMAP: "
                                           "n_neighbors=15, min_dist=0.5."),
) -> None:
    """Run an analysis now, with a stage-by-stage progress bar; prints the analysis id.

    t-SNE's affinities are perplexity-calibrated (perplexity 30) below 100,000 cells and
    uniform over the 15 nearest neighbours from there on, unless given. The parameters are
    checked before the matrix is read; the seed (0 unless given) is recorded.
    """
    from .pipeline.operations import canonical_process, check_analysis_params, run_analysis

    params = _parse_params(param)
    process = canonical_process(process, field="--process")
    process, params = check_analysis_params(process, params, subsample=subsample)  # no load yet
    config, store = _open_store()
    try:
        with _Bar(process) as bar:
            doc = run_analysis(store, config, dataset_id, process=process,
                               subsample=subsample, params=params, progress=bar)
    finally:
        store.close()
    console.print(f"{doc['processType']} analysis {doc['_id']} ({doc['name']}), seed "
                  f"{doc.get('seed')}: datasets/{dataset_id}/analyses/{doc['_id']}/",
                  highlight=False)
    sys.stdout.write(doc["_id"] + "\n")


# ---- section: job, worker, pipeline (jobs) --------------------------------------------------

job_app = typer.Typer(help="Background jobs: submit, list, show, cancel.", no_args_is_help=True)
app.add_typer(job_app, name="job")
pipeline_app = typer.Typer(help="The pipeline: hca-sync, fetch-matrices, spring, tsne, umap.",
                           no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")


#: Seconds a followed job may stay queued with no worker polling before --wait says so.
NO_WORKER_GRACE = 3.0


def _follow(store: Any, job_id: str, *, config: Settings | None = None) -> dict[str, Any]:
    """Show a live progress bar until the job finishes; return the final job.

    With ``config``, a job still queued after ``NO_WORKER_GRACE`` seconds while no
    worker is polling the store (no fresh presence file, see
    :func:`bioblocks.jobs.polling_workers`) ends the wait: the message says how to
    run one, the job stays queued, and the exit status is 3.
    """
    import time

    from .jobs import get_doc, polling_workers, require_doc

    job = require_doc(store, "job", job_id)
    started = time.monotonic()
    with _Bar(f"{job.get('kind')} job") as bar:
        while job.get("state") in ("queued", "running"):
            bar(float(job.get("progress") or 0.0), str(job.get("message") or job.get("state")))
            if (config is not None and job.get("state") == "queued"
                    and time.monotonic() - started >= NO_WORKER_GRACE
                    and not polling_workers(config)):
                break
            time.sleep(0.5)
            job = get_doc(store, "job", job_id) or {"state": "error", "error": "the job vanished"}
    if job.get("state") == "queued" and config is not None:
        console.print(
            f"[red]error:[/red] job {job_id} stays queued: no worker is polling "
            f"{config.resolved_database_url.split('@')[-1]}. Run one with `bioblocks serve` "
            "or `bioblocks worker` (then `bioblocks job show "
            f"{job_id} --follow`), or submit with --here to run it in this process.",
            markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(3)
    return job


def _print_outcome(job: dict[str, Any]) -> None:
    state = job.get("state")
    colour = {"complete": "green", "error": "red", "cancelled": "yellow"}.get(str(state), "white")
    console.print(f"job {job.get('_id')}: [{colour}]{state}[/{colour}]"
                  + (f" — {job['error']}" if job.get("error") else ""), highlight=False)
    if job.get("results"):
        console.print(f"results: {job['results']}", highlight=False)
    if state in ("error", "cancelled"):
        raise typer.Exit(1)


@job_app.command("submit")
@friendly_errors
def job_submit(
    kind: str = typer.Argument(..., help="import, fetch-matrix, SPRING, TSNE, UMAP, hca-sync or "
                               "pipeline (any case)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset id (analyses, fetch-matrix)."),
    param: list[str] | None = typer.Option(None, "--param", help="name=value parameters of the job."),
    wait: bool = typer.Option(False, "--wait", help="Follow the job with a live progress bar "  # noqa: FBT003
                              "(says so within seconds when no worker is polling; exit 3)."),
    here: bool = typer.Option(False, "--here", help="Run the job in this process (no worker needed)."),  # noqa: FBT003
) -> None:
    """Queue a job; prints its id (and follows it with --wait, or runs it with --here)."""
    import threading

    from .jobs import execute, submit_job

    config, store = _open_store()
    try:
        job = submit_job(store, config, kind, dataset_id=dataset, parameters=_parse_params(param))
        sys.stdout.write(job["_id"] + "\n")
        sys.stdout.flush()
        if here:
            runner = threading.Thread(target=execute, args=(store, config, job["_id"]), daemon=True)
            runner.start()
            final = _follow(store, job["_id"])
            runner.join()
            _print_outcome(final)
        elif wait:
            _print_outcome(_follow(store, job["_id"], config=config))
    finally:
        store.close()


@job_app.command("list")
@friendly_errors
def job_list(
    state: str | None = typer.Option(None, "--state", help="queued, running, complete, error or cancelled."),
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind (any case)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Only jobs of this dataset."),
    limit: int = typer.Option(50, "--limit", help="Newest N jobs."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List jobs, newest first: id, kind, dataset, state, progress, message, attempts, created."""
    from .jobs import find_docs

    where: dict[str, Any] = {}
    if state:
        where["state"] = state
    if kind:
        from .jobs import canonical_kind

        where["kind"] = canonical_kind(kind)  # any case, as `job submit`
    if dataset:
        where["associatedDataset.dataset"] = dataset
    _config, store = _open_store()
    try:
        docs = find_docs(store, "job", where, sort=[("_created", -1)], limit=limit)
    finally:
        store.close()
    rows = [{"id": doc["_id"], "kind": doc.get("kind"),
             "dataset": (doc.get("associatedDataset") or {}).get("dataset"),
             "state": doc.get("state") or doc.get("status"),
             "progress": float(doc.get("progress") or 0),
             "message": doc.get("error") or doc.get("message"),
             "attempts": doc.get("attempts"), "created": doc.get("_created")} for doc in docs]
    columns = [Column("id"), Column("kind"), Column("dataset"), Column("state"),
               Column("progress", justify="right", show=lambda value: f"{100 * value:.0f}%"),
               Column("message"), Column("attempts", justify="right"), Column("created")]
    render_rows(rows, columns, fmt, summary=f"{len(docs)} job(s)", notes=console)


@job_app.command("show")
@friendly_errors
def job_show(
    job_id: str = typer.Argument(..., help="The job id."),
    follow: bool = typer.Option(False, "--follow", help="Follow it with a live progress bar."),  # noqa: FBT003
) -> None:
    """Print a job as JSON (or follow its progress with --follow)."""
    import json

    from .jobs import require_doc

    _config, store = _open_store()
    try:
        if follow:
            _print_outcome(_follow(store, job_id, config=_config))
            return
        job = require_doc(store, "job", job_id)
    finally:
        store.close()
    typer.echo(json.dumps(job, indent=2, default=str))


@job_app.command("cancel")
@friendly_errors
def job_cancel(job_id: str = typer.Argument(..., help="The job id.")) -> None:
    """Cancel a queued or running job (a running one stops within about a second)."""
    from .jobs import cancel_job

    _config, store = _open_store()
    try:
        job = cancel_job(store, job_id)
    finally:
        store.close()
    console.print(f"job {job_id}: {job['state']}", highlight=False)


@app.command()
@friendly_errors
def worker(
    concurrency: int | None = typer.Option(None, "--concurrency", help="Jobs run at once "
                                           "(default: BIOBLOCKS_JOB_WORKERS)."),
    beat: bool = typer.Option(False, "--beat", help="Celery: also run the pipeline schedule "  # noqa: FBT003
                              "(BIOBLOCKS_PIPELINE_SCHEDULE) with Celery beat."),
) -> None:
    """Run job workers in the foreground: Celery with BIOBLOCKS_BROKER_URL, else local processes."""
    config = settings()
    setup_logging(config.log_level)
    if config.broker_url:
        from .jobs import run_celery_worker

        run_celery_worker(config, concurrency=concurrency, beat=beat, loglevel=config.log_level)
        return
    if beat:
        raise InputError("--beat needs BIOBLOCKS_BROKER_URL (Celery); without a broker "
                         "`bioblocks serve` keeps the schedule", field="beat")
    from .jobs import LocalWorkers

    pool = LocalWorkers(config, processes=concurrency).start()
    console.print(f"{pool.processes} local job worker(s) polling "
                  f"{config.resolved_database_url.split('@')[-1]}; Ctrl-C stops", highlight=False)
    pool.wait()


@pipeline_app.command("run")
@friendly_errors
def pipeline_run(
    steps: str | None = typer.Option(None, "--steps", help="Comma-separated steps (default all): "
                                     "hca-sync,fetch-matrices,spring,tsne,umap."),
    dataset: list[str] | None = typer.Option(None, "--dataset", help="Only these datasets (repeat)."),
    limit: int | None = typer.Option(None, "--limit", help="At most N jobs per step."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be queued."),  # noqa: FBT003
    param: list[str] | None = typer.Option(None, "--param", help="PROCESS.name=value for the "
                                           "analysis jobs, e.g. SPRING.n_force_iter=200."),
    hca: list[str] | None = typer.Option(None, "--hca", help="hca-sync filter name=value: "
                                         "species, organ, format, maxCells."),
) -> None:
    """Queue what the pipeline steps need, run it, and print a summary table per step."""
    from .pipeline.steps import run_pipeline

    per_process: dict[str, dict[str, Any]] = {}
    for name, value in _parse_params(param).items():
        process, sep, key = name.partition(".")
        if not sep or process.upper() not in ("SPRING", "TSNE", "UMAP"):
            raise InputError(f"{name!r}: write PROCESS.name=value, e.g. SPRING.n_force_iter=200",
                             field="--param")
        per_process.setdefault(process.upper(), {})[key] = value
    config, store = _open_store()
    try:
        with _Bar("pipeline") as bar:
            reports = run_pipeline(
                store, config, steps=[s.strip() for s in steps.split(",")] if steps else None,
                datasets=dataset or None, limit=limit, dry_run=dry_run, params=per_process,
                hca_filter=_parse_params(hca, option="--hca"), progress=bar,
            )
    finally:
        store.close()
    rows = [{"step": r.step, "planned": r.planned, "done": r.done, "skipped": r.skipped,
             "failed": r.failed, "seconds": round(r.seconds, 1)} for r in reports]
    columns = [Column("step"), *(Column(c, justify="right") for c in
                                 ("planned", "done", "skipped", "failed", "seconds"))]
    render_rows(rows, columns, summary="pipeline (dry run: nothing queued)" if dry_run
                else "pipeline", notes=console)
    for report in reports:
        for error in report.errors:
            console.print(f"[red]failed:[/red] {error}", highlight=False)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


# ---- section: hca (HCA import) --------------------------------------------------------------

hca_app = typer.Typer(help="Human Cell Atlas projects (Azul API): list and import.", no_args_is_help=True)
app.add_typer(hca_app, name="hca")


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


@hca_app.command("projects")
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
    from .sources.hca import IMPORTABLE_FORMATS, AzulClient, matching_matrices, projects

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


@hca_app.command("import")
@friendly_errors
def hca_import(
    project: str = typer.Argument(..., help="Project UUID or short name."),
    file: str | None = typer.Option(None, "--file", help="Matrix file name or uuid (default: the preferred one)."),
    catalog: str | None = typer.Option(None, help="Azul catalog (default: BIOBLOCKS_HCA_CATALOG or the service's default)."),
    download_only: bool = typer.Option(False, "--download-only", help="Download and verify the matrix, print the dataset fields as JSON, import nothing."),  # noqa: FBT003
) -> None:
    """Import an HCA project's matrix as a dataset (a re-import of the same file version is a no-op)."""
    import json

    from .sources.hca import AzulClient, prepare_import
    from .storage import tmp_dir

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


# ---- section: demo (the README's first command) ---------------------------------------------

#: The fixed id of the synthetic example dataset that ``bioblocks demo`` builds.
EXAMPLE_DATASET_ID = "e5a3b1c0-7d2f-4a6b-9c8e-1f0a2b3c4d5e"
EXAMPLE_DATASET_NAME = "Synthetic haematopoiesis (simulated example)"


@app.command()
@friendly_errors
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    cells: int = typer.Option(3000, help="Cells in the simulated example dataset."),
    no_serve: bool = typer.Option(False, "--no-serve",  # noqa: FBT003
                                  help="Set everything up, then exit instead of serving."),
) -> None:
    """Set up the embedded defaults end to end, then serve.

    Creates the store (SQLite under BIOBLOCKS_DATA_DIR, default ./files), loads the
    example metadata, imports the synthetic example dataset (a simulated haematopoiesis
    with the blood marker genes of its lineages, e.g. Cd34, Gata1, Pf4, Mpo, Csf1r, Dntt;
    not real data), runs the pipeline on it (SPRING at each subsample size, t-SNE, UMAP) and
    starts the server with its local job workers. Safe to run again: done steps are skipped.
    """
    import tempfile
    from pathlib import Path

    from .ingest import make_example_dataset
    from .pipeline.operations import import_dataset

    populate(file=None)
    config, store = _open_store()
    try:
        dataset = store.get("dataset", EXAMPLE_DATASET_ID)
        if dataset is None or not dataset.get("matrixLocation"):
            with tempfile.TemporaryDirectory(dir=config.resolved_data_dir) as scratch:
                source = make_example_dataset(Path(scratch) / "example", n_cells=cells, seed=0)
                with _Bar("importing the example dataset") as bar:
                    import_dataset(
                        store, config, [source / "lib1", source / "lib2"],
                        name=EXAMPLE_DATASET_NAME, species="mus_musculus",
                        dataset_id=EXAMPLE_DATASET_ID, labels=["lib1", "lib2"], progress=bar,
                    )
    finally:
        store.close()
    pipeline_run(steps="spring,tsne,umap", dataset=[EXAMPLE_DATASET_ID], limit=None,
                 dry_run=False, param=None, hca=None)
    if no_serve:
        return
    console.print(f"serving on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    serve(host=host, port=port, workers=1)
