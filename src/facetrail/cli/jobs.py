"""Background jobs: ``jobs list|show|cancel`` (``services.galleries.jobs``: gallery admins and
system admins; every refusal and cancellation audited)."""

from __future__ import annotations

from facetrail.cli.app import JsonOpt, as_signed_in, jobs_app
from facetrail.cli.render import console, print_fields, print_json, print_listing
from facetrail.services.galleries import jobs
from facetrail.services.galleries.jobs import JobInfo


def _progress(job: JobInfo) -> str:
    return f"{job.done_items}/{job.total_items if job.total_items is not None else '?'}"


@jobs_app.command("list")
def jobs_list(as_json: JsonOpt = False) -> None:
    """Every job, newest first, with its progress."""
    found = as_signed_in(jobs.list_jobs)
    print_listing(
        found,
        [
            ("job", "id"),
            "kind",
            "status",
            ("progress", _progress),
            ("by", "created_by"),
            ("created", "created_at"),
            ("finished", "finished_at"),
        ],
        as_json=as_json,
        empty="no jobs",
    )


@jobs_app.command("show")
def jobs_show(job_id: int, as_json: JsonOpt = False) -> None:
    """One job: what it was asked to do, its progress and its result."""
    job = as_signed_in(lambda ctx, me: jobs.get_job(ctx, me, job_id))
    if as_json:
        print_json(job)
        return
    print_fields(
        [
            ("job", job.id),
            ("kind", job.kind),
            ("status", job.status),
            ("params", job.params),
            ("progress", _progress(job)),
            ("by", job.created_by),
            ("cancel_requested", job.cancel_requested),
            ("created", job.created_at),
            ("started", job.started_at),
            ("finished", job.finished_at),
            ("result", job.result),
        ]
    )


@jobs_app.command("cancel")
def jobs_cancel(job_id: int, as_json: JsonOpt = False) -> None:
    """Stop a job: a queued one at once, a running one after the batch in hand (what it
    committed stays). Audited."""
    job = as_signed_in(lambda ctx, me: jobs.cancel_job(ctx, me, job_id))
    if as_json:
        print_json(job)
        return
    console.print(f"job {job.id}: {job.status} (cancel requested)")
