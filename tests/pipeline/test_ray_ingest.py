"""Ingestion on Ray (``FACETRAIL_RAY_ADDRESS=local``) as a gallery admin meets it: the same faces
as worker processes store, nothing lost when a Ray worker or the driver is killed, and nothing
of Ray left running after.

Ray listens on every interface, so it only ever runs here inside a network namespace of its
own: each run is ``unshare -n`` of tests/pipeline/_ray_ingest_run.py, in a session of its own
whose every process is looked for afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, copy_first_images, lfw_people, needs_lfw

RUNNER = Path(__file__).with_name("_ray_ingest_run.py")
PHOTOS = 30
TIMEOUT_S = 120


def _namespaces_work() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = [
    needs_lfw,
    pytest.mark.one_backend,  # each run is on the SQLite file in its own homes
    pytest.mark.skipif(
        not _namespaces_work(), reason="needs unshare -n (root) and ip: Ray must not listen here"
    ),
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "photos"
    copy_first_images(folder, lfw_people(PHOTOS, min_images=1))
    return folder


@pytest.fixture()
def workdir(tmp_path: Path, photos: Path) -> Iterator[Path]:
    """The run's folder: its photos, its homes, a home directory (where ``~/.ray`` would be
    written) and ``temp``, a link to its temporary folder: short, for Ray's socket paths."""
    shutil.copytree(photos, tmp_path / "photos")
    (tmp_path / "user-home").mkdir()
    temp = Path(tempfile.mkdtemp(prefix="ftt-", dir="/tmp"))
    (tmp_path / "temp").symlink_to(temp)
    yield tmp_path
    shutil.rmtree(temp)


def _start(mode: str, workdir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "HOME": str(workdir / "user-home"),
        "TMPDIR": str((workdir / "temp").resolve()),
    }
    env.pop("FACETRAIL_DATABASE_URL", None)
    with (workdir / f"{mode}.stderr").open("w") as stderr:
        return subprocess.Popen(
            ["unshare", "-n", "--", sys.executable, str(RUNNER), mode, str(workdir)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its session id finds every process it started
        )


def _session(sid: int) -> dict[int, str]:
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[3]) == sid:
            found[int(pid)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
    return found


def _nothing_left(run: subprocess.Popen[str], workdir: Path) -> None:
    """Every process the run started has ended (within a few seconds); any left is killed, and
    the test fails naming it. Ray wrote nothing into the home directory, and left nothing in
    the temporary folder."""
    deadline = time.monotonic() + 10
    while (left := _session(run.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == {}, f"still running after the run: {left}"
    assert not (workdir / "user-home" / ".ray").exists()
    # The cluster's folder (onnxruntime leaves a .ses file of its own there).
    assert [p.name for p in (workdir / "temp").iterdir() if p.name.startswith("ft-ray-")] == []


def _result(mode: str, workdir: Path) -> dict[str, Any]:
    with _start(mode, workdir) as run:
        try:
            out, _ = run.communicate(timeout=TIMEOUT_S)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
            _nothing_left(run, workdir)
    stderr = (workdir / f"{mode}.stderr").read_text()
    assert run.returncode == 0, stderr[-4000:]
    result: dict[str, Any] = json.loads(out.splitlines()[-1].removeprefix("RESULT "))
    return result


def _every_photo_once(result: dict[str, Any]) -> None:
    assert result["failures"] == [] and result["stored_failures"] == 0
    assert result["stored_images"] == result["distinct_images"] == PHOTOS
    # The audit log's batches name each photo once: none committed twice.
    assert result["committed_in_batches"] == result["distinct_committed"] == PHOTOS


def test_ray_stores_the_same_faces_as_worker_processes(workdir: Path) -> None:
    result = _result("compare", workdir)
    local, on_ray = result["local"], result["ray"]
    _every_photo_once(local)
    _every_photo_once(on_ray)
    assert result["same_hashes"] and result["same_template_keys"]
    assert on_ray["templates"] == local["templates"] >= PHOTOS
    assert on_ray["faces"] == local["faces"]
    assert result["max_template_difference"] < 1e-4


def test_a_ray_worker_killed_mid_chunk_loses_nothing(workdir: Path) -> None:
    result = _result("kill-worker", workdir)
    assert len(result["killed"]) == 1
    assert result["actor_processes_seen"] >= 3  # two, and the one started in its place
    assert result["images_ingested"] == PHOTOS
    _every_photo_once(result)


def test_the_driver_killed_after_a_batch_then_rerun_finishes_each_photo_once(
    workdir: Path,
) -> None:
    run = _start("kill-driver", workdir)
    assert run.stdout is not None
    deadline = time.monotonic() + TIMEOUT_S
    try:
        committed = False
        while not committed and time.monotonic() < deadline and run.poll() is None:
            if select.select([run.stdout], [], [], 1)[0]:
                committed = run.stdout.readline().strip() == "COMMITTED"
        assert committed, (workdir / "kill-driver.stderr").read_text()[-4000:]
    finally:
        os.kill(run.pid, signal.SIGKILL)  # kill -9 of the ingest, Ray's driver
        run.wait()
        run.stdout.close()
        _nothing_left(run, workdir)

    result = _result("resume", workdir)
    assert 0 < result["already_ingested"] < PHOTOS
    assert result["already_ingested"] + result["images_ingested"] == PHOTOS
    _every_photo_once(result)


def test_nothing_of_ray_outlives_a_run_stopped_early_or_by_a_full_disk(workdir: Path) -> None:
    result = _result("stop-early", workdir)
    assert result["first_chunk"] == 2 and result["left_after_close"] == []
    assert result["raised"] == {
        "type": "StorageFullError",
        "code": "storage_full",
        "subject": "blobs",
    }
    assert result["left_after_raise"] == []
