"""Starting and cancelling jobs over the API (included before the generic Eve router).

* ``POST /job`` with a ``kind`` (credential needed) validates the kind, the
  dataset and the parameters, queues the job and answers at once — ``201``
  in Eve's POST format (meta fields, ``_links``, ``_status``) plus the
  queued job's fields (``kind``, ``state``, ``progress``, ...). The dataset is
  given as ``dataset`` (an id) or as the old ``associatedDataset.dataset``;
  an old-style ``status`` is ignored and ``link`` is kept.
  A body without ``kind`` (an old client storing a plain job document) or a
  bulk list is handled by the generic Eve router as before.
* ``PATCH /job/<id>`` with ``{"state": "cancelled"}`` cancels a queued or
  running job (the running work stops at its next progress report, within
  about a second). If-Match rules as Eve: 404, then 428 without the header,
  412 on a stale etag; a finished job is a 422. Other states cannot be set by
  clients (422); a PATCH without ``state`` is the generic Eve PATCH.

Everything else about ``/job`` (GET, DELETE, PUT) is the generic router's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import InputError, NotFoundError
from ..jobs import cancel_job, submit_job
from ..resources import RESOURCES, IssuesHandler, Validator, format_date
from . import eve
from ._body import parse_body
from .auth import require_write
from .errors import EveHTTPError
from .guard import checked

router = APIRouter(tags=["job"])

_JOB = RESOURCES["job"]
_INSERT_FAILURE = "Insertion failure: 1 document(s) contain(s) error(s)"


class _SubmissionIssues(IssuesHandler):
    """Eve's ``_issues``, with the job API's own text for a bad ``link``."""

    def _format_message(self, field: Any, error: Any) -> str:
        if field == "link":
            return "must be a string of 2 to 256 characters"
        return super()._format_message(field, error)


#: What a submission may hold, by the job resource's rules. ``dataset`` (an id) is also
#: taken from the old ``associatedDataset.dataset``; ``status`` is accepted for old
#: clients and ignored (the server sets it from ``state``). The kind's name (in any case),
#: the dataset's existence and the parameters are submit_job's to check.
_SUBMISSION = Validator({
    "kind": {"type": _JOB.schema["kind"]["type"]},
    "dataset": {**_JOB.schema["associatedDataset"]["schema"]["dataset"], "required": False,
                "nullable": True},
    "associatedDataset": {"nullable": True},
    "parameters": {"nullable": True},
    "status": {"nullable": True},
    "link": {**_JOB.schema["link"], "nullable": True},
}, error_handler=_SubmissionIssues)


def _job_body(doc: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in doc.items() if not k.startswith("_")}
    for name in ("createdAt", "startedAt", "finishedAt"):
        if fields.get(name) is not None:
            fields[name] = format_date(fields[name])
    return {**fields, **eve._write_body(_JOB, doc)}  # noqa: SLF001 - the one Eve write body


def _submit(request: Request, payload: dict[str, Any]) -> Response:
    associated = payload.get("associatedDataset")
    if payload.get("dataset") is None and isinstance(associated, dict):
        payload = {**payload, "dataset": associated.get("dataset")}
    body, issues = _SUBMISSION.validate(payload)  # no lookup: submit_job names a missing dataset
    if issues:
        raise EveHTTPError(422, _INSERT_FAILURE, extra={"_issues": issues})
    try:
        job = submit_job(request.app.state.store, request.app.state.settings, body["kind"],
                         dataset_id=body.get("dataset"), parameters=body.get("parameters"),
                         link=body.get("link"))
    except InputError as exc:
        raise EveHTTPError(422, _INSERT_FAILURE,
                           extra={"_issues": {exc.field or "parameters": exc.message}}) from None
    location = f"{request.base_url}job/{job['_id']}"
    return eve._json(_job_body(job), status=201, headers={"Location": location})  # noqa: SLF001


@router.post("/job", dependencies=[Depends(require_write)], response_class=Response,
             summary="Queue a job (with `kind`), or create job document(s) as Eve does")
async def post_job(request: Request) -> Response:
    """Queue a job of ``kind`` for ``dataset`` with ``parameters``; answer 201 with the job."""
    payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
    if isinstance(payload, dict) and "kind" in payload:
        associated = payload.get("associatedDataset")
        dataset = payload.get("dataset") or (
            associated.get("dataset") if isinstance(associated, dict) else None)
        await checked(request, "job", None, {"associatedDataset": {"dataset": dataset}})
        return await run_in_threadpool(_submit, request, payload)
    await checked(request, "job", None, payload)
    return await run_in_threadpool(
        eve.post, request.app.state.store, _JOB, payload, str(request.base_url)
    )


def _cancel(request: Request, job_id: str, payload: dict[str, Any]) -> Response:
    store = request.app.state.store
    current = store.get("job", job_id)
    if current is None:
        raise EveHTTPError(404)
    eve._require_etag(current, request.headers.get("if-match"))  # noqa: SLF001 - Eve's 428/412
    if payload.get("state") != "cancelled" or set(payload) != {"state"}:
        raise EveHTTPError(422, "a job's state can only be changed to 'cancelled' (alone)",
                           extra={"_issues": {"state": "only {\"state\": \"cancelled\"} can be "
                                              "sent; jobs change their state themselves"}})
    try:
        job = cancel_job(store, job_id)
    except NotFoundError:
        raise EveHTTPError(404) from None
    except InputError as exc:
        raise EveHTTPError(422, exc.message, extra={"_issues": {"state": exc.message}}) from None
    return eve._json(eve._write_body(_JOB, job), headers={"ETag": f'"{job["_etag"]}"'})  # noqa: SLF001


@router.patch("/job/{item_id}", dependencies=[Depends(require_write)], response_class=Response,
              summary="Cancel a job (`{\"state\": \"cancelled\"}`), or update job fields")
async def patch_job(request: Request, item_id: str) -> Response:
    """Cancel the job with ``{"state": "cancelled"}``; any other PATCH is Eve's."""
    eve._check_id(item_id)  # noqa: SLF001
    payload = await parse_body(request, limit=request.app.state.settings.max_body_bytes)
    await checked(request, "job", item_id, payload)
    if isinstance(payload, dict) and "state" in payload:
        return await run_in_threadpool(_cancel, request, item_id, payload)
    return await run_in_threadpool(
        eve.patch, request.app.state.store, _JOB, item_id, payload, request.headers.get("if-match")
    )
