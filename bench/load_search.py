"""Searches under load: concurrent clients searching a 100k-face gallery through
``facetrail serve``, measured in one run.

Figures (the issue's must-show item), all from this run on this machine:

- 20 concurrent clients (locust, headless, on loopback; one investigator and one API token
  each) send searches back to back for 2 minutes to ``facetrail serve --workers 4``:
  throughput (searches/s), p50/p95/p99 latency, and the errors (any answer but 201; must be 0);
- afterwards ``facetrail audit verify`` passes, and there is exactly one ``search.request``
  entry per search request sent over HTTP (and one ``search.run``: each ran);
- with no other load, the p50 of a governed search over HTTP (one client, sequential) over the
  p50 of the bare in-process search of the same probe (``services._matching.search_gallery``:
  the same pipeline, index search and candidate read, without policy, audit or storage):
  target <= 1.3x. Interleaved pairs (100 by default, ``--sequential``), so both see the same
  machine.

The gallery: a few hundred real lfw-dev faces ingested through the product, then synthetic
templates drawn from a Gaussian fitted to them (``_load_gallery.py``) up to ``--faces``, then
the index rebuilt. The organisation is made through the services (``_load_organisation.py``).

    .venv/bin/python bench/load_search.py --postgres [--faces 100000] [--workers 4]
        [--clients 20] [--seconds 120] [--json FILE]

Database: ``--postgres`` makes a fresh database on PostgreSQL (``--postgres-admin``, default
127.0.0.1:5432 as user postgres), dropped at the end; ``--database-url URL`` uses an empty
database; by default the SQLite file in a temporary home. Exit status 1 when a check fails
(an error under load, a count that does not match, a log that does not verify).

``make test`` runs it at a tiny size (tests/bench) so it cannot rot; only full-size figures
mean anything. Every worker and this process run onnxruntime, and search their indexes, with
``--threads`` threads each.
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
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from _load_clients import Form, Record, locust_load, single_client, warm_up  # noqa: E402
from _load_gallery import (  # noqa: E402
    GALLERY,
    BuiltGallery,
    add_synthetic_faces,
    ingest_real_faces,
    lfw_photos,
    rebuild_index,
)
from _load_organisation import (  # noqa: E402
    CASE,
    JUSTIFICATION,
    OFFENSE,
    first_admin,
    searching_agency,
)
from _load_report import (  # noqa: E402
    Figures,
    gallery_figures,
    load_figures,
    machine_figures,
    print_table,
    single_client_figures,
)
from _load_service import database, search_form, served  # noqa: E402
from facetrail.config import Settings  # noqa: E402
from facetrail.services.audit import log as audit  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.galleries.indexing import use_search_threads  # noqa: E402
from facetrail.store.schema import AuditEntryRow  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
#: The API's search rate limit (per account and per client address), lifted for the load: all
#: clients come from one address, and the figures would measure the limiter's refusals, not
#: searches. The limiter still counts every request.
SEARCH_RATE_LIMIT = "1000000/minute"
SEARCH_KINDS = ("search.request", "search.run", "search.refused", "search.failed")


def main() -> None:
    args = _parser().parse_args()
    # A stop by SIGTERM still stops the server and drops the database (the finally blocks).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    postgres_admin = args.postgres_admin if args.postgres else None
    with (
        tempfile.TemporaryDirectory(prefix="facetrail-load-") as tmp,
        database(args.database_url, postgres_admin) as url,
    ):
        figures = run(args, Path(tmp), url)
    print_table(figures)
    for sample in figures["load"]["error_samples"]:
        print(f"error: {sample}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    if not figures["checks_pass"]:
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    parser.add_argument("--faces", type=int, default=100_000, help="gallery size, all told")
    parser.add_argument("--real-images", type=int, default=300, help="lfw-dev photos ingested")
    parser.add_argument("--probes", type=int, default=16, help="mated lfw-dev probes sent")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads a process")
    parser.add_argument("--sequential", type=int, default=100, help="N of the single-client p50")
    parser.add_argument("--pack", default="arcface-mbf")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="an empty database (default: SQLite in the home)")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database")
    parser.add_argument("--postgres-admin", default=PG_ADMIN, help="libpq URL of an admin db")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser


class Laps:
    """Wall-clock seconds of each phase of the run, for the JSON figures."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._last, 2)
        self._last = now


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def run(args: argparse.Namespace, tmp: Path, database_url: str | None) -> Figures:
    settings = Settings(
        home=tmp / "home", database_url=database_url, threads=args.threads, mail_dir=tmp / "mail"
    )
    ctx = AppContext.open(settings)
    # The bare search runs here as a served worker runs it (api.app's lifespan): with as many
    # index-search threads as onnxruntime threads, not every core, or the ratio would compare
    # a single-threaded index search with a parallel one.
    use_search_threads(args.threads)
    laps = Laps()
    try:
        built, tokens, probes = _prepare(ctx, args, tmp)
        forms = _write_forms(probes, tmp / "forms")
        laps.lap("setup")
        with served(_service_env(settings), args.workers, tmp / "serve.log") as service:
            laps.lap("server_start")
            warmed = warm_up(service, tokens, forms, args.workers)
            laps.lap("warm_up")
            single = single_client(
                ctx, service, tokens[0], forms[0], probes[0], args.pack, args.sequential
            )
            laps.lap("single_client")
            before = _search_entries(ctx)
            records = locust_load(service, tokens, forms, args.clients, args.seconds, tmp)
            laps.lap("load")
        after = _search_entries(ctx)
        sent_before_load = warmed + single.sent
        logged = _audit(ctx, settings, before, after, sent_before_load, records)
        laps.lap("audit")
        server_log = (tmp / "serve.log").read_text(errors="replace")
    finally:
        ctx.close()
    single_figures = single_client_figures(single)
    load = load_figures(
        records, args.clients, args.seconds, single_figures["bare_in_process_p50_ms"]
    )
    return {
        "gallery": gallery_figures(built),
        "database": "sqlite" if database_url is None else "postgresql",
        "service": {
            "workers": args.workers,
            "onnxruntime_threads": args.threads,
            "search_rate_limit": SEARCH_RATE_LIMIT,
        },
        "single_client": single_figures,
        "load": load,
        "server_tracebacks": server_log.count("Traceback"),
        "audit": logged,
        "machine": machine_figures(),
        "phase_seconds": laps.seconds,
        "checks_pass": (
            load["errors"] == 0
            and logged["verify_ok"]
            and logged["one_request_entry_per_http_search"]
        ),
    }


