"""The clients of ``load_search.py``: the warm-up, the single client timed against the bare
in-process search, and the load itself (locust, headless, in a process of its own)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from _load_gallery import GALLERY
from _load_service import SearchClient, Service
from facetrail.services.context import AppContext
from facetrail.services.galleries._index_store import templates_version
from facetrail.services.galleries.admin import get_gallery_row
from facetrail.services.searching._matching import probe_template, search_gallery
from facetrail.services.searching.search_model import ProbeImage

LOCUSTFILE = Path(__file__).resolve().parent / "_load_locustfile.py"
#: Untimed rounds first: models and the index loaded in every worker and in this process.
WARMUP_ROUNDS = 3
#: A search request body on disk and its content type.
Form = tuple[Path, str]
#: One request of the load: [start (epoch s), milliseconds, HTTP status (0: none), error]
Record = tuple[float, float, int, str | None]


@dataclass
class SingleClient:
    """Milliseconds of each timed turn; ``sent``: HTTP searches, the untimed ones too."""

    governed_http: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    freshness_check: list[float] = field(default_factory=list)
    sent: int = 0


def _send(service: Service, token: str, form: Form) -> tuple[int, float, bytes]:
    """One search on a connection of its own."""
    client = SearchClient(service, token)
    try:
        return client.search(form[0].read_bytes(), form[1])
    finally:
        client.close()


def warm_up(service: Service, tokens: list[str], forms: list[Form], workers: int) -> int:
    """Searches on fresh connections, ``2 x workers`` at once, so that every worker has loaded
    the models and the index before anything is timed -> how many were sent."""
    jobs = [
        (tokens[i % len(tokens)], forms[i % len(forms)]) for i in range(WARMUP_ROUNDS * 2 * workers)
    ]
    with ThreadPoolExecutor(2 * workers) as pool:
        answers = list(pool.map(lambda job: _send(service, *job), jobs))
    for status, _ms, data in answers:
        if status != 201:
            raise SystemExit(f"a warm-up search was answered {status}: {data[:2000]!r}")
    return len(jobs)


def single_client(
    ctx: AppContext, service: Service, token: str, form: Form, probe: Path, pack: str, turns: int
) -> SingleClient:
    """Governed searches over HTTP (one client, one keep-alive connection, nothing else
    running) interleaved with bare in-process searches of the same probe, so that both see the
    same machine; also the probe pipeline alone and the index's freshness check (the gallery's
    templates version a warm worker reads per search), for where the time goes."""
    body, content_type = form[0].read_bytes(), form[1]
    probes = (ProbeImage(probe.name, probe.read_bytes()),)
    client = SearchClient(service, token)
    times = SingleClient()
    try:
        for turn in range(WARMUP_ROUNDS + turns):
            status, governed_ms, data = client.search(body, content_type)
            times.sent += 1
            if status != 201:
                raise SystemExit(f"a single-client search was answered {status}: {data[:2000]!r}")
            bare_ms = _ms(lambda: search_gallery(ctx, GALLERY, probes, 50, None))
            pipeline_ms = _ms(lambda: probe_template(ctx, pack, probes, None))
            with ctx.sessions() as session:
                gallery = get_gallery_row(session, GALLERY)
                freshness_ms = _ms(partial(templates_version, session, gallery))
            if turn >= WARMUP_ROUNDS:
                times.governed_http.append(governed_ms)
                times.bare.append(bare_ms)
                times.pipeline.append(pipeline_ms)
                times.freshness_check.append(freshness_ms)
    finally:
        client.close()
    return times


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - started)


def locust_load(
    service: Service, tokens: list[str], forms: list[Form], clients: int, seconds: int, tmp: Path
) -> list[Record]:
    """``clients`` locust users searching for ``seconds`` -> every request's record. A search
    in flight at the end is finished, not cut off, so that every request sent is counted."""
    plan, records, log = tmp / "plan.json", tmp / "records.json", tmp / "locust.log"
    plan.write_text(json.dumps({"tokens": tokens, "forms": [[str(p), t] for p, t in forms]}))
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["--host", service.base, "-u", str(clients), "-r", str(clients)]
    command += ["-t", f"{seconds}s", "--stop-timeout", "600", "--only-summary"]
    command += ["--exit-code-on-error", "0", "--loglevel", "WARNING"]
    command += ["--plan", str(plan), "--records", str(records)]
    with log.open("wb") as out:
        # cwd: no locust.conf or pyproject [tool.locust] of this checkout is read.
        done = subprocess.run(
            command, cwd=tmp, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 900
        )
    if done.returncode != 0 or not records.exists():
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"locust exited {done.returncode}:\n{tail}")
    return [
        (float(start), float(ms), int(status), error)
        for start, ms, status, error in json.loads(records.read_text())
    ]
