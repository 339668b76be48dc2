"""The Milvus backend (``index.milvus_index``) against exact FAISS, measured in one run.

Adds ``--size`` face-like unit templates (512-d) to a MilvusIndex on milvus-lite (embedded, a
folder of its own) and on a Milvus 2.3.5 server (the ``milvus`` package, started inside a
network namespace of its own: needs root, ``unshare`` and ``ip``), and prints for each: the
insert rate through ``add`` (upserts of 5,000), the seconds until the index covers every
template (``settle``), p50/p95 latency of a single top-50 search and its recall of the exact
top-50 (FAISS, one thread), and the Milvus/exact latency ratio. A server search is timed at
both consistency levels: Strong (the default: it waits for the next time tick) and Session.
Last, 1% of the templates are erased (delete, flush, compact, proven gone) and timed.

The templates: ``--size / --samples`` identities, each a centre drawn from a Gaussian with a
decaying spectrum about a common mean, and ``--samples`` noisy samples of it, L2-normalised
(mates score about 0.6, impostors about 0.1); each probe is one more sample of a gallery
identity.

    .venv/bin/python bench/milvus_index.py --size 100000 [--backends lite,server] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from _milvus_server import can_isolate, in_namespace, serving

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.index.faiss_index import FaissIndex  # noqa: E402
from facetrail.index.milvus_index import MilvusIndex  # noqa: E402

DIM = 512
TOP = 50
#: Templates, probes, and each probe's exact top-50 (positions in templates, ids alike).
Gallery = tuple[np.ndarray, np.ndarray, np.ndarray]


def face_like(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """(templates, probes), the same for the same arguments in any process."""
    rng = np.random.default_rng(args.seed)
    identities = max(1, args.size // args.samples)
    spectrum = np.arange(1, DIM + 1, dtype=np.float32) ** -0.5
    spectrum *= np.sqrt(DIM / np.sum(spectrum**2))
    mean = rng.standard_normal(DIM).astype(np.float32)
    mean *= 0.5 * np.sqrt(DIM) / np.linalg.norm(mean)
    centres = rng.standard_normal((identities, DIM), dtype=np.float32) * spectrum + mean

    def sample(who: np.ndarray) -> np.ndarray:
        out = np.empty((len(who), DIM), np.float32)
        for start in range(0, len(who), 65536):
            part = who[start : start + 65536]
            noise = rng.standard_normal((len(part), DIM), dtype=np.float32)
            drawn = centres[part] + 0.9 * noise
            out[start : start + len(part)] = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
        return out

    owner = np.repeat(np.arange(identities), args.samples)[: args.size]
    return sample(owner), sample(rng.integers(0, identities, args.queries))


def timed_searches(
    search: Callable[[np.ndarray], np.ndarray], probes: np.ndarray, truth: np.ndarray
) -> dict[str, float]:
    latencies, recall = [], []
    for probe, exact in zip(probes, truth, strict=True):
        started = time.perf_counter()
        found = search(probe)
        latencies.append(time.perf_counter() - started)
        recall.append(len(np.intersect1d(found, exact)) / len(exact))
    ms = np.array(latencies) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "recall_top50": round(float(np.mean(recall)), 4),
    }


def exact_truth(args: argparse.Namespace) -> tuple[Gallery, dict[str, Any]]:
    """(templates, probes, each probe's exact top-50 ids), and the exact index's row."""
    templates, probes = face_like(args)
    exact = FaissIndex(DIM)
    exact.add(np.arange(len(templates), dtype=np.int64), templates)
    truth = exact.search(probes, TOP)[1]
    faiss.omp_set_num_threads(1)
    row = timed_searches(top_ids(exact), probes, truth)
    return (templates, probes, truth), {"description": exact.describe(), **row}


def top_ids(index: MilvusIndex | FaissIndex) -> Callable[[np.ndarray], np.ndarray]:
    return lambda probe: index.search(probe[None], TOP)[1][0]


def measure(url: str, gallery: Gallery, consistencies: list[str]) -> dict[str, Any]:
    """One backend's figures: insert rate, settle time, searches per consistency, erasure."""
    templates, probes, truth = gallery
    ids = np.arange(len(templates), dtype=np.int64)
    row: dict[str, Any] = {}
    with MilvusIndex.open(url, "bench", DIM) as index:
        row["description"] = index.describe()
        started = time.perf_counter()
        index.add(ids, templates)
        row["insert_per_s"] = round(len(ids) / (time.perf_counter() - started))
        started = time.perf_counter()
        index.settle()
        row["settle_s"] = round(time.perf_counter() - started, 1)
        for level in consistencies:
            with MilvusIndex.open(url, "bench", DIM, consistency=level) as searching:
                row[level] = timed_searches(top_ids(searching), probes, truth)
        gone = np.random.default_rng(0).choice(ids, max(1, len(ids) // 100), replace=False)
        started = time.perf_counter()
        row["erased"] = index.erase(gone)
        row["erase_s"] = round(time.perf_counter() - started, 1)
        row["left"] = len(index)
    return row


def on_server(args: argparse.Namespace) -> dict[str, Any]:
    """Runs this script again in a network namespace of its own, serving Milvus there."""
    with tempfile.TemporaryDirectory(prefix="milvus-bench-") as workdir:
        argv = [sys.executable, __file__, *sys.argv[1:], "--in-namespace", workdir]
        done = subprocess.run(
            in_namespace(argv), capture_output=True, text=True, timeout=3600, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"the server's run failed:\n{done.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="templates in the gallery")
    parser.add_argument("--samples", type=int, default=4, help="templates per identity")
    parser.add_argument("--queries", type=int, default=200, help="mated probes searched")
    parser.add_argument("--backends", default="lite,server", help="comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--in-namespace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.in_namespace:  # the server's half, in its namespace: one JSON line back
        gallery, _ = exact_truth(args)
        with serving(args.in_namespace / "milvus") as (url, _):
            print(json.dumps(measure(url, gallery, ["Strong", "Session"])))
        return

    backends = [b for b in args.backends.split(",") if b]
    if "server" in backends and not can_isolate():
        raise SystemExit("the server runs in a network namespace: needs root, unshare and ip")
    gallery, exact = exact_truth(args)
    figures: dict[str, Any] = {"size": args.size, "dim": DIM, "top": TOP}
    figures["queries"] = len(gallery[1])
    figures["exact"] = exact
    if "lite" in backends:
        with tempfile.TemporaryDirectory(prefix="milvus-lite-bench-") as folder:
            figures["lite"] = measure(str(Path(folder) / "bench.db"), gallery, ["Strong"])
    if "server" in backends:
        figures["server"] = on_server(args)
    for name in ("lite", "server"):
        for level in ("Strong", "Session"):
            if level in figures.get(name, {}):
                searched = figures[name][level]
                searched["p50_ratio_to_exact"] = round(searched["p50_ms"] / exact["p50_ms"], 1)
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def _print(figures: dict[str, Any]) -> None:
    print(
        f"{figures['size']:,} face-like templates, {figures['dim']}-d, top-{figures['top']}, "
        f"{figures['queries']} single mated probes; exact: {figures['exact']['description']}"
    )
    head = f"{'index':<22}{'insert/s':>9}{'settle s':>9}{'p50 ms':>8}{'p95 ms':>8}"
    print(head + f"{'recall50':>9}{'p50/exact':>10}")
    exact = figures["exact"]
    print(
        f"{'exact (FAISS, 1 thr.)':<22}{'':>9}{'':>9}{exact['p50_ms']:>8}{exact['p95_ms']:>8}"
        f"{exact['recall_top50']:>9}{1.0:>10}"
    )
    for name, label in (("lite", "milvus-lite"), ("server", "server")):
        if name not in figures:
            continue
        row = figures[name]
        for level in ("Strong", "Session"):
            if level in row:
                searched = row[level]
                print(
                    f"{label + ' ' + level:<22}{row['insert_per_s']:>9}{row['settle_s']:>9}"
                    f"{searched['p50_ms']:>8}{searched['p95_ms']:>8}{searched['recall_top50']:>9}"
                    f"{str(searched['p50_ratio_to_exact']) + 'x':>10}"
                )
        print(
            f"  {row['description']}: erased {row['erased']:,} in {row['erase_s']} s "
            f"(delete, flush, compact, proven gone), {row['left']:,} left"
        )


if __name__ == "__main__":
    main()
