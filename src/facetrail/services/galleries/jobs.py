"""Background jobs: an ingestion asked for over the API runs inside the service, with its
progress visible and a way to stop it, and it survives a restart of the service.

Job state lives in facetrail's own database, written in the same locked transactions and
audit log as everything else, on SQLite and PostgreSQL alike; the service's scheduler
(``api.background``) calls ``run_pending`` on a timer in every worker. A job is claimed in a
locked transaction, so two workers never run the same one; a running job whose worker stopped
(no heartbeat for ``STALE_AFTER``) is claimed again and resumes: ingestion skips what the
store already holds.

Authorisation: gallery admins and system admins submit, see and cancel jobs; the folder must
lie under an import root (``Settings.import_roots``) and outside facetrail's own folders
(``services.galleries._server_folders``). A job runs as its submitter, who is checked again when it
starts or resumes and at every heartbeat: a job whose submitter is no longer active, of the
job's agency or holding a role that may run it, or whose folder no longer passes those
checks, is refused and marked failed with the reason. Audit: ``job.submit``, ``job.cancel``
(and their refusals), ``job.start``, ``job.resume``, ``job.run.refused`` and ``job.done`` /
``job.failed`` / ``job.cancelled``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountInactiveError,
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may, needed_roles
from facetrail.governance.credentials import Principal
from facetrail.services._sealed_rows import sealed_only
from facetrail.services.accounts import refuse
from facetrail.services.authorization import as_utc, current_actor, name_of_agency, utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries._server_folders import under_import_root
from facetrail.services.galleries.admin import get_gallery_row, get_source_row
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.galleries.sources import check_not_retired
from facetrail.services.unit_of_work import action, progress_write, require, system_action
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
    #: a folder on the server, absolute, under an import root
    path: str
    #: a CSV on the server (``file,subject_ref``), under an import root
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


class _Refused(Exception):
    """Raised from the progress callback to stop an ingestion its submitter may no longer
    run (``error`` says why)."""

    def __init__(self, error: FacetrailError) -> None:
        super().__init__(str(error))
        self.error = error


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


def submit_ingest(ctx: AppContext, actor: Principal, request: IngestJobRequest) -> JobInfo:
    """Queue an ingestion of a folder on the server into a gallery's source. The folder (and
    the manifest) must lie under an import root, outside facetrail's own folders, once
    symlinks and ".." are resolved (``folder_not_allowed``, audited as ``job.submit.refused``
    like every refusal here); the folder must exist now. The job keeps the resolved paths;
    the ingestion itself applies every rule ``services.galleries.ingest`` applies."""
    subject = f"{request.gallery}/{request.source}"
    with action(
        ctx, actor, "job.submit", subject, Permission.MANAGE_JOBS, {"path": request.path}
    ) as (session, _):
        gallery = get_gallery_row(session, request.gallery)
        check_not_retired(session, get_source_row(session, gallery, request.source))
        folder = under_import_root(ctx.settings, request.path)
        if not folder.is_dir():
            raise InvalidRequestError("not a folder", subject=request.path)
        manifest = under_import_root(ctx.settings, request.manifest) if request.manifest else None
        queued = IngestJobRequest(
            request.gallery, request.source, str(folder), str(manifest) if manifest else None
        )
        row = JobRow(
            kind="ingest",
            status="queued",
            params=json.dumps(plain(queued), sort_keys=True),
            created_by=actor.user_id,
            agency_id=actor.agency_id,
            done_items=0,
            cancel_requested=False,
        )
        session.add(row)
        session.flush()
        append(session, AuditEvent(actor.username, "job.submit", f"job:{row.id}", plain(queued)))
        return _info(session, row)


def list_jobs(ctx: AppContext, actor: Principal) -> list[JobInfo]:
    """Every job, newest first, for gallery admins and system admins (refusals audited)."""
    require(ctx, actor, "job.list", "jobs", Permission.MANAGE_JOBS)
    with ctx.sessions() as session:
        rows = session.scalars(select(JobRow).order_by(JobRow.id.desc())).all()
        return [_info(session, r) for r in rows]


def get_job(ctx: AppContext, actor: Principal, job_id: int) -> JobInfo:
    """One job with its progress (gallery admins and system admins; refusals audited)."""
    subject = f"job:{job_id}"
    require(ctx, actor, "job.view", subject, Permission.MANAGE_JOBS)
    with ctx.sessions() as session:
        row = session.get(JobRow, job_id)
        if row is not None:
            return _info(session, row)
    refuse(ctx, actor.username, "job.view", subject, NotFoundError("no such job", subject=subject))


def cancel_job(ctx: AppContext, actor: Principal, job_id: int) -> JobInfo:
    """Stop a job: a queued one at once, a running one after the batch in hand (what it
    committed stays, with its audit entries)."""
    subject = f"job:{job_id}"
    with action(ctx, actor, "job.cancel", subject, Permission.MANAGE_JOBS) as (session, _):
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


#: jobs looked at per claim (the first that agrees with the log is run)
_CLAIMED_FROM = 20


def _claim(ctx: AppContext, worker: str) -> int | None:
    stale = utc_now() - STALE_AFTER
    with system_action(ctx, "job.claim", worker) as session:
        waiting = session.scalars(
            select(JobRow)
            .where(
                or_(
                    JobRow.status == "queued",
                    (JobRow.status == "running") & (JobRow.heartbeat_at < stale),
                )
            )
            .order_by(JobRow.id)
            .limit(_CLAIMED_FROM)
        ).all()
        # a job queued or changed outside facetrail is never run (logged once, left queued)
        sealed = sealed_only(ctx, session, "jobs", list(waiting), "job.tampered", acting=session)
        row = sealed[0] if sealed else None
        if row is None:
            return None
        kind = "job.resume" if row.status == "running" else "job.start"
        row.status, row.worker, row.heartbeat_at = "running", worker, utc_now()
        row.started_at = row.started_at or row.heartbeat_at
        append(session, AuditEvent("system", kind, f"job:{row.id}", {"worker": worker}))
        return row.id


def _beat(ctx: AppContext, job_id: int, done: int | None, total: int) -> None:
    """Record progress and the worker's heartbeat; stop if someone cancelled the job, or if
    its submitter may no longer run it."""
    with progress_write(ctx) as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        if done is not None:
            row.done_items = done
        row.total_items, row.heartbeat_at = total, utc_now()
        if row.cancel_requested:
            raise _Cancelled
        try:
            _submitter(session, row)
        except FacetrailError as error:
            raise _Refused(error) from error


def _submitter(session: Session, row: JobRow) -> Principal:
    """Whoever submitted the job, as the database says now: refused unless their account is
    active, still of the job's agency and holding a role that may submit and run it."""
    user = session.get(User, row.created_by)
    if user is None:
        raise AccountInactiveError("no longer exists", subject=f"the submitter of job:{row.id}")
    principal = Principal(
        user.id, user.username, user.agency_id, name_of_agency(session, user.agency_id), frozenset()
    )
    actor = current_actor(session, principal)  # suspended, expired: refused; roles re-read
    if actor.agency_id != row.agency_id:
        raise PermissionDeniedError(
            "is no longer of the agency that submitted the job", subject=user.username
        )
    for permission in (Permission.MANAGE_JOBS, Permission.INGEST):
        if not may(actor, permission):
            raise PermissionDeniedError(needed_roles(permission), subject=user.username)
    return Principal(user.id, user.username, user.agency_id, principal.agency, actor.roles)


