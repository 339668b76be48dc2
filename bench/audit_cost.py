"""Audit log costs (issue 2/6 targets), measured in one run on this machine.

- appending 100,000 entries, one transaction each (as actions do): target < 30 s
- verifying them all (recompute every hash, check checkpoints): target < 30 s
- a search's audit entry vs the search itself: target <= 5 ms more

    .venv/bin/python bench/audit_cost.py [--entries 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.config import Settings  # noqa: E402
from facetrail.governance.audit import AuditEvent, append  # noqa: E402
from facetrail.governance.checkpoints import load_public_key  # noqa: E402
from facetrail.governance.verify import verify_log  # noqa: E402
from facetrail.services import audit, galleries  # noqa: E402
from facetrail.services.context import AppContext  # noqa: E402
from facetrail.services.ingest import IngestRequest, ingest  # noqa: E402
from facetrail.services.search import ProbeImage, SearchRequest, search  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext.open(Settings(home=Path(tmp) / "home", threads=1))
        audit.ensure_keys(ctx)
        started = time.perf_counter()
        for i in range(args.entries):
            with ctx.transaction() as s:
                append(
                    s,
                    AuditEvent(
                        f"user{i % 50}",
                        "search.run",
                        f"case-{i}",
                        {"n": i, "gallery": "bookings", "top": 50},
                    ),
                )
            if (i + 1) % 10_000 == 0:
                audit.make_checkpoint(ctx)
        append_s = time.perf_counter() - started
        public = load_public_key(ctx.settings.home / "keys" / "audit-signing-key.pub.pem")
        started = time.perf_counter()
        with ctx.sessions() as s:
            report = verify_log(s, public)
        verify_s = time.perf_counter() - started
        assert report.ok, report

        # Search overhead: a real search over a small gallery; its audit entry alone.
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for p in sorted(args.dataset.glob("*/*_0001.jpg"))[:200]:
            shutil.copy(p, photos)
        galleries.create_gallery(ctx, galleries.CreateGalleryRequest("g"))
        galleries.add_source(
            ctx,
            galleries.CreateSourceRequest("g", "s", "LFW", "research", "UMass", "2007-10-01", 30),
        )
        ingest(ctx, IngestRequest(photos, "g", "s"))
        probe = sorted(args.dataset.glob("*/*_0002.jpg"))[0]
        request = SearchRequest(
            (ProbeImage(probe.name, probe.read_bytes()),), "g", top=50, include_crops=False
        )
        search(ctx, request)  # warm-up: model load, index load
        search_ms, audit_ms = [], []
        for _ in range(30):
            t = time.perf_counter()
            result = search(ctx, request)
            search_ms.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            with ctx.transaction() as s:
                append(
                    s,
                    AuditEvent(
                        "bench",
                        "search.run",
                        "g",
                        {
                            "probes": ["0" * 64],
                            "face": None,
                            "top": 50,
                            "pack": result.pack,
                            "index": result.index,
                            "candidates": [[c.template_id, c.score] for c in result.candidates],
                        },
                    ),
                )
            audit_ms.append(1000 * (time.perf_counter() - t))
        ctx.close()
    out = {
        "entries": report.entries,
        "append_seconds": append_s,
        "verify_seconds": verify_s,
        "targets_seconds": 30,
        "search_ms_median": statistics.median(search_ms),
        "search_audit_entry_ms_median": statistics.median(audit_ms),
        "audit_target_ms": 5,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
