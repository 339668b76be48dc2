"""Runs the VectorIndex contract on a real Milvus server, from inside a network namespace of its
own: ``unshare -n -- python tests/index/_milvus_server_run.py WORKDIR`` (as root).

The server (bench/_milvus_server.py: the ``milvus`` package's 2.3.5 standalone) listens on every
interface, so it starts only where loopback is the one interface there is; its binaries, data
and logs go under WORKDIR/milvus, and it is stopped before this script exits, whatever
happened. tests/index/test_milvus_server.py starts this script in a process group of its own,
with HOME inside WORKDIR, and kills that group if it overruns.

Prints one JSON line: the namespace's interfaces, the server's pid, seconds to healthy and in
all, the index's description, and each behaviour's outcome ("ok" or why it failed).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # its parts import each other by their own names

from _milvus_server import (  # noqa: E402
    NotIsolatedError,
    can_isolate,
    in_namespace,
    interfaces,
    serving,
)
from facetrail.index.milvus_index import MilvusIndex  # noqa: E402
from tests.index.contract import CONTRACT, DIM, erasure_leaves_no_answer  # noqa: E402

__all__ = ["can_isolate", "in_namespace", "interfaces", "main"]


def outcome(check: Callable[[], None], seconds: dict[str, float], name: str) -> str:
    started = time.monotonic()
    try:
        check()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    finally:
        seconds[name] = round(time.monotonic() - started, 1)
    return "ok"


def run_contract(url: str, seconds: dict[str, float]) -> dict[str, str]:
    names = itertools.count()
    opened: list[MilvusIndex] = []

    def make() -> MilvusIndex:
        opened.append(MilvusIndex.open(url, f"c{next(names)}", DIM))
        return opened[-1]

    results: dict[str, str] = {}
    for behaviour in CONTRACT:
        name = behaviour.__name__
        results[name] = outcome(lambda: behaviour(make), seconds, name)  # noqa: B023 (called now)
    erasure = "erasure_leaves_no_answer"
    results[erasure] = outcome(lambda: erasure_leaves_no_answer(make()), seconds, erasure)
    for index in opened:
        index.close()
    return results


def main(workdir: Path) -> dict[str, Any]:
    report: dict[str, Any] = {"interfaces": interfaces()}
    began = time.monotonic()
    try:
        with serving(workdir / "milvus") as (url, pid):
            report["server_pid"] = pid
            report["healthy_s"] = round(time.monotonic() - began, 1)
            with MilvusIndex.open(url, "described", DIM) as index:
                report["describe"] = index.describe()
            report["results"] = run_contract(url, report.setdefault("seconds_each", {}))
    except NotIsolatedError as exc:
        report["error"] = f"refusing to start Milvus outside a loopback-only namespace: {exc}"
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    report["seconds"] = round(time.monotonic() - began, 1)
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))), flush=True)
