"""Backup of a running installation while searches run, restore into a fresh home (and with
``--postgres`` a fresh PostgreSQL database), ``audit verify``, and every count compared
(issue 26).

    .venv/bin/python bench/backup_restore.py [--images 100] [--synthetic 20000]
        [--searches 3] [--with-index] [--postgres [ADMIN_URL]] [--json FILE]

The installation is made through the product as ``load_search.py`` makes its own: the first
system admin, a gallery of ``--images`` lfw-dev photos ingested by the pipeline plus
``--synthetic`` templates drawn from them, an agency whose investigator searches it. Then a
thread searches back to back while ``backup`` runs (SQLite's backup API, or ``pg_dump`` on an
exported snapshot), the backup is restored into an empty home whose key folder is copied
apart (as an operator restores keys), and the table says, count by count, what the backup
held, what the restore gave back and whether they are equal. ``--postgres``: both databases
are made on that server (default ``postgresql://postgres@127.0.0.1:5432/test``) and dropped
at the end. ``make test`` runs it at a tiny size so it cannot rot.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from _load_gallery import (  # noqa: E402
    GALLERY,
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
from facetrail.cli.backup import COUNTED  # noqa: E402
from facetrail.config import Settings  # noqa: E402
from facetrail.governance.credentials import Principal  # noqa: E402
from facetrail.services.audit.log import (  # noqa: E402
    default_database,
    make_checkpoint,
    public_key,
    verify_database,
)
from facetrail.services.backup import (  # noqa: E402
    BackupRequest,
    Manifest,
    RestoreRequest,
    backup,
    restore,
)
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.searching.search import search  # noqa: E402
from facetrail.services.searching.search_model import ProbeImage, SearchRequest  # noqa: E402
from facetrail.services.signin.authentication import authenticate  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "data" / "lfw-dev"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Searcher(threading.Thread):
    """Searches back to back until stopped; counts what it did and what failed."""

    def __init__(self, ctx: AppContext, who: Principal, probe: ProbeImage) -> None:
        super().__init__(daemon=True)
        self.ctx, self.who, self.probe = ctx, who, probe
        self.stop = threading.Event()
        self.done = 0
        self.failed: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                _search(self.ctx, self.who, self.probe)
                self.done += 1
            except Exception as exc:  # a benchmark counts every failure, of any kind
                self.failed.append(f"{type(exc).__name__}: {exc}")


def _search(ctx: AppContext, who: Principal, probe: ProbeImage) -> None:
    request = SearchRequest(who, CASE, OFFENSE, JUSTIFICATION, (GALLERY,), (probe,), attested=True)
    search(ctx, request, include_crops=False)


def _databases(admin_url: str | None) -> tuple[list[str], list[str | None]]:
    """Two new PostgreSQL databases (source, target) -> their names and SQLAlchemy URLs; or
    none (the embedded SQLite in each home)."""
    if admin_url is None:
        return [], [None, None]
    import psycopg
    from sqlalchemy import make_url

    names = [f"facetrail_bench_{secrets.token_hex(4)}_{role}" for role in ("src", "dst")]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    server = make_url(admin_url).set(drivername="postgresql+psycopg")
    urls: list[str | None] = [
        server.set(database=name).render_as_string(hide_password=False) for name in names
    ]
    return names, urls


def _drop(admin_url: str | None, names: list[str]) -> None:
    if admin_url is None or not names:
        return
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _installation(args: argparse.Namespace, tmp: Path, url: str | None) -> tuple[AppContext, Any]:
    """The running installation and what its investigator searches with."""
    settings = Settings(home=tmp / "source", database_url=url, threads=1, mail_dir=tmp / "mail")
    ctx = AppContext.open(settings)
    photos, probes = lfw_photos(args.dataset, args.images, 1)
    admin = first_admin(ctx)
    _say(f"ingesting {len(photos)} photos")
    ingest_real_faces(ctx, admin, photos, tmp / "photos", "arcface-mbf", lambda _n, _t: None)
    if args.synthetic:
        _say(f"adding {args.synthetic:,} synthetic templates")
        add_synthetic_faces(ctx, args.synthetic, 7, lambda _n: None)
    rebuild_index(ctx, admin)
    (token,) = searching_agency(ctx, admin, GALLERY, 1, lambda _n: None)
    investigator = authenticate(ctx, token)
    probe = ProbeImage(probes[0].name, probes[0].read_bytes())
    for _ in range(args.searches):
        _search(ctx, investigator, probe)
    make_checkpoint(ctx)
    return ctx, (investigator, probe)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    admin_url = args.postgres
    names, (source_url, target_url) = _databases(admin_url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            return _measure(args, Path(folder), source_url, target_url)
    finally:
        _drop(admin_url, names)


def _measure(
    args: argparse.Namespace, tmp: Path, source_url: str | None, target_url: str | None
) -> dict[str, Any]:
    ctx, (investigator, probe) = _installation(args, tmp, source_url)
    try:
        searcher = Searcher(ctx, investigator, probe)
        searcher.start()
        while searcher.done == 0 and not searcher.failed:  # searching before the backup starts
            time.sleep(0.01)
        started = time.perf_counter()
        made = backup(ctx, BackupRequest(tmp / "backup", args.with_index), _say)
        backup_s = time.perf_counter() - started
        during = searcher.done
        searcher.stop.set()
        searcher.join()
        key_dir, secrets_dir = ctx.settings.audit_key_dir, ctx.settings.totp_key_file.parent
    finally:
        ctx.close()
    manifest = Manifest.read(tmp / "backup")
    target = Settings(home=tmp / "target", database_url=target_url, threads=1)
    shutil.copytree(key_dir, target.audit_key_dir)  # the keys, restored apart
    shutil.copytree(secrets_dir, target.totp_key_file.parent)
    started = time.perf_counter()
    restored = restore(target, RestoreRequest(tmp / "backup"), _say)
    restore_s = time.perf_counter() - started
    started = time.perf_counter()
    with_key = AppContext.open(target)
    try:
        verified = verify_database(default_database(target), public_key(with_key))
    finally:
        with_key.close()
    verify_s = time.perf_counter() - started
    rows = [
        {
            "count": name,
            "backup": manifest.counts[name],
            "restored": restored.counts[name],
            "equal": manifest.counts[name] == restored.counts[name],
        }
        for name in COUNTED
    ]
    return {
        "database": "postgresql" if source_url else "sqlite",
        "with_index": args.with_index,
        "backup": {
            "seconds": round(backup_s, 3),
            "files": made.files,
            "bytes": made.bytes,
            "searches_during": during,
            "searches_total": searcher.done,
            "search_failures": len(searcher.failed),
            "failure_kinds": sorted(set(searcher.failed))[:5],
        },
        "restore": {
            "seconds": round(restore_s, 3),
            "index": restored.index,
            "verified": restored.verified,
        },
        "audit_verify": {
            "ok": verified.ok,
            "entries": verified.entries,
            "checkpoints": verified.checkpoints,
            "seconds": round(verify_s, 3),
            "problem": verified.problem,
        },
        "counts": rows,
        "all_equal": all(row["equal"] for row in rows),
    }


def print_table(figures: dict[str, Any]) -> None:
    done, back = figures["backup"], figures["restore"]
    print(
        f"backup ({figures['database']}{', with index' if figures['with_index'] else ''}): "
        f"{done['seconds']:.2f} s, {done['files']:,} files, {done['bytes'] / 1e6:.1f} MB; "
        f"{done['searches_during']} searches ran during it, {done['search_failures']} failed"
    )
    print(f"restore: {back['seconds']:.2f} s (index {back['index']})")
    print(f"{'count':<15}{'backup':>10}{'restored':>10}  equal")
    for row in figures["counts"]:
        print(
            f"{row['count']:<15}{row['backup']:>10,}{row['restored']:>10,}  "
            f"{'yes' if row['equal'] else 'NO'}"
        )
    check = figures["audit_verify"]
    verdict = "OK" if check["ok"] else f"FAILS: {check['problem']}"
    print(
        f"audit verify on the restored database: {verdict} ({check['entries']:,} entries, "
        f"{check['checkpoints']} checkpoints, {check['seconds']:.2f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--synthetic", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=3, help="before the backup")
    parser.add_argument("--with-index", action="store_true")
    parser.add_argument("--postgres", nargs="?", const=PG_ADMIN, default=None)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.pop("FACETRAIL_DATABASE_URL", None)  # each home names its own database
    figures = measure(args)
    print_table(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    ok = figures["all_equal"] and figures["audit_verify"]["ok"]
    return 0 if ok and not figures["backup"]["search_failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
