"""The approximate index (``index.ivf_index``) against the exact one, measured in one run.

Builds both over ``--size`` synthetic face-like templates and prints, for each: build (and
training) time, bytes per face (the FAISS file, and the growth of resident memory while
building), p50/p95 latency of a single-threaded top-50 search (FAISS on one thread, as a
service worker searches), the recall of the exact top-50 after re-ranking the short list with
the stored vectors, and the genuine mate at rank 1 against exact search; the exact/IVF latency
ratio; and, for the IVF, how many new templates its ranges would refuse and what a deletion of
1% does (none of the removed ever returned).

The templates: ``--size / --samples`` identities, each a centre drawn from a Gaussian with a
decaying spectrum (dimension j has variance proportional to 1/j, randomly rotated, about a
common mean, as face templates share one), and ``--samples`` noisy samples of it (noise of a
random strength per sample), L2-normalised: mates score about 0.6, impostors 0.12 +- 0.09.
Each probe is one more sample of a gallery identity (its genuine mates are in the gallery).

    .venv/bin/python bench/ann_index.py --size 1000000 [--nprobe 64,128,256] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.index.faiss_index import FaissIndex  # noqa: E402
from facetrail.index.ivf_index import RERANK, IvfIndex  # noqa: E402

DIM = 512
TOP = 50


class Templates:
    """Face-like templates of identities with several samples each (see the module's text)."""

    def __init__(self, identities: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        spectrum = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
        spectrum *= np.sqrt(DIM / np.sum(spectrum**2))
        rotation = np.linalg.qr(self.rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
        mean = self.rng.standard_normal(DIM).astype(np.float32)
        mean *= 0.5 * np.sqrt(DIM) / np.linalg.norm(mean)
        draws = self.rng.standard_normal((identities, DIM), dtype=np.float32)
        self.centres = (draws * spectrum) @ rotation.T + mean

    def samples(self, who: np.ndarray) -> np.ndarray:
        out = np.empty((len(who), DIM), np.float32)
        for start in range(0, len(who), 65536):
            part = who[start : start + 65536]
            noise = self.rng.uniform(0.7, 1.1, size=(len(part), 1)).astype(np.float32)
            drawn = self.centres[part] + noise * self.rng.standard_normal(
                (len(part), DIM), dtype=np.float32
            )
            out[start : start + len(part)] = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
        return out


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def timed_build(build: Callable[[], Any]) -> tuple[Any, float, int]:
    before = rss_bytes()
    started = time.perf_counter()
    index = build()
    return index, time.perf_counter() - started, rss_bytes() - before


def measure(
    search: Callable[[np.ndarray], np.ndarray],
    queries: np.ndarray,
    vectors: np.ndarray,
    truth: np.ndarray,
    mates: np.ndarray,
    owner: np.ndarray,
) -> dict[str, float]:
    """Latency of each single query (index search, then the exact re-rank of its short list
    from the stored vectors), recall of the exact top-50, mate at rank 1."""
    latencies, reranked, recall, rank1 = [], [], [], []
    for query, exact, mate in zip(queries, truth, mates, strict=True):
        started = time.perf_counter()
        found = search(query)
        searched = time.perf_counter()
        found = found[found >= 0]
        top = found[np.argsort(-(vectors[found] @ query), kind="stable")[:TOP]]
        done = time.perf_counter()
        latencies.append(searched - started)
        reranked.append(done - started)
        recall.append(len(np.intersect1d(top, exact)) / len(exact))
        rank1.append(len(top) > 0 and owner[top[0]] == mate)
    ms = np.array(latencies) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p50_ms_with_rerank": round(float(np.percentile(np.array(reranked) * 1e3, 50)), 3),
        "recall_top50": round(float(np.mean(recall)), 4),
        "rank1_mate": round(float(np.mean(rank1)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="templates in the gallery")
    parser.add_argument("--samples", type=int, default=2, help="templates per identity")
    parser.add_argument("--queries", type=int, default=300, help="mated probes searched")
    parser.add_argument("--nprobe", default="", help="comma-separated; default: the index's")
    parser.add_argument("--rerank", type=int, default=RERANK)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    identities = max(1, args.size // args.samples)
    made = Templates(identities, args.seed)
    owner = np.repeat(np.arange(identities), args.samples)[: args.size]
    vectors = made.samples(owner)
    ids = np.arange(args.size, dtype=np.int64)
    mates = made.rng.choice(identities, min(args.queries, identities), replace=False)
    queries = made.samples(mates)

    exact_row, truth = _exact_figures(vectors, ids, queries, mates, owner)

    ivf, ivf_s, ivf_rss = timed_build(lambda: IvfIndex.build(ids, vectors, rerank=args.rerank))
    faiss.omp_set_num_threads(1)
    base = {
        "description": ivf.describe(),
        "build_seconds": round(ivf_s, 2),
        "bytes_per_face_file": round(len(ivf.to_bytes()) / args.size, 1),
        "rss_bytes_per_face": round(ivf_rss / args.size, 1),
        "score_tolerance": round(ivf.score_tolerance, 5),
    }
    rows = []
    for nprobe in [int(p) for p in args.nprobe.split(",") if p] or [ivf.nprobe]:
        ivf.nprobe = nprobe
        row = {
            "nprobe": ivf.nprobe,
            **measure(_ivf_search(ivf), queries, vectors, truth, mates, owner),
        }
        row["exact_to_ivf_latency"] = round(exact_row["p50_ms"] / max(row["p50_ms"], 1e-6), 1)
        rows.append(row)
    figures = {
        "size": args.size,
        "dim": DIM,
        "top": TOP,
        "queries": len(queries),
        "exact": exact_row,
        "ivf": {**base, "settings": rows},
        **_upkeep(ivf, made, identities, ids, queries),
    }
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def _exact(vectors: np.ndarray, ids: np.ndarray) -> FaissIndex:
    index = FaissIndex(DIM)
    index.add(ids, vectors)
    return index


def _exact_figures(
    vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, mates: np.ndarray, owner: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """The exact index's row, and its top-50 of each query (the truth)."""
    exact, seconds, grown = timed_build(lambda: _exact(vectors, ids))
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    truth: np.ndarray = exact.search(queries, TOP)[1]  # every thread: not timed
    faiss.omp_set_num_threads(1)
    row = {
        "build_seconds": round(seconds, 2),
        "bytes_per_face_file": round(len(exact.to_bytes()) / len(ids), 1),
        "rss_bytes_per_face": round(grown / len(ids), 1),
        **measure(
            lambda q: exact.search(q[None], TOP)[1][0], queries, vectors, truth, mates, owner
        ),
    }
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return row, truth


def _ivf_search(ivf: IvfIndex) -> Callable[[np.ndarray], np.ndarray]:
    return lambda q: ivf.search(q[None], TOP)[1][0]


def _upkeep(
    ivf: IvfIndex, made: Templates, identities: int, ids: np.ndarray, queries: np.ndarray
) -> dict[str, Any]:
    """New templates the ranges would refuse; 1% removed: never returned again."""
    fresh = made.samples(made.rng.integers(0, identities, 10_000))
    refused = int(ivf.outside_ranges(fresh).sum())
    gone = made.rng.choice(ids, max(1, len(ids) // 100), replace=False)
    started = time.perf_counter()
    removed = ivf.remove(gone)
    remove_s = time.perf_counter() - started
    returned = np.isin(ivf.search(queries, TOP)[1], gone).sum()
    return {
        "new_templates_refused_per_10k": refused,
        "removed": removed,
        "remove_seconds": round(remove_s, 3),
        "removed_ever_returned": int(returned),
    }


def _print(figures: dict[str, Any]) -> None:
    exact, ivf = figures["exact"], figures["ivf"]
    print(
        f"{figures['size']:,} templates, {figures['dim']}-d, top-{figures['top']}, "
        f"{figures['queries']} mated probes, FAISS on 1 thread"
    )
    print(f"IVF: {ivf['description']}, score tolerance {ivf['score_tolerance']}")
    head = f"{'index':<14}{'build s':>9}{'B/face':>9}{'RSS B/face':>11}{'p50 ms':>8}"
    print(head + f"{'p95 ms':>8}{'+rerank':>9}{'recall50':>9}{'rank-1':>8}{'exact/ivf':>10}")
    print(
        f"{'exact':<14}{exact['build_seconds']:>9}{exact['bytes_per_face_file']:>9}"
        f"{exact['rss_bytes_per_face']:>11}{exact['p50_ms']:>8}{exact['p95_ms']:>8}"
        f"{exact['p50_ms_with_rerank']:>9}{exact['recall_top50']:>9}{exact['rank1_mate']:>8}"
        f"{1.0:>10}"
    )
    for row in ivf["settings"]:
        print(
            f"{'ivf np=' + str(row['nprobe']):<14}{ivf['build_seconds']:>9}"
            f"{ivf['bytes_per_face_file']:>9}{ivf['rss_bytes_per_face']:>11}{row['p50_ms']:>8}"
            f"{row['p95_ms']:>8}{row['p50_ms_with_rerank']:>9}{row['recall_top50']:>9}"
            f"{row['rank1_mate']:>8}{row['exact_to_ivf_latency']:>10}"
        )
    print(
        f"new templates outside the ranges: {figures['new_templates_refused_per_10k']} per "
        f"10,000; removed {figures['removed']:,} in {figures['remove_seconds']} s, returned "
        f"again: {figures['removed_ever_returned']}"
    )


if __name__ == "__main__":
    main()
