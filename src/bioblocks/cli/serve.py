"""``bioblocks serve`` (the HTTP API and its background services) and ``bioblocks worker``."""

from __future__ import annotations

import typer

from ..errors import InputError
from ._base import console, friendly_errors, settings, setup_logging
from .db import apply_file_upgrades


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

    from ..pipeline.scheduler import background_services
    from ..store import make_engine, upgrade

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
    apply_file_upgrades(config)
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
        from ..jobs import run_celery_worker
        from ..pipeline.scheduler import celery_app

        run_celery_worker(celery_app(config), config, concurrency=concurrency, beat=beat,
                          loglevel=config.log_level)
        return
    if beat:
        raise InputError("--beat needs BIOBLOCKS_BROKER_URL (Celery); without a broker "
                         "`bioblocks serve` keeps the schedule", field="beat")
    from ..jobs import LocalWorkers

    pool = LocalWorkers(config, processes=concurrency).start()
    console.print(f"{pool.processes} local job worker(s) polling "
                  f"{config.resolved_database_url.split('@')[-1]}; Ctrl-C stops", highlight=False)
    pool.wait()
