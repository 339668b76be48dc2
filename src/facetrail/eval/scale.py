"""The scale benchmark's measurement (``facetrail bench scale``): a real gallery among
synthetic distractors, searched through an index of a chosen kind, against exact search in
the same run.

Distractors. Beyond the real templates, ``distractors`` draws from a Gaussian fitted to the
real gallery's templates (their mean and full covariance, with a small ridge so it is
positive definite), then L2-normalises each draw, as templates are: the distractors share the
real faces' mean direction, spread and correlations, so they crowd the real mates as other
faces would, unlike uniform random vectors, which would all sit near zero similarity.

Every vector goes to a float32 file (``vectors.f32``), memory-mapped: it is the store the
short lists are re-scored from (reported apart from the index's own memory, which is what
``bytes_per_face`` counts: the growth of the process's anonymous memory while the index, once
built and saved, is loaded again, as a service worker opens it). A search is what a served
one costs: the index's short list for a top-50, re-scored from the mapped vectors, best 50
kept; FAISS on one thread per search. Exact search
runs in batches over the mapped file with every core, so it never needs the vectors in
memory at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from facetrail.errors import InvalidRequestError
from facetrail.eval.metrics import ProbeOutcome, fnir_at_fpir, rank1_rate
from facetrail.index.base import VectorIndex
from facetrail.index.choose import build_index, load_index
from facetrail.index.faiss_index import FaissIndex, set_threads
from facetrail.index.ivf_index import IvfIndex
from facetrail.index.ivfpq_index import IvfPqIndex

IndexChoice = Literal["auto", "exact", "ivf", "ivfpq"]
TOP = 50
#: Distractors drawn and written at a time.
_CHUNK = 131_072
#: Gallery vectors scored against every probe at a time by the exact search.
_EXACT_CHUNK = 262_144


@dataclass(frozen=True)
class RealTemplates:
    """The real gallery and probes (a probe without a template counts as a miss)."""

    gallery: np.ndarray
    #: each mated probe's template (None: failed) and its mate's row in ``gallery`` (-1: its
    #: mate was not enrolled)
    mated: list[tuple[np.ndarray | None, int]]
    nonmated: list[np.ndarray | None]


def distractors(real: np.ndarray, count: int, seed: int) -> Iterator[np.ndarray]:
    """``count`` unit vectors from a Gaussian fitted to ``real`` (see the module's text), in
    chunks."""
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0, dtype=np.float64)
    cov = np.cov(real, rowvar=False, dtype=np.float64)
    cov += np.eye(len(mean)) * 1e-6 * float(np.trace(cov)) / len(mean)
    factor = np.linalg.cholesky(cov).astype(np.float32)
    left = count
    while left > 0:
        size = min(left, _CHUNK)
        draws = rng.standard_normal((size, len(mean)), dtype=np.float32) @ factor.T
        draws += mean.astype(np.float32)
        yield draws / np.linalg.norm(draws, axis=1, keepdims=True)
        left -= size


def anon_rss() -> int:
    """This process's anonymous resident memory (bytes): what an index holds, not the pages
    of a mapped file, nor memory freed but kept by the allocator (returned first)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: counted as it stands
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_scale(
    real: RealTemplates,
    size: int,
    choice: IndexChoice,
    workdir: Path,
    *,
    seed: int = 0,
    exact_probes: int | None = None,
    erase: int = 0,
    nprobes: tuple[int, ...] = (),
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build, search and score the index over ``size`` faces (the real gallery included);
    ``erase``: then remove that many distractors and measure again; ``nprobes``: an inverted
    file searched again probing each of these numbers of lists; ``threads``: FAISS's threads
    for building and exact search (default: every core)."""
    say = progress or (lambda _: None)
    n_real, dim = real.gallery.shape
    if size < n_real:
        raise InvalidRequestError(
            f"--size {size:,} is smaller than the real gallery ({n_real:,} faces)"
        )
    path = workdir / "vectors.f32"
    say(f"drawing {size - n_real:,} distractors")
    stored = np.lib.format.open_memmap(path, "w+", np.float32, (size, dim))
    stored[:n_real] = real.gallery
    at = n_real
    for chunk in distractors(real.gallery, size - n_real, seed):
        stored[at : at + len(chunk)] = chunk
        at += len(chunk)
    stored.flush()
    ids = np.arange(size, dtype=np.int64)
    say(f"building the {choice} index")
    every = threads or os.cpu_count() or 1
    faiss.omp_set_num_threads(every)
    started = time.perf_counter()
    index = _built(choice, ids, stored)
    build_seconds = time.perf_counter() - started
    index, index_bytes = _as_a_worker_holds_it(index, workdir / "index.faiss")
    queries, mates, mated = _probes(real, dim)
    say("exact search (the truth)")
    run = _Run(stored, n_real, queries, mates, mated, *_exact_first(stored, queries, exact_probes))
    set_threads(1)
    say("searching one query at a time")
    figures: dict[str, Any] = {
        "size": size,
        "real_gallery": n_real,
        "index": index.describe(),
        "build_seconds": round(build_seconds, 2),
        "bytes_per_face": round(index_bytes / size, 1),
        "rerank_store_bytes_per_face": dim * 4,
        "distractors": "Gaussian fitted to the real gallery's mean and covariance, normalised",
        **_searched(index, run),
    }
    if nprobes and isinstance(index, IvfIndex | IvfPqIndex):
        figures["nprobe_sweep"] = _swept(index, nprobes, run, say)
    if erase:
        say(f"erasing {erase:,} distractors")
        figures["after_erasure"] = _erased(index, run, erase, seed)
    set_threads(every)
    return figures


def _as_a_worker_holds_it(index: VectorIndex, path: Path) -> tuple[VectorIndex, int]:
    """``index`` saved and loaded again, as a service worker opens it, -> (it, the growth of
    this process's anonymous memory the load caused): what a worker holds, not the garbage a
    build leaves in the allocator."""
    path.write_bytes(index.to_bytes())  # type: ignore[attr-defined]  # FAISS kinds all save
    del index
    gc.collect()
    before = anon_rss()
    loaded = load_index(path)
    return loaded, anon_rss() - before


def _built(choice: IndexChoice, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    if choice == "auto":
        return build_index(vectors.shape[1], ids, vectors)
    if choice == "ivf":
        return IvfIndex.build(ids, vectors)
    if choice == "ivfpq":
        return IvfPqIndex.build(ids, vectors)
    exact = FaissIndex(vectors.shape[1])
    for start in range(0, len(ids), _CHUNK):
        exact.add(ids[start : start + _CHUNK], vectors[start : start + _CHUNK])
    return exact


def _probes(real: RealTemplates, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every probe with a template (rows), its mate's id (-1: none) and whether it is mated;
    probes without one are kept as zero rows, which find no one."""
    rows = [t for t, _ in real.mated] + list(real.nonmated)
    queries = np.stack([t if t is not None else np.zeros(dim, np.float32) for t in rows])
    mates = np.array(
        [m if t is not None else -1 for t, m in real.mated] + [-1] * len(real.nonmated)
    )
    mated = np.array([True] * len(real.mated) + [False] * len(real.nonmated))
    return queries.astype(np.float32), mates, mated


def _exact_first(
    stored: np.ndarray, queries: np.ndarray, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each probe's exact rank-1 (id, score) over the whole file, in batches (``limit``: only
    the first that many probes, the others -1)."""
    count = len(queries) if limit is None else min(limit, len(queries))
    best = np.full(len(queries), -1, np.int64)
    score = np.full(len(queries), -np.inf, np.float32)
    part = queries[:count]
    for start in range(0, len(stored), _EXACT_CHUNK):
        scores = part @ np.asarray(stored[start : start + _EXACT_CHUNK]).T
        top = scores.argmax(axis=1)
        value = scores[np.arange(count), top]
        better = value > score[:count]
        best[:count][better] = top[better] + start
        score[:count][better] = value[better]
    return best, score


def _search_one(index: VectorIndex, stored: np.ndarray, query: np.ndarray) -> tuple[int, float]:
    """A served search's top-50: the short list re-scored from the mapped vectors -> its
    rank-1 (id, score), or (-1, 0) when it found no one."""
    _, found = index.search(query[None], TOP)
    found = found[0][found[0] >= 0]
    if len(found) == 0 or not query.any():
        return -1, 0.0
    order = np.sort(found)  # reads the mapped file in order
    scores = np.asarray(stored[order]) @ query
    keep = np.argsort(-scores, kind="stable")[:TOP]
    return int(order[keep[0]]), float(scores[keep[0]])


@dataclass(frozen=True)
class _Run:
    """What every search of one run is measured against."""

    #: every vector, the real gallery's first (the mapped re-scoring store)
    stored: np.ndarray
    n_real: int
    queries: np.ndarray
    #: each probe's mate's id (-1: none) and whether it is mated
    mates: np.ndarray
    mated: np.ndarray
    #: each probe's exact rank-1 (id, score); id -1 where exact search was not run for it
    exact_top: np.ndarray
    exact_score: np.ndarray


def _searched(index: VectorIndex, run: _Run) -> dict[str, Any]:
    stored, queries, mates, mated = run.stored, run.queries, run.mates, run.mated
    exact_top, exact_score = run.exact_top, run.exact_score
    latencies, firsts = [], []
    for query in queries:
        started = time.perf_counter()
        firsts.append(_search_one(index, stored, query))
        latencies.append(time.perf_counter() - started)
    ms = np.array(latencies) * 1e3
    with ThreadPoolExecutor(2) as pool:  # throughput: two searches at a time
        started = time.perf_counter()
        list(pool.map(lambda q: _search_one(index, stored, q), queries))
        qps = len(queries) / (time.perf_counter() - started)
    first_ids = np.array([f for f, _ in firsts], np.int64)
    first_scores = np.array([s for _, s in firsts], np.float32)
    ann = _outcomes(first_ids, first_scores, mates, mated)
    measured = exact_top >= 0  # the probes exact search was run for
    exact = _outcomes(exact_top[measured], exact_score[measured], mates[measured], mated[measured])
    ann_same = _outcomes(
        first_ids[measured], first_scores[measured], mates[measured], mated[measured]
    )
    return {
        "probes": len(queries),
        "exact_probes": int(measured.sum()),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "qps": round(qps, 1),
        "rank1_ann": round(rank1_rate(ann_same), 5),
        "rank1_exact": round(rank1_rate(exact), 5),
        "fnir_ann": round(fnir_at_fpir(ann_same, 0.01).fnir, 5),
        "fnir_exact": round(fnir_at_fpir(exact, 0.01).fnir, 5),
        "rank1_ann_all_probes": round(rank1_rate(ann), 5),
        # mates exact search found at rank 1 that the index's search did not
        "exact_rank1_lost": int(
            np.sum(measured & (mates >= 0) & (exact_top == mates) & (first_ids != mates))
        ),
    }


def _outcomes(
    firsts: np.ndarray, scores: np.ndarray, mates: np.ndarray, mated: np.ndarray
) -> list[ProbeOutcome]:
    return [
        ProbeOutcome(
            bool(is_mated),
            float(score) if first >= 0 else None,
            bool(is_mated and first >= 0 and first == mate),
        )
        for first, score, mate, is_mated in zip(firsts, scores, mates, mated, strict=True)
    ]


def _swept(
    index: IvfIndex | IvfPqIndex,
    nprobes: tuple[int, ...],
    run: _Run,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The same searches probing each of ``nprobes`` lists (the index's own setting back
    after)."""
    own, rows = index.nprobe, []
    for nprobe in nprobes:
        say(f"probing {nprobe} of {index.nlist} lists")
        index.nprobe = nprobe
        again = _searched(index, run)
        keep = ("p50_ms", "p99_ms", "rank1_ann", "rank1_exact", "fnir_ann", "exact_rank1_lost")
        rows.append({"nprobe": index.nprobe, "nlist": index.nlist, **{k: again[k] for k in keep}})
    index.nprobe = own
    return rows


def _erased(index: VectorIndex, run: _Run, count: int, seed: int) -> dict[str, Any]:
    """Remove ``count`` distractors; none may come back, searched by its own vector."""
    rng = np.random.default_rng(seed + 1)
    stored = run.stored
    gone = np.sort(rng.choice(np.arange(run.n_real, len(stored)), count, replace=False))
    started = time.perf_counter()
    removed = index.remove(gone)
    seconds = time.perf_counter() - started
    _, found = index.search(np.asarray(stored[gone]), TOP)
    again = _searched(index, run)
    return {
        "erased": removed,
        "erase_seconds": round(seconds, 3),
        "erased_returned": int(np.isin(found, gone).sum()),
        **{k: again[k] for k in ("p50_ms", "p99_ms", "rank1_ann", "fnir_ann")},
    }
