"""Audit proofs and tiles at scale (issue 23: "proofs must cost O(log n) reads"), measured in
one run on this machine.

A log of ``--entries`` entries is made (many appends a transaction, to make it in minutes),
then, for ``--proofs`` random entries, the median time of:

- an inclusion proof as facetrail makes it now (``audit.prove_entry``: the entry, O(log n)
  stored tile hashes and leaf hashes, checked against the signed root), with the reads made;
- the same proof from every leaf hash read from the database (how it was made before);

and the same for a consistency proof between two checkpoints; the peak memory (RSS) of
``facetrail audit verify`` run on the log at half its size and at its full size (it streams:
the two should be alike); then the time to publish the log as C2SP tlog-tiles (``audit
tiles``) from scratch, and again after ``--more`` entries (incremental). Prints the ratios
(from-every-leaf / stored) and ``--json FILE``.

    .venv/bin/python bench/audit_proofs.py [--entries 1000000] [--proofs 50] [--more 10000]

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import select  # noqa: E402

from facetrail.config import Settings  # noqa: E402
from facetrail.governance import merkle  # noqa: E402
from facetrail.governance.audit import AuditEvent, append  # noqa: E402
from facetrail.governance.stored_tree import StoredTree  # noqa: E402
from facetrail.services.audit import log as audit  # noqa: E402
from facetrail.services.audit.tiles import publish_tiles  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.store.schema import AuditEntryRow  # noqa: E402

PER_TRANSACTION = 5000


def _grow(ctx: AppContext, entries: int) -> None:
    done = 0
    while done < entries:
        batch = min(PER_TRANSACTION, entries - done)
        with ctx.transaction() as session:
            for i in range(batch):
                n = done + i
                details = {"n": n, "case": f"2026-{n % 99991:06d}"}
                append(session, AuditEvent(f"user{n % 97}", "bench.event", f"e-{n}", details))
        done += batch
        print(f"\r{done:,} / {entries:,} entries", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def _median_ms(runs: list[float]) -> float:
    return round(statistics.median(runs) * 1000, 3)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _every_leaf(ctx: AppContext) -> list[bytes]:
    with ctx.sessions() as session:
        return [
            bytes(h)
            for h in session.scalars(select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.seq))
        ]


def _verify_peak_mb(ctx: AppContext) -> tuple[float, float]:
    """``facetrail audit verify`` of this log in a process of its own -> (its peak RSS in MB,
    seconds); it must pass."""
    env = {**os.environ, "FACETRAIL_HOME": str(ctx.settings.home), "FACETRAIL_THREADS": "1"}
    code = (
        "import resource, sys; from facetrail.cli.main import main; sys.argv = ['facetrail', "
        "'audit', 'verify']\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    peak = [line for line in done.stdout.splitlines() if line.startswith("PEAK")]
    if not peak or not peak[-1].endswith((" 0", " None")):
        raise SystemExit(f"audit verify failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return round(int(peak[-1].split()[1]) / 1024, 1), round(seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=50)
    parser.add_argument("--more", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facetrail-proofs-") as folder:
        ctx = AppContext.open(Settings(home=Path(folder) / "home", threads=1))
        try:
            figures = _measure(ctx, Path(folder), args)
        finally:
            ctx.close()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def _measure(ctx: AppContext, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    audit.ensure_keys(ctx)
    started = time.perf_counter()
    _grow(ctx, args.entries // 2)
    first = audit.make_checkpoint(ctx)
    made_s = time.perf_counter() - started
    half_peak, half_s = _verify_peak_mb(ctx)
    started = time.perf_counter()
    _grow(ctx, args.entries - args.entries // 2)
    second = audit.make_checkpoint(ctx)
    made_s += time.perf_counter() - started
    full_peak, full_s = _verify_peak_mb(ctx)
    rng = random.Random(11)
    picks = [rng.randrange(1, second.tree_size + 1) for _ in range(args.proofs)]
    stored, naive, reads = [], [], []
    for entry in picks:
        stored.append(_timed(lambda e=entry: audit.prove_entry(ctx, e)))  # type: ignore[misc]
        naive.append(
            _timed(
                lambda e=entry: merkle.inclusion_proof(  # type: ignore[misc]
                    _every_leaf(ctx)[: second.tree_size], e - 1
                )
            )
        )
        with ctx.sessions() as session:
            tree = StoredTree(session)
            merkle.inclusion_path(second.tree_size, entry - 1, tree.range_hash)
            reads.append(tree.reads)
    consistency_stored = _timed(lambda: audit.prove_consistency(ctx, 1, 2))
    consistency_naive = _timed(
        lambda: merkle.consistency_proof(_every_leaf(ctx)[: second.tree_size], first.tree_size)
    )
    tiles = folder / "tiles"
    publish_s = _timed(lambda: publish_tiles(ctx, tiles))
    _grow(ctx, args.more)
    audit.make_checkpoint(ctx)
    again_s = _timed(lambda: publish_tiles(ctx, tiles))
    inclusion = {"stored_ms": _median_ms(stored), "every_leaf_ms": _median_ms(naive)}
    figures: dict[str, Any] = {
        "entries": second.tree_size,
        "log_made_s": round(made_s, 1),
        "inclusion": inclusion
        | {
            "ratio": round(inclusion["every_leaf_ms"] / max(inclusion["stored_ms"], 1e-3), 1),
            "reads_median": statistics.median(reads),
            "reads_max": max(reads),
        },
        "consistency": {
            "stored_ms": round(consistency_stored * 1000, 3),
            "every_leaf_ms": round(consistency_naive * 1000, 3),
            "ratio": round(consistency_naive / max(consistency_stored, 1e-6), 1),
        },
        "verify": {
            "half_entries": first.tree_size,
            "half_peak_mb": half_peak,
            "half_s": half_s,
            "full_peak_mb": full_peak,
            "full_s": full_s,
        },
        "tiles": {
            "publish_all_s": round(publish_s, 2),
            "publish_more_s": round(again_s, 3),
            "more_entries": args.more,
        },
    }
    print(
        f"{second.tree_size:,} entries: an inclusion proof {inclusion['stored_ms']} ms from "
        f"stored tiles ({statistics.median(reads)} reads) against {inclusion['every_leaf_ms']} "
        f"ms from every leaf ({figures['inclusion']['ratio']}x); tiles published in "
        f"{publish_s:.1f} s, {args.more:,} more in {again_s:.2f} s; audit verify peaked at "
        f"{half_peak} MB for {first.tree_size:,} entries, {full_peak} MB for all",
        file=sys.stderr,
    )
    return figures


if __name__ == "__main__":
    main()
