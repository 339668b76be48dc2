"""Background jobs for gallery admins: the list, one job with its live progress (the page's
script reads the API's ``GET /api/v1/jobs/{id}``; without script, the page reloads itself),
its summary or problem when it ends, and cancelling it; the services the API's ``/jobs``
routes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.api.deps import Context
from facetrail.services.galleries import jobs
from facetrail.services.galleries.jobs import JobInfo
from facetrail.web.deps import Signed
from facetrail.web.render import page
from facetrail.web.routes.galleries import gallery_href
from facetrail.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]

#: A job in one of these states changes no more.
FINISHED = frozenset({"done", "failed", "cancelled"})
_STATES = {
    "queued": "Queued",
    "running": "Running",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
#: An ingestion's summary (services.galleries.ingest.IngestSummary), in words
_SUMMARY = (
    ("files", "Files found"),
    ("images_ingested", "Photos ingested"),
    ("faces", "Faces stored"),
    ("images_without_face", "Photos without a usable face"),
    ("duplicates_skipped", "Duplicates skipped"),
    ("already_ingested", "Already in the gallery"),
    ("side_files_skipped", "Other files skipped"),
    ("failures", "Files that failed"),
)


@dataclass(frozen=True)
class JobView:
    job: JobInfo
    state: str
    finished: bool
    gallery: str
    source: str
    gallery_href: str
    #: (label, value) of the summary of a finished ingestion
    summary: list[tuple[str, str]]


def _view(job: JobInfo) -> JobView:
    result: dict[str, Any] = job.result or {}
    summary = [(label, str(result[key])) for key, label in _SUMMARY if key in result]
    if job.status == "done" and "seconds" in result:
        summary.append(("Took", f"{float(result['seconds']):.1f} s"))
    gallery = str(job.params.get("gallery", ""))
    return JobView(
        job,
        _STATES.get(job.status, job.status),
        job.status in FINISHED,
        gallery,
        str(job.params.get("source", "")),
        gallery_href(gallery),
        summary,
    )


@router.get("/jobs")
def job_list(ctx: Context, me: Signed) -> Response:
    """Every job, newest first (``jobs.list_jobs``: gallery admins and system admins;
    refusals audited)."""
    listed = [_view(j) for j in jobs.list_jobs(ctx, me.principal)]
    return page("jobs.html", viewer=me, current="/jobs", jobs=listed)


@router.get("/jobs/{job_id}")
def show(job_id: JobId, request: Request, ctx: Context, me: Signed) -> Response:
    """One job and its progress (``jobs.get_job``: gallery admins and system admins;
    refusals audited)."""
    view = _view(jobs.get_job(ctx, me.principal, job_id))
    cancelled = bool(request.query_params.get("cancelled"))
    return page("job.html", viewer=me, current="/jobs", view=view, cancelled=cancelled)


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: JobId, ctx: Context, me: Signed) -> Response:
    """Stops the job: a queued one at once, a running one after the batch in hand
    (``jobs.cancel_job``: audited, refusals too)."""
    jobs.cancel_job(ctx, me.principal, job_id)
    return RedirectResponse(f"/jobs/{job_id}?cancelled=1", status_code=303)


__all__ = ["FINISHED", "router"]
