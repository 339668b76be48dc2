"""Ingestion on Ray against worker processes and the raw models, and a Ray worker killed with
``kill -9`` mid-ingest, in one run on the same images (issue 23, "Distributed ingestion").

Measured here, on this machine, onnxruntime single-threaded in every process:
  - the raw model rate: faces/s of the detector and recognizer ``run`` calls alone
    (``ingest_cost.raw_model_seconds``), and that of 2 cores (twice it);
  - the product ingest with 2 worker processes, and with ``ray_address="local"`` (2 actors):
    faces/s over the whole ingest (start-up included) and in steady state (from the first result
    on), each as a share of the 2-core raw rate (the issue's aim: >= 85%);
  - a second Ray ingest during which one actor's process is killed (SIGKILL) while it analyses
    a chunk: the photos lost (not stored, or failed) must be 0, and none committed twice.

Ray's processes listen on every interface, so the script runs itself in a network namespace of
its own (``unshare -n``, loopback only: needs root, ``unshare`` and ``ip``). Each ingest runs in
a fresh home of its own, on the SQLite file in it.

    .venv/bin/python bench/ray_ingest.py [--images 300] [--pack arcface-mbf] [--json FILE]

``make test`` runs it with ``--images 6`` so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import func, select  # noqa: E402

from facetrail.config import Settings  # noqa: E402
from facetrail.models.registry import get_pack  # noqa: E402
from facetrail.pipeline.pipeline import FacePipeline, PipelineOptions  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.galleries import admin as galleries  # noqa: E402
from facetrail.services.galleries.ingest import IngestRequest, ingest  # noqa: E402
from facetrail.store.schema import AuditEntryRow, Image, IngestFailure  # noqa: E402
from ingest_cost import raw_model_seconds, signed_in_admin  # noqa: E402

WORKERS = 2
#: Set in the environment of the run re-started in a namespace: it must not re-start again.
IN_NAMESPACE = "FACETRAIL_BENCH_RAY_NAMESPACE"
ACTOR_TITLE = b"ray::_Analyst"


def interfaces() -> list[str]:
    """This process's network namespace's interfaces (/proc/self/net/dev, not /sys)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def isolate() -> None:
    """Go on in a network namespace of its own: re-run this script under ``unshare -n`` unless
    this is that run already; bring its loopback up."""
    if interfaces() == ["lo"]:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.environ.get(IN_NAMESPACE):
        raise SystemExit(f"unshare -n left interfaces {interfaces()}: Ray would listen on them")
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        raise SystemExit("Ray runs in a network namespace of its own: needs root, unshare, ip")
    argv = ["unshare", "-n", "--", sys.executable, *sys.argv]
    os.execvpe("unshare", argv, {**os.environ, IN_NAMESPACE: "1"})


