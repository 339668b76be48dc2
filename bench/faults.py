"""Faults under load (issue 26): a small gallery served by ``facetrail serve --workers 2`` on a
PostgreSQL cluster of the benchmark's own, searched back to back by a few clients while, phase
by phase, the database is restarted, a worker is killed with ``kill -9``, the disk under the
blob store fills up (with an ingest and a search that needs room), and one token floods the
API with rate-limited requests.

For each phase it prints the requests by status, the tracebacks in the server's log and those
that reached a client (any 500), the audit entries written, the searches lost or half-written
(answered 201 without their ``search.request`` and ``search.run``, or a request entry with no
outcome that is not visibly pending: must be 0) and the time to recover (the first 201 sent
after the fault ended); at the end ``facetrail audit verify``.

    .venv/bin/python bench/faults.py [--seconds 40] [--faces 2000] [--clients 4]
        [--workers 2] [--flood 10000] [--json FILE] [--facetrail-src DIR]

``--facetrail-src DIR``: the server runs from ``DIR/src`` (a git worktree of an older commit,
for a "before" run); the organisation, the gallery and the clients stay this tree's. The disk
phase mounts a tmpfs on the home's blob folder, which needs root: without it the phase is
skipped, saying why. Exit status 1 when a search was lost or the log does not verify.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from _fault_cluster import Cluster, own_cluster  # noqa: E402
from _fault_disk import blob_disk, fill, free, ingest_over_api, new_probe_search  # noqa: E402
from _fault_load import Load, flood, worker_pids  # noqa: E402
from _fault_report import (  # noqa: E402
    Figures,
    Window,
    audit_size,
    entries_by_kind,
    phase_figures,
    print_table,
)
from _fault_setup import Prepared, prepare  # noqa: E402
from _load_clients import warm_up  # noqa: E402
from _load_service import Service, served  # noqa: E402
from facetrail.config import Settings  # noqa: E402
from facetrail.services.audit import log as audit  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402

#: The searches of the load are not the rate limiter's to refuse; the flood's are.
LOAD_RATE_LIMIT = "1000000/minute"
FLOOD_RATE_LIMIT = "1/minute"
#: How long a phase waits, after its own time, for the first 201 after its fault.
RECOVERY_WAIT_S = 60


def main() -> None:
    args = _parser().parse_args()
    signal.signal(signal.SIGTERM, _exit_on_signal)  # the finally blocks stop what was started
    with tempfile.TemporaryDirectory(prefix="facetrail-faults-") as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)  # the cluster's folder inside is the postgres user's
        with own_cluster(tmp) as cluster:
            figures = run(args, tmp, cluster)
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if not figures["checks_pass"]:
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=data / "lfw-dev")
    parser.add_argument("--seconds", type=float, default=40, help="load time of each phase")
    parser.add_argument("--faces", type=int, default=2000, help="gallery size, all told")
    parser.add_argument("--real-images", type=int, default=24, help="lfw-dev photos ingested")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--down", type=float, default=3, help="seconds PostgreSQL stays down")
    parser.add_argument("--flood", type=int, default=10_000, help="requests of the flood")
    parser.add_argument("--disk-mb", type=int, default=16, help="the blob folder's tmpfs")
    parser.add_argument("--pack", default="arcface-mbf")
    parser.add_argument("--facetrail-src", type=Path, help="serve from DIR/src instead")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def run(args: argparse.Namespace, tmp: Path, cluster: Cluster) -> Figures:
    home = tmp / "home"
    home.mkdir(mode=0o700)
    with blob_disk(home / "blobs", args.disk_mb) as disk:
        settings = Settings(
            home=home,
            database_url=cluster.url,
            threads=1,
            mail_dir=tmp / "mail",
            import_roots=[tmp / "imports"],
        )
        ctx = AppContext.open(settings)
        try:
            prepared = prepare(ctx, args, tmp)
            phases: dict[str, Figures] = {}
            with _serving(settings, args, tmp / "serve.log", LOAD_RATE_LIMIT) as service:
                warm_up(service, prepared.tokens, prepared.forms, args.workers)
                load = Load(service, prepared.tokens, prepared.forms, args.clients)
                load.start()
                try:
                    phases["postgres_restart"] = _restart(ctx, args, cluster, load, tmp)
                    phases["worker_kill"] = _kill(ctx, args, service, load, tmp)
                    phases["disk_full"] = _disk_full(
                        ctx, args, service, load, prepared, disk, tmp / "serve.log"
                    )
                finally:
                    load.stop()
            phases["refusal_flood"] = _flood(ctx, settings, args, tmp, prepared)
            verified = _verify(ctx, settings)
        finally:
            ctx.close()
    lost = sum(p.get("searches_lost_or_half_written", 0) for p in phases.values())
    return {
        "server_source": str(args.facetrail_src or REPO),
        "database": "postgresql (a cluster of its own)",
        "workers": args.workers,
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "gallery_faces": prepared.faces,
        "phases": phases,
        "audit_verify": verified,
        "checks_pass": lost == 0 and verified["ok"],
    }


def _server_env(settings: Settings, args: argparse.Namespace, rate_limit: str) -> dict[str, str]:
    env = os.environ | {
        "FACETRAIL_HOME": str(settings.home),
        "FACETRAIL_DATABASE_URL": str(settings.database_url),
        "FACETRAIL_THREADS": "1",
        "FACETRAIL_MAIL_DIR": str(settings.mail_dir),
        "FACETRAIL_SEARCH_RATE_LIMIT": rate_limit,
        "FACETRAIL_IMPORT_ROOTS": json.dumps([str(p) for p in settings.import_roots]),
        "FACETRAIL_JOB_POLL_SECONDS": "0.5",
    }
    if args.facetrail_src is not None:
        env["PYTHONPATH"] = str(args.facetrail_src.resolve() / "src")
    return env


@contextmanager
def _serving(
    settings: Settings, args: argparse.Namespace, log: Path, rate_limit: str
) -> Iterator[Service]:
    with served(_server_env(settings, args, rate_limit), args.workers, log) as service:
        yield service


def _until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _recovered(load: Load, fault_end: float, phase_end: float) -> float | None:
    """Seconds to the first 201 sent after ``fault_end``, waiting past the phase's end if
    need be (up to ``RECOVERY_WAIT_S``)."""
    _until(phase_end)
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while (seconds := load.first_201_after(fault_end)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return seconds


def _restart(
    ctx: AppContext, args: argparse.Namespace, cluster: Cluster, load: Load, tmp: Path
) -> Figures:
    """PostgreSQL stopped (fast) and started again a few seconds later."""
    window = Window.open(ctx, tmp / "serve.log")
    _until(window.started + args.seconds / 3)
    fault_start = time.monotonic()
    cluster.stop()
    time.sleep(args.down)
    cluster.start()
    fault_end = time.monotonic()
    recovered = _recovered(load, fault_end, window.started + args.seconds)
    figures = phase_figures(ctx, window, load.since(window.started), fault_end, recovered)
    return figures | {"database_down_seconds": round(fault_end - fault_start, 1)}


def _kill(
    ctx: AppContext, args: argparse.Namespace, service: Service, load: Load, tmp: Path
) -> Figures:
    """One service worker killed with SIGKILL while searches run; uvicorn starts another."""
    window = Window.open(ctx, tmp / "serve.log")
    _until(window.started + args.seconds / 3)
    workers = worker_pids(service.pid)
    if not workers:
        return {"skipped": "no worker process found under the server"}
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    fault_end = time.monotonic()
    replaced = None
    while time.monotonic() < fault_end + RECOVERY_WAIT_S:
        now = worker_pids(service.pid)
        if victim not in now and len(now) >= len(workers):
            replaced = round(time.monotonic() - fault_end, 2)
            break
        time.sleep(0.2)
    recovered = _recovered(load, fault_end, window.started + args.seconds)
    figures = phase_figures(ctx, window, load.since(window.started), fault_end, recovered)
    return figures | {"worker_replaced_seconds": replaced}


def _disk_full(
    ctx: AppContext,
    args: argparse.Namespace,
    service: Service,
    load: Load,
    prepared: Prepared,
    disk: Path | str,
    log: Path,
) -> Figures:
    """The blob folder's disk filled: an ingest over the API and a search with a probe never
    seen (which needs room to be kept), then the disk freed and the same ingest again."""
    if isinstance(disk, str):
        return {"skipped": disk}
    window = Window.open(ctx, log)
    _until(window.started + args.seconds / 4)
    fill(disk)
    while_full = ingest_over_api(service, prepared, timeout_s=args.seconds)
    probe = new_probe_search(service, prepared)
    load.record(probe)  # its answer counted with the load's
    free(disk)
    fault_end = time.monotonic()
    after = ingest_over_api(service, prepared, timeout_s=max(args.seconds, 60))
    recovered = _recovered(load, fault_end, window.started + args.seconds)
    figures = phase_figures(ctx, window, load.since(window.started), fault_end, recovered)
    return figures | {
        "ingest_while_full": while_full,
        "new_probe_search_while_full": probe.status,
        "ingest_after_freeing": after,
    }


def _flood(
    ctx: AppContext, settings: Settings, args: argparse.Namespace, tmp: Path, prepared: Prepared
) -> Figures:
    """``--flood`` searches from one token past its rate limit, on a server started with a
    low one; the entries counted once the server has stopped (a count of repeated refusals
    may be written when their minute ends, or when the server stops)."""
    log = tmp / "flood.log"
    with _serving(settings, args, log, FLOOD_RATE_LIMIT) as service:
        seq = audit_size(ctx)
        window = Window(time.monotonic(), seq, log, log.stat().st_size)
        started = time.monotonic()
        statuses = flood(service, prepared.tokens[0], prepared.forms[0], args.flood, args.clients)
        seconds = round(time.monotonic() - started, 1)
    kinds = entries_by_kind(ctx, seq)
    return {
        "seconds": seconds,
        "requests": sum(statuses.values()),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
        "server_log_tracebacks": window.tracebacks(),
        "tracebacks_or_500s_to_clients": statuses.get(500, 0),
        "audit_entries_written": sum(kinds.values()),
        "searches_lost_or_half_written": 0,
        "recover_seconds": None,
        "entries_by_kind": kinds,
    }


def _verify(ctx: AppContext, settings: Settings) -> dict[str, Any]:
    """A checkpoint, then ``facetrail audit verify --json`` over the whole log, as an
    auditor runs it (this tree's command, whichever tree served)."""
    audit.make_checkpoint(ctx)
    command = [sys.executable, "-m", "facetrail", "audit", "verify", "--json"]
    command += ["--db", str(audit.default_database(settings))]
    command += ["--public-key", str(audit.public_key_file(ctx))]
    env = os.environ | {"FACETRAIL_HOME": str(settings.home)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return {
        "ok": done.returncode == 0 and bool(report.get("ok")),
        "entries": report.get("entries"),
        "problem": report.get("problem") or (done.stderr.strip()[-500:] or None),
    }


if __name__ == "__main__":
    main()
