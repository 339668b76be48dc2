"""A real ingest through the service layer with ``ray_address="local"``, run by
tests/pipeline/test_ray_ingest.py inside a network namespace of its own (``unshare -n``: Ray
listens on every interface). Prints ``RESULT {json}`` as its last line.

    python tests/pipeline/_ray_ingest_run.py MODE WORKDIR

WORKDIR/photos holds the photos; each home is a folder of WORKDIR. MODE:
  compare      the same folder ingested with worker processes here and on Ray: what each stored
  kill-worker  a Ray ingest during which one actor's process is killed (SIGKILL) mid-chunk
  kill-driver  a Ray ingest committing a batch a chunk; after the first it prints COMMITTED and
               waits to be killed
  resume       the kill-driver ingest run again on its home
  stop-early   ``analyse_files`` on Ray closed after its first chunk, then with a full disk
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from facetrail.config import Settings  # noqa: E402
from facetrail.errors import StorageFullError  # noqa: E402
from facetrail.governance.credentials import Principal, totp_now  # noqa: E402
from facetrail.pipeline.batch import BatchConfig, ImageJob, analyse_files  # noqa: E402
from facetrail.services import accounts  # noqa: E402
from facetrail.services.accounts import NewAccount  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.galleries import admin as galleries  # noqa: E402
from facetrail.services.galleries.ingest import IngestRequest, IngestSummary, ingest  # noqa: E402
from facetrail.services.signin.authentication import login  # noqa: E402
from facetrail.store.schema import AuditEntryRow, Face, Image, IngestFailure, TemplateRow  # noqa: E402

PASSWORD = "ray ingest password"
ACTOR_TITLE = b"ray::_Analyst"


def open_home(home: Path, ray_address: str | None) -> AppContext:
    # Always the SQLite file in the home, whatever FACETRAIL_DATABASE_URL says.
    settings = Settings(home=home, database_url=None, threads=1, ray_address=ray_address)
    return AppContext.open(settings)


def admin_of(ctx: AppContext) -> Principal:
    """The home's system admin, signed in; the home, its gallery and source made if new."""
    if not (ctx.settings.home / "admin.totp").exists():
        enrolment = accounts.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "ops"))
        assert enrolment.totp_secret is not None
        (ctx.settings.home / "admin.totp").write_text(enrolment.totp_secret)
        admin = login(ctx, "root", PASSWORD, totp_now(enrolment.totp_secret)).principal
        galleries.create_gallery(ctx, admin, galleries.CreateGalleryRequest("lfw", None))
        galleries.add_source(
            ctx,
            admin,
            galleries.CreateSourceRequest(
                "lfw", "lfw", "LFW", "research evaluation", "UMass", "2007-10-01", 30
            ),
        )
        return admin
    secret = (ctx.settings.home / "admin.totp").read_text()
    # A code not presented before (each is accepted once): the next step's, at its time.
    at = datetime.now(UTC) + timedelta(seconds=30)
    return login(ctx, "root", PASSWORD, totp_now(secret, at=at.timestamp()), now=at).principal


def stored(ctx: AppContext) -> dict[str, Any]:
    """What the home holds: every photo's hash, its templates, and what the audit log says
    each batch committed."""
    with ctx.sessions() as session:
        shas = list(session.scalars(select(Image.sha256)))
        rows = session.execute(
            select(Image.sha256, Face.face_index, TemplateRow.kind, TemplateRow.vector)
            .join(Face, Face.image_id == Image.id)
            .join(TemplateRow, TemplateRow.face_id == Face.id)
        ).all()
        failures = session.scalar(select(func.count(IngestFailure.id)))
        batches = session.scalars(
            select(AuditEntryRow.details).where(AuditEntryRow.kind == "gallery.ingest.batch")
        ).all()
    committed = [sha for details in batches for sha in json.loads(details)["images"]]
    templates = {
        f"{sha}/{index}/{kind}": np.frombuffer(vector, np.float32)
        for sha, index, kind, vector in rows
    }
    return {"shas": shas, "templates": templates, "failures": failures, "committed": committed}


def run_ingest(
    home: Path,
    ray_address: str | None,
    *,
    workers: int = 2,
    batch_size: int = 64,
    progress: Any = None,
) -> tuple[IngestSummary, dict[str, Any]]:
    ctx = open_home(home, ray_address)
    try:
        admin = admin_of(ctx)
        request = IngestRequest(
            home.parent / "photos", "lfw", "lfw", workers=workers, batch_size=batch_size
        )
        summary = ingest(ctx, admin, request, progress)
        return summary, stored(ctx)
    finally:
        ctx.close()