def descendant_actors() -> dict[int, bytes]:
    """This process's Ray actor processes (under its raylet) -> their titles."""
    parents: dict[int, int] = {}
    titles: dict[int, bytes] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            titles[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        parents[int(pid)] = int(stat[stat.rindex(")") + 2 :].split()[1])

    def mine(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {p: t for p, t in titles.items() if t.startswith(ACTOR_TITLE) and mine(p)}


@contextmanager
def killing_one_actor() -> Iterator[dict[str, Any]]:
    """While the block runs, kill (SIGKILL) the first actor seen analysing a chunk."""
    seen: dict[str, Any] = {"killed": [], "actor_processes": set()}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            actors = descendant_actors()
            seen["actor_processes"].update(actors)
            busy = [pid for pid, title in actors.items() if title.endswith(b".run")]
            if busy and not seen["killed"]:
                os.kill(busy[0], signal.SIGKILL)
                seen["killed"].append(busy[0])
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()
    seen["actor_processes"] = len(seen["actor_processes"])


def product_ingest(
    folder: Path, pack: str, home: Path, ray_address: str | None, images: int
) -> dict[str, Any]:
    """One ingest of ``folder`` with 2 workers (processes, or Ray actors) into a fresh home: its
    seconds, faces, steady-state seconds (first result to last, scaled to all images; None when
    every result came at once) and what the home holds afterwards."""
    settings = Settings(home=home, threads=1, database_url=None, ray_address=ray_address)
    ctx = AppContext.open(settings)
    try:
        admin = signed_in_admin(ctx)
        galleries.create_gallery(ctx, admin, galleries.CreateGalleryRequest("bench", pack))
        galleries.add_source(
            ctx,
            admin,
            galleries.CreateSourceRequest(
                "bench", "lfw", "LFW", "research evaluation", "UMass", "2007-10-01", 30
            ),
        )
        marks: list[tuple[float, int]] = []
        started = time.perf_counter()

        def progress(done: int, _total: int) -> None:
            marks.append((time.perf_counter() - started, done))

        request = IngestRequest(folder, "bench", "lfw", workers=WORKERS)
        summary = ingest(ctx, admin, request, progress)
        steady_images = images - marks[1][1]  # marks[0] is the plan, marks[1] the first result
        steady = (
            (summary.seconds - marks[1][0]) * images / steady_images if steady_images > 0 else None
        )
        with ctx.sessions() as session:
            shas = set(session.scalars(select(Image.sha256)))
            failed = session.scalar(select(func.count(IngestFailure.id))) or 0
            batches = session.scalars(
                select(AuditEntryRow.details).where(AuditEntryRow.kind == "gallery.ingest.batch")
            ).all()
        committed = [sha for details in batches for sha in json.loads(details)["images"]]
        return {
            "seconds": summary.seconds,
            "steady_seconds": steady,
            "faces": summary.faces,
            "photos_lost": images - len(shas) + failed,
            "committed_twice": len(committed) - len(set(committed)),
        }
    finally:
        ctx.close()


def rates(run: dict[str, Any], raw_2_cores: float) -> dict[str, Any]:
    whole = run["faces"] / run["seconds"]
    steady = run["faces"] / run["steady_seconds"] if run["steady_seconds"] else None
    return {
        **run,
        "faces_per_s": whole,
        "faces_per_s_steady_state": steady,
        "share_of_raw_2_cores": whole / raw_2_cores,
        "share_of_raw_2_cores_steady_state": steady / raw_2_cores if steady else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--pack", default="arcface-mbf")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    isolate()
    paths = sorted(args.dataset.glob("*/*.jpg"))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "images"
        folder.mkdir()
        for p in paths:
            shutil.copy(p, folder / p.name)
        cache = root / "cache" / "models"
        FacePipeline(get_pack(args.pack, cache), cache, PipelineOptions(threads=1))
        raw_s, raw_faces = raw_model_seconds(paths, args.pack, cache)
        local = product_ingest(folder, args.pack, root / "home-local", None, len(paths))
        on_ray = product_ingest(folder, args.pack, root / "home-ray", "local", len(paths))
        with killing_one_actor() as kill:
            killed = product_ingest(folder, args.pack, root / "home-kill", "local", len(paths))
        raw_again_s, _ = raw_model_seconds(paths, args.pack, cache)
    raw_rate = raw_faces / min(raw_s, raw_again_s)
    result = {
        "pack": args.pack,
        "images": len(paths),
        "faces": raw_faces,
        "raw_faces_per_s_1_core": raw_rate,
        "raw_faces_per_s_2_cores": 2 * raw_rate,
        "aim_share_of_raw_2_cores": 0.85,
        "local_2_workers": rates(local, 2 * raw_rate),
        "ray_2_actors": rates(on_ray, 2 * raw_rate),
        "ray_faces_per_s_to_local": local["seconds"] / on_ray["seconds"],
        "ray_worker_killed": {
            "killed": len(kill["killed"]),
            "actor_processes_seen": kill["actor_processes"],
            "seconds": killed["seconds"],
            "faces": killed["faces"],
            "photos_lost": killed["photos_lost"],
            "committed_twice": killed["committed_twice"],
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
