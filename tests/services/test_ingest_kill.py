"""kill -9 during ingestion, at random points, then re-run: the result must equal an
uninterrupted ingest, and the index must agree with the database."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from facetrail.governance.credentials import totp_now
from facetrail.index.faiss_index import FaissIndex
from facetrail.services.context import AppContext
from facetrail.services.galleries import indexing
from facetrail.services.galleries.ingest import IngestRequest
from facetrail.store.schema import Face, Image, IngestFailure, TemplateRow
from tests.conftest import LFW, Home, needs_lfw

pytestmark = needs_lfw

IMAGES = 300
BATCH = IngestRequest.batch_size  # the CLI's ingest commits images this many at a time
PASSWORD = "a long enough secret"


def _corpus(folder: Path) -> None:
    folder.mkdir()
    photos = sorted(LFW.glob("*/*.jpg"))[:IMAGES]
    for i, p in enumerate(photos):
        sub = folder / f"batch{i // 50}"
        sub.mkdir(exist_ok=True)
        shutil.copy(p, sub / p.name)
    (folder / "batch0" / "broken.jpg").write_bytes(photos[0].read_bytes()[:500])
    (folder / "batch1" / "notes.jpg").write_text("not an image")


def _cli(home: Home, *args: str) -> subprocess.Popen[bytes]:
    home.path.mkdir(parents=True, exist_ok=True)
    with _log_file(home).open("ab") as log:
        # A session of its own, so kill -9 reaches the CLI and its worker processes.
        return subprocess.Popen(
            [sys.executable, "-m", "facetrail", *args],
            env=home.env(FACETRAIL_THREADS="1"),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def _log_file(home: Home) -> Path:
    return home.path.parent / f"{home.path.name}.log"


def _log(home: Home) -> str:
    return _log_file(home).read_text(errors="replace")[-3000:]


def _stop_group(pgid: int) -> None:
    """Stop anything left in the group this test started (there should be nothing)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    raise AssertionError("worker processes outlived the killed ingest")


def _setup(home: Home) -> None:
    """init, sign in as the system admin, then the gallery and its source (all via the CLI)."""
    env = home.env(FACETRAIL_ADMIN_PASSWORD=PASSWORD, FACETRAIL_PASSWORD=PASSWORD)
    home.path.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "facetrail", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    secret = json.loads(run("init", "--admin", "root", "--email", "r@x", "--json"))["totp_secret"]
    run("login", "root", "--code", totp_now(secret))
    run("gallery", "create", "g")
    run(
        "gallery",
        "add-source",
        "g",
        "s",
        "--kind",
        "k",
        "--legal-basis",
        "b",
        "--supplied-by",
        "x",
        "--collected-at",
        "2026-01-01",
        "--retention-days",
        "9",
    )


def _wait_for_images(home: Home, proc: subprocess.Popen[bytes], count: int) -> bool:
    """Wait until the running ingest has committed at least ``count`` images (True), or has
    ended first (False)."""
    engine = create_engine(home.settings().db_url)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with engine.connect() as connection:
                    stored = connection.scalar(select(func.count()).select_from(Image))
            except OperationalError:  # the schema is not there yet, or the file is locked
                stored = 0
            if stored is not None and stored >= count:
                return proc.poll() is None
            time.sleep(0.02)
        return False
    finally:
        engine.dispose()


def _ingest_args(corpus: Path) -> list[str]:
    return ["gallery", "ingest", str(corpus), "-g", "g", "-s", "s", "--workers", "2", "--json"]


def _state(home: Home) -> tuple[object, ...]:
    ctx = AppContext.open(home.settings())
    try:
        with ctx.sessions() as s:
            images = sorted(
                s.execute(select(Image.sha256, Image.face_count, Image.original_name)).all()
            )
            faces = len(s.scalars(select(Face.id)).all())
            template_ids = np.array(sorted(s.scalars(select(TemplateRow.id))), np.int64)
            failures = sorted(
                s.execute(select(IngestFailure.original_name, IngestFailure.code)).all()
            )
        # The index file as the last run left it must hold exactly the database's templates.
        index_file = next((home.path / "index").glob("*.faiss"))
        on_disk = np.sort(FaissIndex.load(index_file).ids())
        assert np.array_equal(on_disk, template_ids), "index file disagrees with database"
        report = indexing.check_index(ctx, "g")
        assert (report.added, report.removed) == (0, 0)
        return tuple(images), faces, len(template_ids), tuple(failures)
    finally:
        ctx.close()


def test_kill_9_then_rerun_equals_uninterrupted(
    tmp_path: Path, new_database: Callable[[], str | None]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus)
    reference_home = Home(tmp_path / "ref", new_database())
    killed_home = Home(tmp_path / "killed", new_database())
    for home in (reference_home, killed_home):
        _setup(home)
    started = time.monotonic()
    proc = _cli(reference_home, *_ingest_args(corpus))
    assert proc.wait(300) == 0, _log(reference_home)
    uninterrupted = time.monotonic() - started
    reference = _state(reference_home)

    seed = int(os.environ.get("FACETRAIL_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    # The first kill is triggered by progress, not by the clock (a run's length varies with
    # the machine's load): it lands once some batches are committed and others are not.
    proc = _cli(killed_home, *_ingest_args(corpus))
    target = rng.randint(1, IMAGES - 2 * BATCH)
    assert _wait_for_images(killed_home, proc, target), f"seed {seed}: run ended before the kill"
    os.kill(proc.pid, signal.SIGKILL)  # the CLI only: its workers must die with it
    proc.wait(60)
    _stop_group(proc.pid)
    # Then kill points spread over the length of an uninterrupted run (start-up, model
    # loading, batches, index save); these may come after the run has finished.
    for _ in range(2):
        proc = _cli(killed_home, *_ingest_args(corpus))
        time.sleep(rng.uniform(0.1, 1.0) * uninterrupted)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        _stop_group(proc.pid)
    proc = _cli(killed_home, *_ingest_args(corpus))
    assert proc.wait(300) == 0, _log(killed_home)
    assert _state(killed_home) == reference, f"seed {seed}"
    images, _, _, failures = reference
    assert len(images) == IMAGES and len(failures) == 2  # type: ignore[arg-type]