def outline(summary: IngestSummary, held: dict[str, Any]) -> dict[str, Any]:
    return {
        "images_ingested": summary.images_ingested,
        "already_ingested": summary.already_ingested,
        "faces": summary.faces,
        "failures": [f.code for f in summary.failures],
        "stored_images": len(held["shas"]),
        "distinct_images": len(set(held["shas"])),
        "stored_failures": held["failures"],
        "templates": len(held["templates"]),
        "committed_in_batches": len(held["committed"]),
        "distinct_committed": len(set(held["committed"])),
    }


def compare(workdir: Path) -> dict[str, Any]:
    local_summary, local = run_ingest(workdir / "home-local", None, workers=1)
    ray_summary, on_ray = run_ingest(workdir / "home-ray", "local")
    shared = set(local["templates"]) & set(on_ray["templates"])
    gaps = [float(np.abs(local["templates"][k] - on_ray["templates"][k]).max()) for k in shared]
    return {
        "local": outline(local_summary, local),
        "ray": outline(ray_summary, on_ray),
        "same_hashes": sorted(local["shas"]) == sorted(on_ray["shas"]),
        "same_template_keys": set(local["templates"]) == set(on_ray["templates"]),
        "max_template_difference": max(gaps, default=0.0),
    }


def session_processes() -> dict[int, bytes]:
    """This session's processes (Ray's inherit it from this driver) -> their titles."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[3]) == os.getsid(0):
            found[int(pid)] = title
    return found


def actor_processes() -> dict[int, bytes]:
    return {pid: t for pid, t in session_processes().items() if t.startswith(ACTOR_TITLE)}


def kill_worker(workdir: Path) -> dict[str, Any]:
    """Kill one actor while it analyses a chunk; every actor process seen is recorded."""
    done = threading.Event()
    seen: set[int] = set()
    killed: list[int] = []

    def watch() -> None:
        while not done.is_set():
            actors = actor_processes()
            seen.update(actors)
            busy = [pid for pid, title in actors.items() if title.endswith(b".run")]
            if busy and not killed:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        summary, held = run_ingest(workdir / "home", "local")
    finally:
        done.set()
        watcher.join()
    return {**outline(summary, held), "killed": killed, "actor_processes_seen": len(seen)}


class FullDisk:
    """A blob store with no room left."""

    def put(self, data: bytes, sha256: str | None = None) -> str:
        raise StorageFullError("no space left on device", subject="blobs")


def others_in_session(wait_s: float = 5.0) -> list[int]:
    """This session's processes but this one, once they had ``wait_s`` to end."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [pid for pid in session_processes() if pid != os.getpid()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def stop_early(workdir: Path) -> dict[str, Any]:
    """``analyse_files`` on Ray left after its first chunk, then with a disk full: nothing of
    Ray outlives either, and the full disk is raised as itself."""
    jobs = [ImageJob(p) for p in sorted((workdir / "photos").iterdir())[:8]]
    home = workdir / "home"
    config = BatchConfig("arcface-mbf", home, home / "models", ray_address="local")
    results = analyse_files(jobs, config, workers=2, chunk=2)
    first = next(results)
    results.close()
    after_close = others_in_session()
    raised = None
    try:
        for _ in analyse_files(jobs, replace(config, blobs=FullDisk()), workers=2, chunk=2):
            pass
    except StorageFullError as exc:
        raised = {"type": type(exc).__name__, "code": exc.code, "subject": exc.subject}
    return {
        "first_chunk": len(first),
        "left_after_close": after_close,
        "raised": raised,
        "left_after_raise": others_in_session(),
    }


def kill_driver(workdir: Path) -> None:
    calls = 0

    def progress(_done: int, _total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first call is the plan; the second follows the first commit
            print("COMMITTED", flush=True)
            time.sleep(600)  # the test kills this process here

    run_ingest(workdir / "home", "local", batch_size=1, progress=progress)


def main() -> None:
    mode, workdir = sys.argv[1], Path(sys.argv[2])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if mode == "compare":
        result = compare(workdir)
    elif mode == "kill-worker":
        result = kill_worker(workdir)
    elif mode == "kill-driver":
        kill_driver(workdir)
        raise SystemExit("the ingest finished before it was killed")
    elif mode == "stop-early":
        result = stop_early(workdir)
    elif mode == "resume":
        summary, held = run_ingest(workdir / "home", "local", batch_size=1)
        result = outline(summary, held)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
