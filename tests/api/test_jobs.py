"""Ingestion as a background job: submitted over the API, run by the service's scheduler with
its progress visible, cancelled, and resumed when the worker that ran it is gone."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from facetrail.config import Settings
from facetrail.governance.credentials import Role
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries.jobs import STALE_AFTER, run_pending
from facetrail.store.schema import AuditEntryRow, Image, JobRow
from tests.api.conftest import World
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import make_county, make_gallery, sign_in
from tests.served import get_json, served

pytestmark = needs_lfw


def _folder(world: World, tmp_path: Path) -> Path:
    folder = tmp_path / "more"
    copy_first_images(folder, lfw_people(8)[4:])
    return folder


def _kinds(world: World) -> list[str]:
    with world.ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq)
            )
        )


def _images(world: World) -> int:
    with world.ctx.sessions() as s:
        return int(s.scalar(select(func.count(Image.id))) or 0)


def test_a_submitted_ingestion_runs_with_its_progress(world: World, tmp_path: Path) -> None:
    gus = world.as_("gus")
    folder = _folder(world, tmp_path)
    before = _images(world)
    asked = world.client.post(
        "/api/v1/galleries/bookings/ingestions",
        json={"source": "county", "path": str(folder)},
        headers=gus,
    )
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert job["status"] == "queued" and job["created_by"] == "gus"
    assert run_pending(world.ctx, "test-worker") == [(job["id"], "done")]
    shown = world.client.get(f"/api/v1/jobs/{job['id']}", headers=gus).json()
    assert shown["status"] == "done" and shown["done_items"] == shown["total_items"] == 4
    assert shown["result"]["images_ingested"] == 4
    assert _images(world) == before + 4
    kinds = _kinds(world)
    assert {"job.submit", "job.start", "job.done", "gallery.ingest.batch"} <= set(kinds)
    listed = world.client.get("/api/v1/jobs", headers=gus).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]


def test_only_gallery_admins_submit_and_see_jobs(world: World, tmp_path: Path) -> None:
    folder = _folder(world, tmp_path)
    ivy = world.as_("ivy")
    refused = world.client.post(
        "/api/v1/galleries/bookings/ingestions",
        json={"source": "county", "path": str(folder)},
        headers=ivy,
    )
    assert refused.status_code == 403 and _kinds(world)[-1] == "job.submit.refused"
    assert world.client.get("/api/v1/jobs", headers=ivy).status_code == 403
    assert _kinds(world)[-1] == "job.list.refused"
    relative = world.client.post(
        "/api/v1/galleries/bookings/ingestions",
        json={"source": "county", "path": "relative/folder"},
        headers=world.as_("gus"),
    )
    assert relative.status_code == 422 and relative.json()["subject"] == "relative/folder"


def test_cancelled_jobs_stop_and_stale_ones_resume(world: World, tmp_path: Path) -> None:
    gus = world.as_("gus")
    folder = _folder(world, tmp_path)
    body = {"source": "county", "path": str(folder)}
    queued = world.client.post("/api/v1/galleries/bookings/ingestions", json=body, headers=gus)
    cancelled = world.client.post(f"/api/v1/jobs/{queued.json()['id']}/cancel", headers=gus)
    assert cancelled.json()["status"] == "cancelled"
    assert run_pending(world.ctx, "test-worker") == []

    # A job another worker took and is running: cancelling asks it to stop; when that worker
    # is gone (no heartbeat), the job is taken up again and stops at once.
    running = world.client.post("/api/v1/galleries/bookings/ingestions", json=body, headers=gus)
    job_id = running.json()["id"]
    with world.ctx.transaction() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        row.status, row.worker, row.heartbeat_at = "running", "gone:1", utc_now()
    asked = world.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=gus).json()
    assert asked["status"] == "running" and asked["cancel_requested"] is True
    assert run_pending(world.ctx, "test-worker") == []  # its worker may still be alive
    with world.ctx.transaction() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        row.heartbeat_at = utc_now() - STALE_AFTER - timedelta(seconds=1)
    assert run_pending(world.ctx, "test-worker") == [(job_id, "cancelled")]

    # A stale job nobody cancelled resumes and completes: the store says what is left.
    resumed = world.client.post("/api/v1/galleries/bookings/ingestions", json=body, headers=gus)
    job_id = resumed.json()["id"]
    with world.ctx.transaction() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        row.status, row.worker = "running", "gone:2"
        row.heartbeat_at = utc_now() - STALE_AFTER - timedelta(seconds=1)
    assert run_pending(world.ctx, "test-worker") == [(job_id, "done")]
    assert "job.resume" in _kinds(world)


def test_the_served_scheduler_runs_a_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = AppContext.open(Settings(home=home, threads=1))
    org = make_county(ctx)
    org.add("gus", "county", Role.GALLERY_ADMIN)
    make_gallery(org, "bookings")
    token = sign_in(ctx, org.enrolments["gus"]).token
    folder = tmp_path / "photos"
    copy_first_images(folder, lfw_people(3))
    ctx.close()
    try:
        env = {
            "FACETRAIL_JOB_POLL_SECONDS": "0.5",
            "FACETRAIL_IMPORT_ROOTS": json.dumps([str(tmp_path)]),
        }
        with served(home, env=env) as base:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = json.dumps({"source": "county", "path": str(folder)}).encode()
            request = urllib.request.Request(
                f"{base}/api/v1/galleries/bookings/ingestions", body, headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                job = json.loads(answer.read())
            status, shown = job["status"], job
            deadline = time.monotonic() + 120
            while status in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.5)
                _, shown = get_json(f"{base}/api/v1/jobs/{job['id']}", headers)
                status = shown["status"]
        assert status == "done", shown
        assert shown["result"]["images_ingested"] == 3
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_job_queued_or_changed_outside_facetrail_never_runs(world: World, tmp_path: Path) -> None:
    """An insider who can write the database changes a queued job's folder, or queues a job
    of their own as a gallery admin: neither runs (logged once as ``job.tampered``, left
    queued), and the queue goes on with the jobs that agree with the log. Seen failing on
    7b69e17: the claim refused to seal the changed row and raised, so nothing ran at all."""
    gus = world.as_("gus")
    folder = _folder(world, tmp_path)
    queued = [
        world.client.post(
            "/api/v1/galleries/bookings/ingestions",
            json={"source": "county", "path": str(folder)},
            headers=gus,
        ).json()["id"]
        for _ in range(2)
    ]
    engine = create_engine(world.ctx.settings.db_url)
    try:
        with engine.begin() as connection:
            params = json.loads(
                connection.execute(
                    text("SELECT params FROM jobs WHERE id = :i"), {"i": queued[0]}
                ).scalar_one()
            )
            params["gallery"] = "elsewhere"
            connection.execute(
                text("UPDATE jobs SET params = :p WHERE id = :i"),
                {"p": json.dumps(params), "i": queued[0]},
            )
            connection.execute(
                text(
                    "INSERT INTO jobs (kind, status, params, created_by, agency_id, created_at,"
                    " done_items, total_items, cancel_requested) SELECT kind, 'queued', params,"
                    " created_by, agency_id, created_at, 0, 0, cancel_requested FROM jobs"
                    " WHERE id = :i"
                ),
                {"i": queued[1]},
            )
    finally:
        engine.dispose()
    assert run_pending(world.ctx, "test-worker") == [(queued[1], "done")]
    assert run_pending(world.ctx, "test-worker") == []
    assert _kinds(world).count("job.tampered") == 2
    with world.ctx.sessions() as s:
        statuses = dict(s.execute(select(JobRow.id, JobRow.status)).all())
    assert statuses[queued[0]] == "queued"
