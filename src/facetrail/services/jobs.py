"""Background jobs: an ingestion asked for over the API runs inside the service, with its
progress visible and a way to stop it, and it survives a restart of the service.

Job state lives in facetrail's own database, written in the same locked transactions and
audit log as everything else, on SQLite and PostgreSQL alike; the service's scheduler
(``api.background``) calls ``run_pending`` on a timer in every worker. A job is claimed in a
locked transaction, so two workers never run the same one; a running job whose worker stopped
(no heartbeat for ``STALE_AFTER``) is claimed again and resumes: ingestion skips what the
store already holds.

Authorisation: gallery admins and system admins submit, see and cancel jobs. Audit:
``job.submit``, ``job.cancel`` (and their refusals), ``job.start``, ``job.resume`` and
``job.done`` / ``job.failed`` / ``job.cancelled``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may, needed_roles
from facetrail.governance.credentials import Principal
from facetrail.services.accounts import principal_of, refuse
from facetrail.services.authorization import as_utc, current_actor, utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries import get_gallery_row, get_source_row
from facetrail.services.ingest import IngestRequest, ingest
from facetrail.services.unit_of_work import action
from facetrail.services.views import plain
from facetrail.store.schema import JobRow, User

__all__ = [
    "STALE_AFTER",
    "IngestJobRequest",
    "JobInfo",
    "cancel_job",
    "get_job",
    "list_jobs",
    "run_pending",
    "submit_ingest",
]

#: A running job with no heartbeat for this long is taken to have lost its worker.
STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class IngestJobRequest:
    gallery: str
    source: str
    #: a folder on the server, absolute
    path: str
    manifest: str | None = None


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    #: queued | running | done | failed | cancelled
    status: str
    params: dict[str, Any]
    created_by: str
    done_items: int
    total_items: int | None
    cancel_requested: bool
    result: dict[str, Any] | None
    created_at: str
    started_at: str | None
    finished_at: str | None


class _Cancelled(Exception):
    """Raised from the progress callback to stop an ingestion someone cancelled."""


def _info(session: Session, row: JobRow) -> JobInfo:
    creator = session.get(User, row.created_by)

    def when(value: Any) -> str | None:
        return as_utc(value).isoformat() if value is not None else None  # type: ignore[union-attr]

    return JobInfo(
        row.id,
        row.kind,
        row.status,
        json.loads(row.params),
        creator.username if creator else "?",
        row.done_items,
        row.total_items,
        row.cancel_requested,
        json.loads(row.result) if row.result else None,
        when(row.created_at) or "",
        when(row.started_at),
        when(row.finished_at),
    )


def _need_admin(session: Session, actor: Principal, subject: str) -> None:
    if not may(current_actor(session, actor), Permission.MANAGE_JOBS):
        raise PermissionDeniedError(needed_roles(Permission.MANAGE_JOBS), subject=subject)


def submit_ingest(ctx: AppContext, actor: Principal, request: IngestJobRequest) -> JobInfo:
    """Queue an ingestion of a folder on the server into a gallery's source. The folder must
    exist now; the ingestion itself applies every rule ``services.ingest`` applies."""
    subject = f"{request.gallery}/{request.source}"
    with action(ctx, actor.username, "job.submit", subject, {"path": request.path}) as session:
        _need_admin(session, actor, subject)
        gallery = get_gallery_row(session, request.gallery)
        get_source_row(session, gallery, request.source)
        folder = Path(request.path)
        if not folder.is_absolute() or not folder.is_dir():
            raise InvalidRequestError("not an absolute path of a folder", subject=request.path)
        row = JobRow(
            kind="ingest",
            status="queued",
            params=json.dumps(plain(request), sort_keys=True),
            created_by=actor.user_id,
            agency_id=actor.agency_id,
            done_items=0,
            cancel_requested=False,
        )
        session.add(row)
        session.flush()
        append(session, AuditEvent(actor.username, "job.submit", f"job:{row.id}", plain(request)))
        return _info(session, row)


def list_jobs(ctx: AppContext, actor: Principal) -> list[JobInfo]:
    """Every job, newest first, for gallery admins and system admins (refusals audited)."""
    if not may(actor, Permission.MANAGE_JOBS):
        refuse(
            ctx,
            actor.username,
            "job.list",
            "jobs",
            PermissionDeniedError(needed_roles(Permission.MANAGE_JOBS), subject="jobs"),
        )
    with ctx.sessions() as session:
        rows = session.scalars(select(JobRow).order_by(JobRow.id.desc())).all()
        return [_info(session, r) for r in rows]


def get_job(ctx: AppContext, actor: Principal, job_id: int) -> JobInfo:
    """One job with its progress (gallery admins and system admins; refusals audited)."""
    subject = f"job:{job_id}"
    with ctx.sessions() as session:
        row = session.get(JobRow, job_id)
        if row is not None and may(actor, Permission.MANAGE_JOBS):
            return _info(session, row)
    problem: FacetrailError = (
        PermissionDeniedError(needed_roles(Permission.MANAGE_JOBS), subject=subject)
        if not may(actor, Permission.MANAGE_JOBS)
        else NotFoundError("no such job", subject=subject)
    )
    refuse(ctx, actor.username, "job.view", subject, problem)


def cancel_job(ctx: AppContext, actor: Principal, job_id: int) -> JobInfo:
    """Stop a job: a queued one at once, a running one after the batch in hand (what it
    committed stays, with its audit entries)."""
    subject = f"job:{job_id}"
    with action(ctx, actor.username, "job.cancel", subject) as session:
        _need_admin(session, actor, subject)
        row = session.get(JobRow, job_id)
        if row is None:
            raise NotFoundError("no such job", subject=subject)
        if row.status not in ("queued", "running"):
            raise StateError(f"the job is {row.status}", subject=subject)
        row.cancel_requested = True
        if row.status == "queued":
            row.status, row.finished_at = "cancelled", utc_now()
        append(session, AuditEvent(actor.username, "job.cancel", subject, {"was": row.status}))
        return _info(session, row)


def _claim(ctx: AppContext, worker: str) -> int | None:
    stale = utc_now() - STALE_AFTER
    with ctx.transaction() as session:
        row = session.scalars(
            select(JobRow)
            .where(
                or_(
                    JobRow.status == "queued",
                    (JobRow.status == "running") & (JobRow.heartbeat_at < stale),
                )
            )
            .order_by(JobRow.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        kind = "job.resume" if row.status == "running" else "job.start"
        row.status, row.worker, row.heartbeat_at = "running", worker, utc_now()
        row.started_at = row.started_at or row.heartbeat_at
        append(session, AuditEvent("system", kind, f"job:{row.id}", {"worker": worker}))
        return row.id


def _beat(ctx: AppContext, job_id: int, done: int | None, total: int) -> None:
    """Record progress and the worker's heartbeat; stop if someone cancelled the job."""
    with ctx.sessions() as session, session.begin():
        row = session.get(JobRow, job_id)
        assert row is not None
        if done is not None:
            row.done_items = done
        row.total_items, row.heartbeat_at = total, utc_now()
        if row.cancel_requested:
            raise _Cancelled


