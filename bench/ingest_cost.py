"""Ingestion cost per face vs the raw model inference time, and 2-worker scaling, in one run.

Targets (issue 1/6): product ingest time per face <= 1.2x the time of the detector and
recognizer onnxruntime ``run`` calls alone on the same images; two worker processes give
>= 1.7x the throughput of one. "two_worker_speedup" counts the whole ingest (process start-up
included); "..._steady_state" leaves out the time before the first result. Everything is
measured in this run, on this machine, with
onnxruntime single-threaded per process; the ratios are what count (the machine is shared).

    .venv/bin/python bench/ingest_cost.py [--images 1200] [--pack arcface-mbf] [--json FILE]
        [--database-url URL --database-url URL]

Each of the two ingests (one worker, then two) runs in a fresh home of its own, on the SQLite
file in it, or on the empty databases named by ``--database-url`` (one for each, in order).

``make test`` runs it with ``--images 6`` so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.config import Settings  # noqa: E402
from facetrail.governance.credentials import Principal, totp_now  # noqa: E402
from facetrail.imaging.decode import read_image_file  # noqa: E402
from facetrail.models.registry import get_pack  # noqa: E402
from facetrail.pipeline.alignment import align_face  # noqa: E402
from facetrail.pipeline.detection import _canvas  # noqa: E402
from facetrail.pipeline.pipeline import FacePipeline, PipelineOptions  # noqa: E402
from facetrail.services import accounts  # noqa: E402
from facetrail.services.accounts import NewAccount  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.galleries import admin as galleries  # noqa: E402
from facetrail.services.galleries.ingest import IngestRequest, ingest  # noqa: E402
from facetrail.services.signin.authentication import login  # noqa: E402


def raw_model_seconds(paths: list[Path], pack_name: str, cache: Path) -> tuple[float, int]:
    """Time only session.run for detector and recognizer, inputs prepared beforehand."""
    pipe = FacePipeline(get_pack(pack_name, cache), cache, PipelineOptions(threads=1))
    det, rec = pipe.detector, pipe.recognizer
    inputs: list[tuple[np.ndarray, np.ndarray | None]] = []
    for p in paths:
        bgr = read_image_file(p)[1].bgr
        blob = det._blob(_canvas(bgr, det.spec).image)
        dets = pipe.detect(bgr)
        aligned = [align_face(bgr, d.landmarks, rec.spec.input_size) for d in dets]
        inputs.append((blob, rec.blob(np.stack(aligned)) if aligned else None))
    faces = sum(0 if c is None else len(c) for _, c in inputs)
    started = time.perf_counter()
    for blob, crops in inputs:
        det.session.run(None, {det.input_name: blob})
        if crops is not None:
            for start in range(0, len(crops), rec.max_batch):
                rec.session.run(None, {rec.input_name: crops[start : start + rec.max_batch]})
    return time.perf_counter() - started, faces


def signed_in_admin(ctx: AppContext) -> Principal:
    """The first system admin of a fresh home, signed in as a person would be."""
    password = "benchmark password"
    enrolment = accounts.init_system(ctx, NewAccount("root", "root@ops", password, "ops"))
    assert enrolment.totp_secret is not None
    return login(ctx, "root", password, totp_now(enrolment.totp_secret)).principal


def product_ingest(
    paths: list[Path],
    pack_name: str,
    workers: int,
    root: Path,
    cache: Path,
    database_url: str | None,
) -> tuple[float, int, float | None]:
    """-> whole ingest() seconds, faces, and the whole-run seconds extrapolated from the first
    result to the last (steady state: process start-up and model loading left out; None when
    every result came back at once, as in a tiny run). ``database_url``: an empty database
    for this run's home (None: the SQLite file in it, whatever FACETRAIL_DATABASE_URL says)."""
    home = root / f"home-{workers}"
    ctx = AppContext.open(Settings(home=home, threads=1, database_url=database_url))
    # Share the prepared-model cache so no run pays for graph preparation.
    ctx.settings.home.mkdir(parents=True, exist_ok=True)
    if (cache / "models").exists():
        shutil.copytree(cache / "models", home / "models", dirs_exist_ok=True)
    try:
        admin = signed_in_admin(ctx)
        galleries.create_gallery(ctx, admin, galleries.CreateGalleryRequest("bench", pack_name))
        galleries.add_source(
            ctx,
            admin,
            galleries.CreateSourceRequest(
                "bench", "lfw", "LFW", "research evaluation", "UMass", "2007-10-01", 30
            ),
        )
        folder = root / "images"
        marks: list[tuple[float, int]] = []
        started = time.perf_counter()

        def progress(done: int, _total: int) -> None:
            marks.append((time.perf_counter() - started, done))

        summary = ingest(
            ctx, admin, IngestRequest(folder, "bench", "lfw", workers=workers), progress
        )
        assert summary.images_ingested == len(paths), summary
        first_result = marks[1][0]  # marks[0] is the plan (nothing analysed yet)
        steady_images = len(paths) - marks[1][1]
        if steady_images <= 0:
            return summary.seconds, summary.faces, None
        steady = (summary.seconds - first_result) * len(paths) / steady_images
        return summary.seconds, summary.faces, steady
    finally:
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--pack", default="arcface-mbf")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="an empty database for one ingest run (give two: one worker, then two); "
        "default: the SQLite file in each run's home",
    )
    args = parser.parse_args()
    if len(args.database_url) not in (0, 2):
        parser.error("give --database-url twice (one worker, then two), or not at all")
    one_db, two_db = args.database_url or (None, None)
    paths = sorted(args.dataset.glob("*/*.jpg"))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        for p in paths:
            shutil.copy(p, root / "images" / p.name)
        cache = root / "cache"
        FacePipeline(get_pack(args.pack, cache), cache / "models", PipelineOptions(threads=1))
        raw_s, raw_faces = raw_model_seconds(paths, args.pack, cache / "models")
        one_s, faces1, one_steady = product_ingest(paths, args.pack, 1, root, cache, one_db)
        two_s, faces2, two_steady = product_ingest(paths, args.pack, 2, root, cache, two_db)
        raw_again_s, _ = raw_model_seconds(paths, args.pack, cache / "models")
    raw_s = min(raw_s, raw_again_s)
    result = {
        "pack": args.pack,
        "images": len(paths),
        "faces": faces1,
        "raw_model_ms_per_face": 1000 * raw_s / raw_faces,
        "ingest_1_worker_ms_per_face": 1000 * one_s / faces1,
        "ingest_2_workers_ms_per_face": 1000 * two_s / faces2,
        "cost_ratio_vs_raw_models": one_s / raw_s,
        "cost_ratio_target": 1.2,
        "two_worker_speedup": one_s / two_s,
        "two_worker_speedup_steady_state": (
            one_steady / two_steady if one_steady and two_steady else None
        ),
        "two_worker_speedup_target": 1.7,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
