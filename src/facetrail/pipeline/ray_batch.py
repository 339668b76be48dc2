"""Analyse many image files on a Ray cluster, with ``analyse_files``'s contract.

Each Ray actor holds one ``_Worker`` (the pack loaded once, onnxruntime single-threaded, one CPU
each) and analyses chunks of jobs; at most two chunks an actor are outstanding, so a big folder
never piles results up in memory. Results come back in job order; per-file failures are results;
an exception the worker raises (``StorageFullError``) is raised here as it was raised there.

An actor killed (``kill -9``, a node lost) is started again, its model loaded again, and the
chunks it held are run again: a chunk is only ever a result once, and the blobs it writes are
content-addressed, so a chunk run twice stores nothing twice. After ``_RETRIES`` losses of one
actor the run stops with a typed error; the batches committed before it stay.

``address="local"`` starts a cluster of ``workers`` CPUs on this machine for the run and stops
it after, in a temporary folder of its own (never ``~/.ray``). Its processes listen on every
interface: it is guarded by a token made for this process and kept in its environment only,
never written to disk. A watchdog process kills whatever of that cluster outlives its driver
(after ``kill -9`` of the driver, Ray's agents would run on for a minute). Any other address joins
an existing cluster (its token from there: ``RAY_AUTH_TOKEN``, ``~/.ray/auth_token``); only
this process disconnects from it after. The cluster's nodes must have facetrail installed and
see the same paths (the files, the home with its blobs and models) as this process.

Ray is imported only here, only when a run uses it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from facetrail.errors import StateError
from facetrail.pipeline.batch import BatchConfig, ImageJob, ImageResult, _Worker

if TYPE_CHECKING:
    from types import ModuleType

LOCAL = "local"
#: One run at a time in a process: two would share one ``ray.init``, and the first to finish
#: would stop the other's cluster.
_ONE_RUN = threading.Lock()
#: Times one actor is started again after it was lost, and its chunks run again, before a run
#: stops.
_RETRIES = 3
#: Chunks outstanding per actor: one running, one waiting, so no actor waits for the driver.
_QUEUED = 2
#: Ray's shared-memory object store for a local cluster: results are small (a chunk's are tens
#: of kB and mostly travel inline), so the default (30% of RAM) would only reserve memory.
_OBJECT_STORE_BYTES = 128 << 20
#: The longest temporary folder a local cluster's folder is made in (see ``_cluster_folder``).
_TEMP_PATH_MAX = 24
#: The watchdog of a local cluster: waits for its stdin to close (its driver closed it, or
#: died), then kills every process but the driver that holds a file open in the cluster's
#: folder: all of Ray's do, their logs (their environment or title cannot tell: Ray's agents
#: overwrite both); then removes the folder. Linux: /proc.
_REAPER = """
import os, shutil, signal, sys, time
folder, driver = sys.argv[1] + "/", int(sys.argv[2])
sys.stdin.buffer.read()
for _ in range(2):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in (driver, os.getpid()):
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder) for fd in fds):
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
shutil.rmtree(folder, ignore_errors=True)
"""


class _Analyst:
    """One Ray actor: a ``_Worker``, made on the first chunk (so that a pack that cannot be
    loaded fails as the task's own typed error, not as a dead actor)."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        self.worker: _Worker | None = None

    def run(self, jobs: Sequence[ImageJob]) -> list[ImageResult]:
        if self.worker is None:
            self.worker = _Worker(self.config)
        return self.worker.run(jobs)


def analyse_files_on_ray(
    jobs: Sequence[ImageJob], config: BatchConfig, *, address: str, workers: int, chunk: int = 16
) -> Iterator[list[ImageResult]]:
    """Yield results chunk by chunk, in job order, from ``workers`` Ray actors at ``address``
    ("local": a cluster of this machine's, for this run). Nothing of a local cluster is left
    running once the iterator is exhausted, closed, or raised from."""
    chunks = [list(jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)]
    if not chunks:
        return
    actors_wanted = max(1, workers)
    with _ONE_RUN, _connected(address, actors_wanted) as ray:
        actor_class = ray.remote(num_cpus=1, max_restarts=_RETRIES, max_task_retries=_RETRIES)(
            _Analyst
        )
        single = replace(config, threads=1)
        actors = [actor_class.remote(single) for _ in range(actors_wanted)]
        try:
            yield from _in_order(ray, actors, chunks)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)


