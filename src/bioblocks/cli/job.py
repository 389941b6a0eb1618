"""``bioblocks job``: submit, list, show and cancel background jobs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from ..config import Settings
from ..output import FORMAT_HELP, Column, OutputFormat, render_rows
from ._base import (
    Bar,
    console,
    find_configured,
    friendly_errors,
    open_configured_store,
    parse_params,
)

if TYPE_CHECKING:
    from ..store import Store

group = typer.Typer(help="Background jobs: submit, list, show, cancel.", no_args_is_help=True)

#: Seconds a followed job may stay queued with no worker polling before --wait says so.
NO_WORKER_GRACE = 3.0


def _follow(store: Store, job_id: str, *, config: Settings | None = None) -> dict[str, Any]:
    """Show a live progress bar until the job finishes; return the final job.

    With ``config``, a job still queued after ``NO_WORKER_GRACE`` seconds while no
    worker is polling the store (no fresh presence file, see
    :func:`bioblocks.jobs.polling_workers`) ends the wait: the message says how to
    run one, the job stays queued, and the exit status is 3.
    """
    import time

    from ..jobs import polling_workers
    from ..resources.job import ACTIVE_STATES
    from ..store import get_doc, require_doc

    job = require_doc(store, "job", job_id)
    started = time.monotonic()
    with Bar(f"{job.get('kind')} job") as bar:
        while job.get("state") in ACTIVE_STATES:
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


@group.command("submit")
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

    from ..jobs import execute, submit_job

    config, store = open_configured_store()
    try:
        job = submit_job(store, config, kind, dataset_id=dataset, parameters=parse_params(param))
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


@group.command("list")
@friendly_errors
def job_list(
    state: str | None = typer.Option(None, "--state", help="queued, running, complete, error or cancelled."),
    kind: str | None = typer.Option(None, "--kind", help="Only jobs of this kind (any case)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Only jobs of this dataset."),
    limit: int = typer.Option(50, "--limit", help="Newest N jobs."),
    fmt: OutputFormat | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """List jobs, newest first: id, kind, dataset, state, progress, message, attempts, created."""
    where: dict[str, Any] = {}
    if state:
        where["state"] = state
    if kind:
        from ..jobs import canonical_kind

        where["kind"] = canonical_kind(kind)  # any case, as `job submit`
    if dataset:
        where["associatedDataset.dataset"] = dataset
    docs = find_configured("job", where, sort=[("_created", -1)], limit=limit)
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


@group.command("show")
@friendly_errors
def job_show(
    job_id: str = typer.Argument(..., help="The job id."),
    follow: bool = typer.Option(False, "--follow", help="Follow it with a live progress bar."),  # noqa: FBT003
) -> None:
    """Print a job as JSON (or follow its progress with --follow)."""
    import json

    from ..store import require_doc

    _config, store = open_configured_store()
    try:
        if follow:
            _print_outcome(_follow(store, job_id, config=_config))
            return
        job = require_doc(store, "job", job_id)
    finally:
        store.close()
    typer.echo(json.dumps(job, indent=2, default=str))


@group.command("cancel")
@friendly_errors
def job_cancel(job_id: str = typer.Argument(..., help="The job id.")) -> None:
    """Cancel a queued or running job (a running one stops within about a second)."""
    from ..jobs import cancel_job

    _config, store = open_configured_store()
    try:
        job = cancel_job(store, job_id)
    finally:
        store.close()
    console.print(f"job {job_id}: {job['state']}", highlight=False)