def _finish(ctx: AppContext, job_id: int, status: str, result: dict[str, Any]) -> None:
    with ctx.transaction() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        row.status, row.result, row.finished_at = status, json.dumps(result), utc_now()
        append(session, AuditEvent("system", f"job.{status}", f"job:{job_id}", result))


def _run(ctx: AppContext, job_id: int) -> str:
    with ctx.sessions() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        params = IngestJobRequest(**json.loads(row.params))
        creator = session.get(User, row.created_by)
        assert creator is not None
        asker = principal_of(session, creator)
    done = 0

    def progress(n: int, total: int) -> None:
        nonlocal done
        done += n
        _beat(ctx, job_id, done, total)

    request = IngestRequest(
        Path(params.path),
        params.gallery,
        params.source,
        Path(params.manifest) if params.manifest else None,
        workers=1,  # the service's workers are the parallelism; a cancel stops within a batch
    )
    try:
        summary = ingest(ctx, asker, request, progress)
    except _Cancelled:
        _finish(ctx, job_id, "cancelled", {"done_items": done})
        return "cancelled"
    except FacetrailError as error:
        _finish(ctx, job_id, "failed", {"code": error.code, "problem": str(error)})
        return "failed"
    result = plain(summary) | {"failures": len(summary.failures)}
    _finish(ctx, job_id, "done", result)
    return "done"


def run_pending(ctx: AppContext, worker: str, *, limit: int = 10) -> list[tuple[int, str]]:
    """Claim and run queued jobs (and ones whose worker stopped) one at a time; returns
    (job id, final status) for each. Called on a timer by each service worker."""
    ran = []
    for _ in range(limit):
        job_id = _claim(ctx, worker)
        if job_id is None:
            break
        ran.append((job_id, _run(ctx, job_id)))
    return ran
