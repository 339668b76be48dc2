"""Background jobs: ingestion submitted over the API, its progress, and cancelling it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from facetrail.api.pages import Cursor, Limit, page
from facetrail.edge.bodies.galleries import Ingestion
from facetrail.edge.deps import Context, Me
from facetrail.services.galleries import jobs
from facetrail.services.galleries.jobs import JobInfo

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post(
    "/galleries/{name}/ingestions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobInfo,
    summary="Ingest a folder on the server in the background (gallery admins)",
)
def ingest(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    body: Ingestion,
    ctx: Context,
    me: Me,
) -> JobInfo:
    request = jobs.IngestJobRequest(name, body.source, body.path, body.manifest)
    return jobs.submit_ingest(ctx, me, request)


@router.get("/jobs", summary="Background jobs, newest first (gallery admins)")
def list_jobs(ctx: Context, me: Me, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    return page(jobs.list_jobs(ctx, me), lambda j: j.id, cursor, limit)


@router.get("/jobs/{job_id}", response_model=JobInfo, summary="A job and its progress")
def show_job(job_id: JobId, ctx: Context, me: Me) -> JobInfo:
    return jobs.get_job(ctx, me, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobInfo, summary="Stop a job")
def cancel(job_id: JobId, ctx: Context, me: Me) -> JobInfo:
    return jobs.cancel_job(ctx, me, job_id)