def _runnable(ctx: AppContext, job_id: int) -> IngestRequest:
    """What the job asks for, checked as when it was submitted (its folder could have been
    swapped for a link since, or the roots changed)."""
    with ctx.sessions() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        params = IngestJobRequest(**json.loads(row.params))
    manifest = under_import_root(ctx.settings, params.manifest) if params.manifest else None
    return IngestRequest(
        under_import_root(ctx.settings, params.path),
        params.gallery,
        params.source,
        manifest,
        workers=1,  # the service's workers are the parallelism; a cancel stops within a batch
    )


def _refuse_run(ctx: AppContext, job_id: int, error: FacetrailError) -> str:
    """Mark the job failed for what ``error`` says, audited as ``job.run.refused``, in one
    transaction."""
    with system_action(ctx, "job.run", f"job:{job_id}") as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        submitter = session.get(User, row.created_by)
        result = {"code": error.code, "problem": str(error)}
        row.status, row.result, row.finished_at = "failed", json.dumps(result), utc_now()
        by = submitter.username if submitter else "?"
        details = {"code": error.code, "reason": str(error), "submitter": by}
        append(session, AuditEvent("system", "job.run.refused", f"job:{job_id}", details))
    return "failed"


def _finish(ctx: AppContext, job_id: int, status: str, result: dict[str, Any]) -> None:
    with system_action(ctx, f"job.{status}", f"job:{job_id}", actor="system") as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        row.status, row.result, row.finished_at = status, json.dumps(result), utc_now()
        append(session, AuditEvent("system", f"job.{status}", f"job:{job_id}", result))


def _run(ctx: AppContext, job_id: int) -> str:
    try:
        with ctx.sessions() as session:
            row = session.get(JobRow, job_id)
            assert row is not None
            asker = _submitter(session, row)
        request = _runnable(ctx, job_id)
    except FacetrailError as error:
        return _refuse_run(ctx, job_id, error)
    done = 0

    def progress(n: int, total: int) -> None:
        nonlocal done
        done += n
        _beat(ctx, job_id, done, total)

    try:
        summary = ingest(ctx, asker, request, progress)
    except _Cancelled:
        _finish(ctx, job_id, "cancelled", {"done_items": done})
        return "cancelled"
    except _Refused as refused:
        return _refuse_run(ctx, job_id, refused.error)
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
