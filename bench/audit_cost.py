"""Audit log costs (issue 2/6 targets), measured in one run on this machine.

- appending 100,000 entries, one transaction each (as actions do): target < 30 s
- verifying them all (recompute every hash, check checkpoints): target < 30 s
- a governed search (policy check, stored request and results, its audit entries) against the
  bare search service call of the same gallery: target <= 5 ms more

    .venv/bin/python bench/audit_cost.py [--entries 100000] [--searches 30] [--images 200]
        [--rows-per-action 1] [--per-transaction 1] [--probes 10]

The searches cycle through ``--probes`` different people's photos, so that each stores (and
seals) other candidates, as real searches do, rather than one probe's again and again.

Each appended action also writes ``--rows-per-action`` rows (e-mails in the outbox), as real
actions write rows: where the code seals rows (issue 21), each transaction then adds a
``row.seal`` entry, which verify replays. ``--per-transaction`` puts several actions in one
transaction, to build a log of a million entries in minutes rather than an hour.
``FACETRAIL_BENCH_SRC`` runs it against another tree's ``src`` (``bench/seal_cost.py`` uses
this to measure the code before sealing in the same run).

``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
Wall-clock figures follow the machine's load (printed with them); the appends' and
verification's CPU time (this process's) much less so, which tells a slower log apart from a
busier machine. The search overhead is the median of per-pair differences, robust to noise.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("FACETRAIL_BENCH_SRC") or str(REPO / "src"))

from sqlalchemy import select  # noqa: E402

from facetrail.config import Settings  # noqa: E402
from facetrail.governance.audit import AuditEvent, append  # noqa: E402
from facetrail.governance.credentials import Role, totp_now  # noqa: E402
from facetrail.governance.policy import ApprovalMode, Policy  # noqa: E402
from facetrail.governance.verify import verify_log  # noqa: E402
from facetrail.services import accounts  # noqa: E402
from facetrail.services.accounts import NewAccount  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402


def _module(grouped: str, flat: str) -> ModuleType:
    """A service module where it lives now (services grouped by domain), or where a
    ``--baseline`` tree from before the regroup keeps it."""
    try:
        return importlib.import_module(grouped)
    except ModuleNotFoundError:
        return importlib.import_module(flat)


S = "facetrail.services."
audit = _module(S + "audit.log", S + "audit")
galleries = _module(S + "galleries.admin", S + "galleries")
_ingest = _module(S + "galleries.ingest", S + "ingest")
IngestRequest, ingest = _ingest.IngestRequest, _ingest.ingest
set_policy = _module(S + "oversight.policy", S + "policy").set_policy
search_gallery = _module(S + "searching._matching", S + "_matching").search_gallery
_search = _module(S + "searching.search", S + "search")
ProbeImage, SearchRequest, search = _search.ProbeImage, _search.SearchRequest, _search.search
login = _module(S + "signin.authentication", S + "authentication").login
_enrolment = _module(S + "signin.enrolment", S + "enrolment")
begin_enrolment, confirm_enrolment = _enrolment.begin_enrolment, _enrolment.confirm_enrolment
from facetrail.store.schema import OutboxEmail  # noqa: E402

PASSWORD = "benchmark password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=200, help="gallery size for the searches")
    parser.add_argument("--rows-per-action", type=int, default=1)
    parser.add_argument(
        "--probes", type=int, default=10, help="probe photos the searches cycle through"
    )
    parser.add_argument("--per-transaction", type=int, default=1)
    parser.add_argument(
        "--profile", type=Path, help="after the timed searches, profile as many governed ones"
    )
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext.open(Settings(home=Path(tmp) / "home", threads=1))
        audit.ensure_keys(ctx)
        started, started_cpu = time.perf_counter(), time.process_time()
        per = max(1, args.per_transaction)
        for first in range(0, args.entries, per):
            with ctx.transaction() as s:
                for i in range(first, min(first + per, args.entries)):
                    append(
                        s,
                        AuditEvent(
                            f"user{i % 50}",
                            "search.run",
                            f"case-{i}",
                            {"n": i, "gallery": "bookings", "top": 50},
                        ),
                    )
                    s.add_all(
                        OutboxEmail(recipient=f"user{i % 50}@ops", subject=f"case-{i}", body="x")
                        for _ in range(args.rows_per_action)
                    )
            done = min(first + per, args.entries)
            if done // args.checkpoint_every > first // args.checkpoint_every:
                audit.make_checkpoint(ctx)
        append_s, append_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
        public = audit.public_key(ctx)
        started, started_cpu = time.perf_counter(), time.process_time()
        with ctx.sessions() as s:
            report = verify_log(s, public)
        verify_s, verify_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
        assert report.ok, report

        # Search overhead: the governed search (policy check, stored request and results, two
        # audit entries, read back) against the bare search of the same gallery, interleaved.
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for p in sorted(args.dataset.glob("*/*_0001.jpg"))[: args.images]:
            shutil.copy(p, photos)
        enrolment = accounts.init_system(ctx, NewAccount("root", "r@ops", PASSWORD, "ops"))
        assert enrolment.totp_secret is not None
        root = login(ctx, "root", PASSWORD, totp_now(enrolment.totp_secret)).principal
        galleries.create_gallery(ctx, root, galleries.CreateGalleryRequest("g"))
        galleries.add_source(
            ctx,
            root,
            galleries.CreateSourceRequest("g", "s", "LFW", "research", "UMass", "2007-10-01", 30),
        )
        ingest(ctx, root, IngestRequest(photos, "g", "s"))
        accounts.create_user(
            ctx, root, NewAccount("ivy", "ivy@ops", PASSWORD, "ops", (Role.INVESTIGATOR,))
        )
        with ctx.sessions() as session:  # ivy reads the enrolment code mailed to her
            mailed = session.scalars(select(OutboxEmail.body)).all()
        invite = re.search(r"--invite ([0-9A-F-]+)", "\n".join(mailed))
        assert invite is not None
        # ivy's first sign-in: she enrols her own second factor
        shown = begin_enrolment(ctx, "ivy", PASSWORD, invite=invite.group(1))
        assert shown.totp_secret is not None
        ivy = confirm_enrolment(ctx, "ivy", PASSWORD, totp_now(shown.totp_secret)).principal
        policy = Policy(galleries=("g",), approval=ApprovalMode.NEVER, daily_limit=10_000)
        set_policy(ctx, root, "ops", policy, "benchmark: searches without prior approval")
        # Different people's photos, in turn: each search stores and seals other candidates.
        photos_of = sorted(args.dataset.glob("*/*_0002.jpg"))[: max(1, args.probes)]
        requests = [
            SearchRequest(
                ivy,
                "2026-000001",
                "armed-robbery",
                "benchmark of the audit overhead",
                ("g",),
                (ProbeImage(p.name, p.read_bytes()),),
                attested=True,
            )
            for p in photos_of
        ]
        search(ctx, requests[0], include_crops=False)  # warm-up: model load, index load
        search_gallery(ctx, "g", requests[0].probes, 50, None)
        bare_ms, governed_ms = [], []
        for i in range(args.searches):
            request = requests[i % len(requests)]
            probes = request.probes
            t = time.perf_counter()
            bare = search_gallery(ctx, "g", probes, 50, None)
            bare_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            governed = search(ctx, request, include_crops=False)
            governed_ms.append(1000 * (time.perf_counter() - t))
            assert [c.template_id for c in governed.candidates] == [
                c.template_id for c in bare.candidates
            ]
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.searches):
                search(ctx, requests[i % len(requests)], include_crops=False)
            profiler.disable()
            profiler.dump_stats(args.profile)
        ctx.close()
    out = {
        "entries": report.entries,
        "append_seconds": append_s,
        "append_cpu_seconds": append_cpu_s,
        "verify_seconds": verify_s,
        "verify_cpu_seconds": verify_cpu_s,
        "verify_seconds_per_million_entries": verify_s * 1e6 / max(1, report.entries),
        "actions": args.entries,
        "rows_per_action": args.rows_per_action,
        "actions_per_transaction": args.per_transaction,
        "targets_seconds": 30,
        "searches": args.searches,
        "probes": len(requests),
        "bare_search_ms_median": statistics.median(bare_ms),
        "governed_search_ms_median": statistics.median(governed_ms),
        "overhead_ms_median_of_pairs": statistics.median(
            g - b for g, b in zip(governed_ms, bare_ms, strict=True)
        ),
        "overhead_target_ms": 5,
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
