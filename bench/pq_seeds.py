"""How many genuine mates the compressed index (``index.ivfpq_index``) loses against exact
search, by its training seed, the lists it probes and its short list, in one run.

The gallery is the one ``facetrail bench scale`` measures: the real templates kept by its
``--templates FILE`` (the lfw-dev gallery and probes, made by the product's pipeline) among
distractors drawn from a Gaussian fitted to them (``eval.scale.distractors``) up to ``--size``.
For each seed the index is built anew (the seed draws its training sample and seeds its
k-means); each mated probe's short list is re-scored exactly from the vectors, and a mate is
lost when exact search finds it at rank 1 and the re-scored short list does not. The short
list's length is the index's ``SHORT_LIST``, set for the run.

    .venv/bin/python bench/pq_seeds.py --templates lfw.npz --size 1000000 \\
        [--seeds 0,1234,7] [--nprobe 640,768] [--short 200,400] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.eval.scale import distractors  # noqa: E402
from facetrail.index import ivfpq_index  # noqa: E402
from facetrail.index.faiss_index import set_threads  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=Path, required=True, help="bench scale's npz")
    parser.add_argument("--size", type=int, default=1_000_000, help="faces, all told")
    parser.add_argument("--seeds", type=_ints, default=[0, 1234, 7])
    parser.add_argument("--nprobe", type=_ints, default=[], help="default: the index's own")
    parser.add_argument("--short", type=_ints, default=[200, 400], help="short lists")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with np.load(args.templates) as held:
        gallery, probes = held["gallery"].astype(np.float32), held["probes"]
        mates, mated = held["mates"], held["mated"]
    keep = mated & (mates >= 0) & probes.any(axis=1)
    queries = np.ascontiguousarray(probes[keep], dtype=np.float32)
    wanted = mates[keep]
    vectors = np.empty((args.size, gallery.shape[1]), np.float32)
    vectors[: len(gallery)] = gallery
    at = len(gallery)
    for chunk in distractors(gallery, args.size - len(gallery), 0):
        vectors[at : at + len(chunk)] = chunk
        at += len(chunk)
    every = faiss.omp_get_max_threads()
    found_exactly = _exact_first(vectors, queries) == wanted
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        faiss.omp_set_num_threads(every)
        started = time.perf_counter()
        index = ivfpq_index.IvfPqIndex.build(np.arange(args.size), vectors, seed=seed)
        build = round(time.perf_counter() - started, 1)
        set_threads(1)
        for nprobe in args.nprobe or [index.nprobe]:
            index.nprobe = nprobe
            for short in args.short:
                ivfpq_index.SHORT_LIST = short
                lost = _lost(index, vectors, queries, wanted, found_exactly)
                row = {"seed": seed, "nprobe": nprobe, "short": short, "lost": lost}
                rows.append(row | {"build_seconds": build})
                print(f"seed {seed}: {nprobe} lists probed, short list {short}: {lost} lost")
    figures = {
        "size": args.size,
        "mated_probes": len(queries),
        "exact_rank1": int(found_exactly.sum()),
        "runs": rows,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _exact_first(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    best = np.full(len(queries), -np.inf, np.float32)
    first = np.zeros(len(queries), np.int64)
    for start in range(0, len(vectors), 262_144):
        scores = queries @ vectors[start : start + 262_144].T
        top = scores.argmax(axis=1)
        value = scores[np.arange(len(queries)), top]
        better = value > best
        best[better], first[better] = value[better], top[better] + start
    return first


def _lost(
    index: ivfpq_index.IvfPqIndex,
    vectors: np.ndarray,
    queries: np.ndarray,
    wanted: np.ndarray,
    found_exactly: np.ndarray,
) -> int:
    lost = 0
    for query, mate, exact in zip(queries, wanted, found_exactly, strict=True):
        _, ids = index.search(query[None], 1)
        short = np.sort(ids[0][ids[0] >= 0])
        lost += bool(exact and short[np.argmax(vectors[short] @ query)] != mate)
    return lost


if __name__ == "__main__":
    main()
