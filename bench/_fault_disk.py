"""The full disk of ``faults.py``: a tmpfs mounted on the home's blob folder (root only; the
phase is skipped, saying why, where mounting is not permitted), filled to its last byte and
freed; an ingest over the API and a search with a probe never seen while it is full."""

from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _fault_load import TIMEOUT_S, Answer, search_once
from _fault_setup import Prepared
from _load_service import Service

FILLER = ".filler"


@contextmanager
def blob_disk(folder: Path, megabytes: int) -> Iterator[Path | str]:
    """``folder`` on a tmpfs of its own for the block -> the folder, or why there is none."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        yield "mounting a small disk needs root and mount(8)"
        return
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={megabytes}m,mode=0700"
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if made.returncode != 0:
        yield f"mounting a tmpfs is not permitted here ({made.stderr.strip()})"
        return
    try:
        yield folder
    finally:
        if subprocess.run([umount, str(folder)], timeout=30, check=False).returncode != 0:
            subprocess.run([umount, "-l", str(folder)], timeout=30, check=False)


def fill(folder: Path) -> None:
    """Take every byte left on the disk holding ``folder``."""
    block = b"\0" * 65536
    with (folder / FILLER).open("ab", buffering=0) as out:
        while block:
            try:
                out.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                block = block[: len(block) // 2]


def free(folder: Path) -> None:
    (folder / FILLER).unlink(missing_ok=True)


def _call(
    service: Service, method: str, path: str, token: str, body: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(service.host, service.port, timeout=TIMEOUT_S)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        connection.request(method, path, json.dumps(body) if body else None, headers)
        answer = connection.getresponse()
        data = answer.read()
    except (OSError, http.client.HTTPException):
        return 0, {}
    finally:
        connection.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = {"body": data[:200].decode(errors="replace")}
    return answer.status, parsed if isinstance(parsed, dict) else {}


def ingest_over_api(service: Service, prepared: Prepared, timeout_s: float) -> dict[str, Any]:
    """The held-back photos ingested by a background job over the API -> how it ended: the
    submission's status, the job's final status, its error code and images ingested."""
    status, job = _call(
        service,
        "POST",
        f"/api/v1/galleries/{prepared.gallery}/ingestions",
        prepared.admin_token,
        {"source": prepared.source, "path": str(prepared.new_photos)},
    )
    if status != 202:
        return {"submitted": status, "code": job.get("code")}
    deadline = time.monotonic() + timeout_s
    while job.get("status") in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        _status, job = _call(service, "GET", f"/api/v1/jobs/{job['id']}", prepared.admin_token)
    result = job.get("result") or {}
    return {
        "submitted": status,
        "job": job.get("status"),
        "code": result.get("code"),
        "images": result.get("images_ingested"),
    }


def new_probe_search(service: Service, prepared: Prepared) -> Answer:
    """A search whose probe was never seen (so it must be kept: it needs room)."""
    return search_once(service, prepared.tokens[0], prepared.new_probe)