def _in_order(
    ray: ModuleType, actors: list[Any], chunks: list[list[ImageJob]]
) -> Iterator[list[ImageResult]]:
    """Submit chunks to the least loaded actor, ``_QUEUED`` an actor at most, and yield their
    results in order."""
    waiting: deque[tuple[int, int, Any]] = deque()  # (chunk, actor, its result's reference)
    load = [0] * len(actors)
    submitted = 0
    while submitted < len(chunks) or waiting:
        while submitted < len(chunks) and len(waiting) < _QUEUED * len(actors):
            actor = min(range(len(actors)), key=load.__getitem__)
            waiting.append((submitted, actor, actors[actor].run.remote(chunks[submitted])))
            load[actor] += 1
            submitted += 1
        index, actor, ref = waiting.popleft()
        results = _result(ray, ref, chunks[index])
        load[actor] -= 1
        yield results


def _result(ray: ModuleType, ref: Any, chunk: list[ImageJob]) -> list[ImageResult]:
    try:
        results: list[ImageResult] = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        # The worker's own exception (StorageFullError, a pack not installed): raised as the
        # process pool raises it, not wrapped.
        if isinstance(exc.cause, Exception):
            raise exc.cause from None
        raise
    except ray.exceptions.RayError as exc:
        raise StateError(
            f"Ray lost the worker analysing it ({type(exc).__name__}; restarted {_RETRIES} times"
            " at most): the batches committed so far are kept, run the same ingest to finish",
            subject=str(chunk[0].path),
        ) from exc
    return results


@contextmanager
def _connected(address: str, workers: int) -> Iterator[ModuleType]:
    import ray

    if ray.is_initialized():  # this process is a Ray driver already: its cluster, left as is
        yield ray
        return
    with _sigterm_kept():
        if address == LOCAL:
            with _local_cluster(ray, workers):
                yield ray
            return
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, ray.exceptions.RayError) as exc:
            raise StateError(f"cannot join the Ray cluster: {exc}", subject=address) from exc
        try:
            yield ray
        finally:
            ray.shutdown()  # disconnects this driver; the cluster stays up


@contextmanager
def _sigterm_kept() -> Iterator[None]:
    """``ray.init`` in the main thread replaces the process's SIGTERM handler with its own
    (``sys.exit``); the caller's is put back after."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if main and handler is not None:
            signal.signal(signal.SIGTERM, handler)


@contextmanager
def _local_cluster(ray: ModuleType, workers: int) -> Iterator[None]:
    temp = _cluster_folder()
    reaper = _start_reaper(temp)
    if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        # Without it Ray writes a token to ~/.ray/auth_token. Kept for the process's life:
        # Ray caches the token it read, and a second cluster must be started with the same.
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:
        ray.init(
            address=LOCAL,  # a new cluster, whatever RAY_ADDRESS says
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            object_store_memory=_OBJECT_STORE_BYTES,
            _temp_dir=temp,
        )
        yield
    finally:
        try:
            ray.shutdown()
        finally:
            _stop_reaper(reaper)
            shutil.rmtree(temp, ignore_errors=True)


def _cluster_folder() -> str:
    """A new folder for a local cluster's files, in the system's temporary folder, or in /tmp
    where that one's path is too long: Ray's sockets are made in it, and a socket's path
    (``<folder>/session_<time>_<pid>/sockets/plasma_store``) must fit in 107 bytes."""
    base = tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="ft-ray-", dir=base if len(base) <= _TEMP_PATH_MAX else "/tmp")


def _start_reaper(folder: str) -> subprocess.Popen[bytes] | None:
    if not sys.platform.startswith("linux"):
        return None
    command = [sys.executable, "-c", _REAPER, folder, str(os.getpid())]
    return subprocess.Popen(command, stdin=subprocess.PIPE)


def _stop_reaper(reaper: subprocess.Popen[bytes] | None) -> None:
    if reaper is None:
        return
    assert reaper.stdin is not None
    reaper.stdin.close()  # what is left of the cluster is killed now
    try:
        reaper.wait(timeout=10)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()
