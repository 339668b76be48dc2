"""Analyse many image files, in this process or in a pool of worker processes.

Each worker loads the pack once and runs onnxruntime single-threaded: on CPU, one process
per core beats one process with many threads for small images. Results come back in job
order. Per-file failures are results, never exceptions: one bad file never stops a batch.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from facetrail.errors import FacetrailError, StorageFullError
from facetrail.imaging.decode import DecodeLimits, read_image_file
from facetrail.imaging.intake import open_regular_file
from facetrail.models.registry import get_pack
from facetrail.pipeline.faces import Face
from facetrail.pipeline.masks import apply_synthetic_mask, mask_style_for
from facetrail.pipeline.pipeline import FacePipeline, PipelineOptions


@dataclass(frozen=True)
class ImageJob:
    path: Path
    #: Draw a synthetic mask (style chosen from this key) on every face before analysis.
    mask_key: str | None = None
    #: Ingest lists a folder without following links and reads it the same way, so a file
    #: swapped for a symlink after listing is refused, not followed.
    follow_symlinks: bool = True


@dataclass(frozen=True)
class ImageResult:
    job: ImageJob
    sha256: str
    faces: list[Face] = field(default_factory=list)
    width: int = 0
    height: int = 0
    format: str = ""
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


class BlobSink(Protocol):
    """Where decoded files' bytes are kept (the store's BlobStore); content-addressed."""

    def put(self, data: bytes, sha256: str | None = None) -> str: ...


@dataclass(frozen=True)
class BatchConfig:
    pack: str
    home: Path
    cache_dir: Path
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    threads: int = 1
    providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
    #: Keep each successfully decoded file's bytes here before its result is returned, so a
    #: result never refers to a blob that is not on disk. Workers write it: the bytes are in
    #: their hands already, and the parent process stays free for the database.
    blobs: BlobSink | None = None
    #: Analyse on Ray actors instead of worker processes: "local" (a cluster of this machine's
    #: for the run) or a Ray cluster's address (``pipeline.ray_batch``); None: processes here.
    ray_address: str | None = None


class _Worker:
    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        pack = get_pack(config.pack, config.home)
        self.pipeline = FacePipeline(
            pack, config.cache_dir, PipelineOptions(config.threads, config.providers)
        )
        self.model_seconds = 0.0

    def run(self, jobs: Sequence[ImageJob]) -> list[ImageResult]:
        decoded, images, detections = [], [], []
        results: list[ImageResult | None] = []
        for job in jobs:
            sha = ""
            try:
                data, image = read_image_file(
                    job.path, limits=self.config.limits, follow_symlinks=job.follow_symlinks
                )
                sha = hashlib.sha256(data).hexdigest()
                bgr = image.bgr
                dets = self.pipeline.detect(bgr)
                if job.mask_key is not None and dets:
                    style = mask_style_for(job.mask_key)
                    for d in dets:
                        bgr = apply_synthetic_mask(bgr, d.landmarks, style=style)
                    dets = self.pipeline.detect(bgr)
                if self.config.blobs is not None:
                    self.config.blobs.put(data, sha)
            except StorageFullError:
                raise  # no fault of the file's: the whole run stops, nothing recorded against it
            except FacetrailError as exc:
                if not sha:
                    sha = _hash_quietly(job)
                results.append(ImageResult(job, sha, error_code=exc.code, error_message=str(exc)))
                continue
            decoded.append((len(results), job, sha, image))
            images.append(bgr)
            detections.append(dets)
            results.append(None)
        faces = self.pipeline.embed_detections(images, detections)
        for (slot, job, sha, image), image_faces in zip(decoded, faces, strict=True):
            results[slot] = ImageResult(
                job, sha, image_faces, image.width, image.height, image.format
            )
        return [r for r in results if r is not None]


def _hash_quietly(job: ImageJob) -> str:
    """The sha256 of a file that failed, read as safely as it was (a FIFO is never waited on);
    the hash of its name when it cannot be read."""
    try:
        fd = open_regular_file(job.path, follow_symlinks=job.follow_symlinks)
    except FacetrailError:
        return hashlib.sha256(str(job.path).encode()).hexdigest()
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return hashlib.sha256(str(job.path).encode()).hexdigest()
    return digest.hexdigest()


_WORKER: _Worker | None = None


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive its parent (e.g. after kill -9 of the CLI).

    PR_SET_PDEATHSIG covers a parent that dies from now on (Linux); a parent that died while
    this worker was still starting is seen by the worker having been re-parented already.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_worker(config: BatchConfig, parent_pid: int) -> None:
    global _WORKER
    _die_with_parent(parent_pid)
    _WORKER = _Worker(config)


def _run_chunk(jobs: Sequence[ImageJob]) -> list[ImageResult]:
    assert _WORKER is not None
    return _WORKER.run(jobs)


def analyse_files(
    jobs: Sequence[ImageJob], config: BatchConfig, *, workers: int = 1, chunk: int = 16
) -> Iterator[list[ImageResult]]:
    """Yield results chunk by chunk, in job order. ``workers`` > 1 uses spawned processes;
    ``config.ray_address`` set, ``workers`` Ray actors instead."""
    if config.ray_address is not None:
        from facetrail.pipeline.ray_batch import analyse_files_on_ray  # imports Ray: only here

        yield from analyse_files_on_ray(
            jobs, config, address=config.ray_address, workers=workers, chunk=chunk
        )
        return
    chunks = [list(jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)]
    if workers <= 1:
        worker = _Worker(config)
        for c in chunks:
            yield worker.run(c)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(config, os.getpid())
    ) as pool:
        yield from pool.map(_run_chunk, chunks)
