"""One typed settings object, read from ``BIOBLOCKS_*`` environment variables.

Nothing happens at import time: call :func:`get_settings` (or build
:class:`Settings` yourself in tests) and pass the object down.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the server. Each field is read from ``BIOBLOCKS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="BIOBLOCKS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("files"),
        description="Root of the files tree (datasets, analyses, media, the SQLite database).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default: SQLite file "
        "`<data_dir>/bioblocks.sqlite3`. Use `postgresql+psycopg://...` for PostgreSQL.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (e.g. `redis://127.0.0.1:6379/0`). Unset: jobs run in "
        "worker processes started by `bioblocks serve`.",
    )
    job_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        description="Local executor: number of job worker processes started by `bioblocks serve`.",
    )
    job_max_attempts: int = Field(default=3, description="Attempts before a job is marked error.")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed by CORS, as JSON: `[\"*\"]` (the default, as the old "
        "server's X_DOMAINS) answers any origin — credentials are bearer tokens, never "
        "cookies; `[\"https://portal.org\"]` limits it; `[]` turns CORS off.",
    )
    public_reads: bool = Field(
        default=True, description="If false, GET requests need a token as well."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="Largest JSON/form request body accepted by the metadata API and the SPRING "
        "viewer's scripts (413 above).",
    )
    max_upload_bytes: int = Field(
        default=64 * 1024**3, description="Largest matrix upload accepted (413 above)."
    )
    max_uncompressed_bytes: int = Field(
        default=256 * 1024**3,
        description="Archive/gzip limit: total uncompressed bytes of one import.",
    )
    max_import_memory_bytes: int = Field(
        default=32 * 1024**3,
        description="Memory one import may allocate for the arrays it reads (checked from the "
        "input's declared sizes before reading; 413 above).",
    )
    diffexp_max_interactive_cells: int = Field(
        default=1_000_000,
        description="Largest analysis (cells) whose differential expression runs within the "
        "request (POST /analysis/{id}/diffexp); above it the request is refused with 413.",
    )
    max_compression_ratio: float = Field(
        default=250.0,
        description="Archive/gzip limit: uncompressed/compressed ratio above which an input "
        "is rejected as a bomb.",
    )
    keep_original_upload: bool = Field(
        default=False, description="Keep the uploaded original matrix beside the canonical one."
    )
    hca_url: str = Field(
        default="https://service.azul.data.humancellatlas.org",
        description="Base URL of the HCA Azul service.",
    )
    hca_catalog: str | None = Field(
        default=None, description="Azul catalog; default: the service's default_catalog."
    )
    hca_requests_per_second: float = Field(
        default=2.0,
        description="Most requests per second sent to the Azul service (token bucket; 0: no limit).",
    )
    hca_timeout_s: float = Field(
        default=60.0, description="Seconds to connect to / wait for each read from Azul and storage."
    )
    hca_max_download_bytes: int = Field(
        default=64 * 1024**3,
        description="Largest HCA matrix file `hca import` downloads (checked before and while "
        "downloading).",
    )
    hca_sync: dict[str, str | int] = Field(
        default_factory=dict,
        description="Filter of the pipeline's hca-sync step, as JSON: `species`, `organ`, "
        "`format`, `maxCells` (e.g. `{\"species\": \"homo_sapiens\", \"maxCells\": 200000}`). "
        "Empty: the step imports nothing.",
    )
    pipeline_schedule: str | None = Field(
        default=None,
        description="Cron expression: `bioblocks serve` (or Celery beat) runs the pipeline on it.",
    )
    spring_viewer_dir: Path | None = Field(
        default=None, description="Folder of the SPRING viewer's static files, served at /spring/."
    )
    log_level: str = Field(default="INFO", description="Python logging level.")

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to the SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'bioblocks.sqlite3'}"


def get_settings(**overrides: object) -> Settings:
    """Return settings from the environment, with ``overrides`` taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
