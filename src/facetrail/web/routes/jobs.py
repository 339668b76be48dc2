"""Background jobs for gallery admins: the list, one job with its live progress (the page's
script reads the API's ``GET /api/v1/jobs/{id}``; without script, the page reloads itself),
its summary or problem when it ends, and cancelling it; the services the API's ``/jobs``
routes call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from facetrail.edge.deps import Context
from facetrail.services.galleries import jobs
from facetrail.services.galleries.jobs import JobInfo
from facetrail.web.deps import Signed
from facetrail.web.listing import Column, listing
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


_JOB_COLUMNS: tuple[Column[Any], ...] = (
    Column("job", "Job", lambda v: v.job.id),
    Column("gallery", "Gallery", lambda v: v.gallery),
    Column("source", "Source", lambda v: v.source),
    Column("by", "Asked by", lambda v: v.job.created_by),
    Column("state", "State", lambda v: v.state),
    Column("asked", "Asked", lambda v: v.job.created_at),
)


@router.get("/jobs")
def job_list(request: Request, ctx: Context, me: Signed) -> Response:
    """Every job, newest first, sorted, filtered and paged as asked (``jobs.list_jobs``:
    gallery admins and system admins; refusals audited)."""
    listed = [_view(j) for j in jobs.list_jobs(ctx, me.principal)]
    shown = listing(
        request,
        listed,
        _JOB_COLUMNS,
        text=lambda v: f"{v.job.id} {v.gallery} {v.source} {v.job.created_by} {v.state}",
        sort="job",
        descending=True,
    )
    return page("jobs.html", viewer=me, current="/jobs", jobs=shown)


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
