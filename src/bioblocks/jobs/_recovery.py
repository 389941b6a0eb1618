"""Crash recovery: find running jobs whose worker died, retry them or mark them ``error``.

A running job's worker is dead when

* it ran on this host and its process no longer exists (or is a zombie) — found at once; or
* its document has not been touched for ``stale_after`` seconds although the
  runner's heartbeat writes every few seconds — found on any host.

A dead job is requeued (``attempts`` keeps counting) while ``attempts <
Settings.job_max_attempts``, otherwise marked ``error`` with the reason. The
sweeper first takes the job over (``worker`` becomes ``recovering@<sweeper>``,
a compare-and-swap, so many workers can sweep at once and each dead job is
handled once), removes the job's scratch folder (its partial staging
folders) and lets its kind's ``on_abandon`` hook remove anything else it may
have left (for analyses: a renamed folder whose document was never written),
and only then requeues it, so the clean-up never touches the next attempt's
files. A sweeper that dies in between leaves the job to the heartbeat rule.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, NotFoundError
from ..resources.job import OLD_STATUS
from ..storage import process_alive
from ..store import Doc, Store, find_docs, patch_doc, update_with_retry
from ._model import dispatch, get_kind, now, scratch_dir
from ._runner import worker_name

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 60.0
#: Prefix of ``worker`` while a sweeper cleans up after a dead job (before requeueing it).
RECOVERING = "recovering@"


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def death_reason(job: Doc, *, stale_after: float = STALE_AFTER_SECONDS) -> str | None:
    """Return why the running ``job``'s worker is considered dead, or None if it seems alive."""
    worker = str(job.get("worker") or "")
    host, _, pid_text = worker.removeprefix(RECOVERING).rpartition(":")
    if host == socket.gethostname() and pid_text.isdigit() and not process_alive(int(pid_text)):
        return f"worker {worker} died (process gone)"
    touched = _as_datetime(job.get("_updated"))
    if touched is not None:
        age = (dt.datetime.now(dt.UTC) - touched).total_seconds()
        if age > stale_after:
            return f"worker {worker or '?'} stopped reporting ({age:.0f} s without a heartbeat)"
    return None


def recover_stale_jobs(
    store: Store, settings: Settings, *, stale_after: float = STALE_AFTER_SECONDS
) -> list[Doc]:
    """Requeue or fail every running job whose worker died; return the jobs changed.

    Requeued jobs are dispatched again to Celery when a broker is configured.
    """
    changed: list[Doc] = []
    for job in find_docs(store, "job", {"state": "running"}):
        reason = death_reason(job, stale_after=stale_after)
        if reason is None:
            continue
        # First take the job over (still `running`, so no worker can claim it), then remove
        # what the dead attempt left, and only then requeue it: the clean-up can never
        # delete the staging files of the next attempt.
        try:
            taken = patch_doc(store, "job", job["_id"], {"worker": f"{RECOVERING}{worker_name()}"},
                              etag=job["_etag"])
        except (ConflictError, NotFoundError):
            continue  # it moved on (or another sweeper handled it)
        _clean_up(store, settings, job)
        seen_etag = taken["_etag"]
        outcome: dict[str, str] = {}

        def change(doc: Doc, reason: str = reason, seen_etag: str = seen_etag,
                   outcome: dict[str, str] = outcome) -> Doc | None:
            if doc.get("state") != "running" or doc["_etag"] != seen_etag:
                return None  # it moved on (cancelled meanwhile)
            attempts = int(doc.get("attempts") or 0)
            if attempts < settings.job_max_attempts:
                outcome["state"] = "queued"
                return {
                    "state": "queued",
                    "status": OLD_STATUS["queued"],
                    "message": f"retrying: {reason} during attempt {attempts}",
                    "progress": 0.0,
                    "worker": "",
                }
            outcome["state"] = "error"
            return {
                "state": "error",
                "status": OLD_STATUS["error"],
                "message": "failed",
                "error": f"{reason}; gave up after {attempts} attempts",
                "finishedAt": now(),
            }

        updated = update_with_retry(store, "job", job["_id"], change)
        if updated is None:
            continue
        log.warning("job %s: %s -> %s", job["_id"], reason, outcome.get("state"))
        changed.append(updated)
        if outcome.get("state") == "queued":
            dispatch(settings, job["_id"])
    return changed


def _clean_up(store: Store, settings: Settings, job: Doc) -> None:
    shutil.rmtree(scratch_dir(settings, job["_id"]), ignore_errors=True)
    try:
        kind = get_kind(job["kind"])
    except Exception:
        return
    if kind.on_abandon is not None:
        try:
            kind.on_abandon(store, settings, job)
        except Exception:
            log.exception("clean-up after job %s failed", job["_id"])
