"""What sealing every row by the log costs (issue 21), against the code before it, in one run.

Runs ``bench/audit_cost.py`` twice with the same arguments: on this tree, and on the ``src``
of ``--baseline`` (a commit before sealing, taken from git into a temporary folder), one
after the other, then prints both and the differences:

- the governed search's overhead over the bare search (median of pairs, each run's own):
  sealing may add at most 2 ms;
- the governed search itself, and its overhead over the bare search, in ``--search-rounds``
  more runs of searches alone, the two trees alternating (the median of each round's
  difference);
- ``audit verify`` over the log each run built (the same actions, each writing rows; with
  sealing every transaction also has its ``row.seal`` entry): at most 60 s per million entries.

    .venv/bin/python bench/seal_cost.py [--baseline 1763fbb] [--entries 100000]
        [--per-transaction 1] [--searches 30] [--images 200]
        [--database-url URL --database-url URL]

Each run builds its home in a temporary folder: on SQLite in it, or on the empty PostgreSQL
databases named by ``--database-url`` (one for each run, in order).

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _trees import run_on, tree

REPO = Path(__file__).resolve().parents[1]
#: main as it stood before the rows were sealed (issue 21's first commit follows it)
BEFORE_SEALING = "1763fbb"


def _run(src: Path, arguments: list[str], database_url: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("FACETRAIL_DATABASE_URL", None)
    if database_url:
        env["FACETRAIL_DATABASE_URL"] = database_url
    return run_on(REPO / "bench" / "audit_cost.py", src, arguments, env)


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BEFORE_SEALING, help="a commit before sealing")
    parser.add_argument("--entries", type=int, default=100_000, help="actions appended")
    parser.add_argument("--per-transaction", type=int, default=1)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--database-url", action="append", default=[])
    parser.add_argument(
        "--search-rounds",
        type=int,
        default=3,
        help="more runs of searches alone, the two trees alternating (SQLite only)",
    )
    args = parser.parse_args()
    if len(args.database_url) not in (0, 2):
        parser.error("give --database-url twice (one empty database for each run), or not at all")
    urls = args.database_url or [None, None]
    common = [
        *("--searches", str(args.searches), "--images", str(args.images)),
        *("--checkpoint-every", str(args.checkpoint_every), "--rows-per-action", "1"),
        *(("--dataset", str(args.dataset)) if args.dataset else ()),
    ]
    arguments = [
        *("--entries", str(args.entries), "--per-transaction", str(args.per_transaction)),
        *common,
    ]
    searches_only = ["--entries", "10", *common]
    rounds: dict[str, list[dict[str, Any]]] = {"before_sealing": [], "sealed": []}
    with tempfile.TemporaryDirectory() as tmp:
        old = tree(args.baseline, Path(tmp))
        before = _run(old, arguments, urls[0])
        now = _run(REPO / "src", arguments, urls[1])
        # The searches again, the trees alternating, so that both meet the same load.
        for _ in range(args.search_rounds if not args.database_url else 0):
            rounds["before_sealing"].append(_run(old, searches_only, None))
            rounds["sealed"].append(_run(REPO / "src", searches_only, None))
    keys = (
        "entries",
        "append_seconds",
        "verify_seconds",
        "verify_seconds_per_million_entries",
        "bare_search_ms_median",
        "governed_search_ms_median",
        "overhead_ms_median_of_pairs",
    )
    out = {
        "baseline": args.baseline,
        "actions": args.entries,
        "actions_per_transaction": args.per_transaction,
        "before_sealing": {k: before[k] for k in keys},
        "sealed": {k: now[k] for k in keys},
        "search_overhead_added_ms": now["overhead_ms_median_of_pairs"]
        - before["overhead_ms_median_of_pairs"],
        "search_overhead_added_target_ms": 2,
        "search_rounds": len(rounds["sealed"]),
        "governed_search_ms_median_of_rounds": {
            run: _median(r["governed_search_ms_median"] for r in found)
            for run, found in rounds.items()
        },
        "bare_search_ms_median_of_rounds": {
            run: _median(r["bare_search_ms_median"] for r in found) for run, found in rounds.items()
        },
        "governed_search_added_ms_of_rounds": _median(
            n["governed_search_ms_median"] - b["governed_search_ms_median"]
            for b, n in zip(rounds["before_sealing"], rounds["sealed"], strict=True)
        ),
        "search_overhead_added_ms_of_rounds": _median(
            n["overhead_ms_median_of_pairs"] - b["overhead_ms_median_of_pairs"]
            for b, n in zip(rounds["before_sealing"], rounds["sealed"], strict=True)
        ),
        "verify_seconds_per_million_entries": now["verify_seconds_per_million_entries"],
        "verify_target_seconds_per_million_entries": 60,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