def _prepare(
    ctx: AppContext, args: argparse.Namespace, tmp: Path
) -> tuple[BuiltGallery, list[str], list[Path]]:
    """The gallery and the organisation, with progress bars on stderr."""
    photos, probes = lfw_photos(args.dataset, args.real_images, args.probes)
    with Progress(console=Console(stderr=True)) as progress:
        admin = first_admin(ctx)
        task = progress.add_task("ingest lfw-dev photos", total=len(photos))
        images, faces, ingest_s = ingest_real_faces(
            ctx,
            admin,
            photos,
            tmp / "photos",
            args.pack,
            lambda more, total: progress.update(task, advance=more, total=total),
        )
        synthetic = args.faces - faces
        if synthetic < 0:
            raise SystemExit(f"--faces {args.faces} is below the {faces} real faces ingested")
        task = progress.add_task("synthetic templates", total=synthetic)
        synthetic_s = add_synthetic_faces(
            ctx, synthetic, args.seed, lambda n: progress.advance(task, n)
        )
        task = progress.add_task("index rebuild", total=None)
        entries, description, index_s = rebuild_index(ctx, admin)
        progress.update(task, total=1, completed=1)
        task = progress.add_task("investigators", total=args.clients)
        tokens = searching_agency(
            ctx, admin, GALLERY, args.clients, lambda n: progress.advance(task, n)
        )
    built = BuiltGallery(
        GALLERY, images, faces, synthetic, ingest_s, synthetic_s, index_s, entries, description
    )
    return built, tokens, probes


def _write_forms(probes: list[Path], folder: Path) -> list[Form]:
    """One search request body per probe, written once: (file, content type)."""
    folder.mkdir()
    fields = {
        "case_number": CASE,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "attest": "true",
        "galleries": GALLERY,
    }
    forms = []
    for number, probe in enumerate(probes):
        body, content_type = search_form(probe, fields)
        path = folder / f"search-{number:02d}.bin"
        path.write_bytes(body)
        forms.append((path, content_type))
    return forms


def _service_env(settings: Settings) -> dict[str, str]:
    """The server's environment: this process's, with the settings of this run's home."""
    env = os.environ | {
        "FACETRAIL_HOME": str(settings.home),
        "FACETRAIL_THREADS": str(settings.threads),
        "FACETRAIL_MAIL_DIR": str(settings.mail_dir),
        "FACETRAIL_SEARCH_RATE_LIMIT": SEARCH_RATE_LIMIT,
    }
    env.pop("FACETRAIL_DATABASE_URL", None)
    if settings.database_url is not None:
        env["FACETRAIL_DATABASE_URL"] = settings.database_url
    return env


def _search_entries(ctx: AppContext) -> dict[str, int]:
    with ctx.sessions() as session:
        rows = session.execute(
            select(AuditEntryRow.kind, func.count())
            .where(AuditEntryRow.kind.in_(SEARCH_KINDS))
            .group_by(AuditEntryRow.kind)
        ).all()
    counts = dict.fromkeys(SEARCH_KINDS, 0)
    counts.update({str(kind): int(n) for kind, n in rows})
    return counts


def _audit(
    ctx: AppContext,
    settings: Settings,
    before: dict[str, int],
    after: dict[str, int],
    sent_before_load: int,
    records: list[Record],
) -> Figures:
    """The entries the searches wrote against the requests sent; then a checkpoint and
    ``facetrail audit verify --json`` over the whole log, as an auditor runs it."""
    sent = sent_before_load + len(records)
    during = after["search.request"] - before["search.request"]
    audit.make_checkpoint(ctx)
    command = [sys.executable, "-m", "facetrail", "audit", "verify", "--json"]
    command += ["--db", str(audit.default_database(settings))]
    command += ["--public-key", str(audit.public_key_file(ctx))]
    started = time.perf_counter()
    done = subprocess.run(
        command, env=_service_env(settings), capture_output=True, text=True, check=False
    )
    verify_s = time.perf_counter() - started
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return {
        "http_searches_sent": sent,
        "load_requests": len(records),
        "search_request_entries": after["search.request"],
        "search_request_entries_during_load": during,
        "search_run_entries": after["search.run"],
        "search_refused_entries": after["search.refused"],
        "search_failed_entries": after["search.failed"],
        "one_request_entry_per_http_search": (
            after["search.request"] == sent and during == len(records)
        ),
        "verify_ok": done.returncode == 0 and bool(report.get("ok")),
        "verify_entries": report.get("entries"),
        "verify_checkpoints": report.get("checkpoints"),
        "verify_seconds": verify_s,
        "verify_problem": report.get("problem") or (done.stderr.strip()[-500:] or None),
    }


if __name__ == "__main__":
    main()
