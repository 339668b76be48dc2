"""The service's background work on a schedule (APScheduler), in every worker process: queued
jobs are claimed and run (``services.galleries.jobs``, which makes sure two workers never run the
same one), and housekeeping runs on a timer instead of after CLI commands; misuse alerts are raised,
due digests sent and sources' retention enforced on a slower one; every gallery's index is held
to its sealed hash and its stored templates on a daily one (``index_check_seconds``)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from facetrail.errors import FacetrailError
from facetrail.services.context import AppContext
from facetrail.services.galleries.indexing import check_indexes
from facetrail.services.galleries.jobs import run_pending
from facetrail.services.housekeeping import housekeeping
from facetrail.services.oversight.alerts import raise_alerts
from facetrail.services.oversight.digests import send_due_digests
from facetrail.services.rights.retention import run_retention
from facetrail.store.db import one_line, outage_of

__all__ = ["start_background"]

log = logging.getLogger("facetrail.background")


#: Each piece of work whose database is out of reach, and since when (``time.monotonic``).
_down_since: dict[str, float] = {}


def _run(name: str, work: Callable[[], object]) -> None:
    """``work()`` on its schedule: a typed error is one line of the log; the database out of
    reach is one line when it goes and one when it is back (the work is tried again on its
    schedule meanwhile, never a traceback each time); anything else is APScheduler's to log."""
    try:
        work()
    except Exception as exc:
        outage = outage_of(exc)
        if outage is None and isinstance(exc, FacetrailError):
            log.error("%s: [%s] %s", name, exc.code, exc)
            return
        if outage is None:
            raise
        if name not in _down_since:
            _down_since[name] = time.monotonic()
            log.error("%s: database unavailable (%s); tried again on schedule", name, one_line(exc))
        return
    if (since := _down_since.pop(name, None)) is not None:
        log.info("%s: the database is back after %.0f s", name, time.monotonic() - since)


def _jobs(ctx: AppContext, worker: str) -> None:
    def work() -> None:  # a failed job's own state says what happened
        for job_id, status in run_pending(ctx, worker):
            log.info("job %d %s", job_id, status)

    _run("jobs", work)


def _housekeeping(ctx: AppContext) -> None:
    _run("housekeeping", lambda: housekeeping(ctx))


def _oversight(ctx: AppContext) -> None:
    def work() -> None:
        raised = {agency: ids for agency, ids in raise_alerts(ctx).items() if ids}
        if raised:
            log.info("alerts raised: %s", raised)
        for digest in send_due_digests(ctx):
            log.info("digest sent: %s to %s", digest.agency, digest.period_to)
        for source in run_retention(ctx).sources:
            log.info("retention: %s/%s: %d image(s)", source.gallery, source.source, source.images)

    _run("oversight", work)


def _indexes(ctx: AppContext) -> None:
    def work() -> None:
        for report in check_indexes(ctx):
            if report.rebuilt:
                log.warning(
                    "index of %s rebuilt: %s, %d disagreed",
                    report.gallery,
                    report.damage or "vectors",
                    report.disagreed,
                )

    _run("index check", work)


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
