"""Another commit's code, for the scripts that measure this tree against it in one run
(``seal_cost.py``, ``result_page.py``): its ``src``, and a script run on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def tree(revision: str, into: Path) -> Path:
    """``src`` of ``revision``, written under ``into``."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", revision, "src"],
            stdout=out,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_on(
    script: Path, src: Path, arguments: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON figures ``script`` prints last, run with ``src`` as the code it imports
    (``FACETRAIL_BENCH_SRC``) and ``env`` (default: this process's)."""
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        env={**(os.environ if env is None else env), "FACETRAIL_BENCH_SRC": str(src)},
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{script.name} on {src} exited {done.returncode}:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{") :])
    return figures
