"""The service's background work on a schedule (APScheduler), in every worker process: queued
jobs are claimed and run (``services.galleries.jobs``, which makes sure two workers never run the
same one), and housekeeping runs on a timer instead of after CLI commands; misuse alerts are raised,
due digests sent and sources' retention enforced on a slower one; every gallery's index is held
to its sealed hash and its stored templates on a daily one (``index_check_seconds``)."""

from __future__ import annotations

import logging
import os
import socket

from apscheduler.schedulers.background import BackgroundScheduler

from facetrail.errors import FacetrailError
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import check_indexes
from facetrail.services.galleries.jobs import run_pending
from facetrail.services.housekeeping import housekeeping
from facetrail.services.oversight.alerts import raise_alerts
from facetrail.services.oversight.digests import send_due_digests
from facetrail.services.rights.retention import run_retention

__all__ = ["start_background"]

log = logging.getLogger("facetrail.background")


def _jobs(ctx: AppContext, worker: str) -> None:
    try:
        for job_id, status in run_pending(ctx, worker):
            log.info("job %d %s", job_id, status)
    except FacetrailError as error:  # logged; the job's own state says what happened
        log.error("jobs: [%s] %s", error.code, error)


def _housekeeping(ctx: AppContext) -> None:
    try:
        housekeeping(ctx)
    except FacetrailError as error:
        log.error("housekeeping: [%s] %s", error.code, error)


def _oversight(ctx: AppContext) -> None:
    try:
        raised = {agency: ids for agency, ids in raise_alerts(ctx).items() if ids}
        if raised:
            log.info("alerts raised: %s", raised)
        for digest in send_due_digests(ctx):
            log.info("digest sent: %s to %s", digest.agency, digest.period_to)
        for source in run_retention(ctx).sources:
            log.info("retention: %s/%s: %d image(s)", source.gallery, source.source, source.images)
    except FacetrailError as error:
        log.error("oversight: [%s] %s", error.code, error)


def _indexes(ctx: AppContext) -> None:
    try:
        for report in check_indexes(ctx):
            if report.rebuilt:
                log.warning(
                    "index of %s rebuilt: %s, %d disagreed",
                    report.gallery,
                    report.damage or "vectors",
                    report.disagreed,
                )
    except FacetrailError as error:
        log.error("index check: [%s] %s", error.code, error)


def start_background(ctx: AppContext) -> BackgroundScheduler:
    """Start this worker's scheduler (stop it with ``shutdown(wait=False)``: a job cut off
    resumes in another worker once its heartbeat is stale)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    settings = ctx.settings
    scheduler = BackgroundScheduler(daemon=True)
    common = {"max_instances": 1, "coalesce": True}
    scheduler.add_job(
        _jobs, "interval", seconds=settings.job_poll_seconds, args=(ctx, worker), **common
    )
    scheduler.add_job(
        _housekeeping, "interval", seconds=settings.housekeeping_seconds, args=(ctx,), **common
    )
    scheduler.add_job(
        _oversight, "interval", seconds=settings.oversight_seconds, args=(ctx,), **common
    )
    scheduler.add_job(
        _indexes, "interval", seconds=settings.index_check_seconds, args=(ctx,), **common
    )
    scheduler.start()
    return scheduler
