"""Viewing one stored search of 50 candidates in a real browser (Debian chromium, driven by
Playwright, against ``facetrail serve``): how many audit entries one look at the result page
writes, and how long the page takes to settle (loaded, every picture on it decoded), on this
tree and on another tree's code, one after the other in one run (issue 22).

    .venv/bin/python bench/result_page.py [--baseline 762247b] [--images 60] [--top 50]
        [--views 5]

Each run builds its own home in a temporary folder, on the embedded SQLite: a gallery of
``--images`` lfw-dev photos, an agency whose investigator signs in (their enrolment code read
from the mail folder) and searches once through the service, then ``facetrail serve`` on
loopback and the browser with the investigator's session, in a window tall enough to show
every candidate (so that pictures loaded lazily load too). ``--baseline ''`` measures this
tree alone.
``make test`` runs it at a tiny size so it cannot rot; only full-size figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("FACETRAIL_BENCH_SRC") or str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from _trees import run_on, tree  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
#: main before a result page's look became one entry
BEFORE = "762247b"


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """One tree's figures (this process imports it: ``FACETRAIL_BENCH_SRC``)."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import func, select

    from _load_gallery import GALLERY, ingest_real_faces, lfw_photos
    from _load_organisation import (
        CASE,
        JUSTIFICATION,
        OFFENSE,
        first_admin,
        searching_agency,
    )
    from _load_service import served
    from facetrail.config import Settings
    from facetrail.services.context import AppContext
    from facetrail.services.searching import search
    from facetrail.services.searching.search_model import ProbeImage, SearchRequest
    from facetrail.services.signin.authentication import authenticate
    from facetrail.store.schema import AuditEntryRow

    os.environ.pop("FACETRAIL_DATABASE_URL", None)  # the embedded SQLite, for both processes
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        settings = Settings(home=tmp / "home", threads=1, mail_dir=tmp / "mail")
        ctx = AppContext.open(settings)
        photos, probes = lfw_photos(args.dataset, args.images, 1)
        admin = first_admin(ctx)
        ingest_real_faces(ctx, admin, photos, tmp / "photos", "arcface-mbf", lambda _n, _t: None)
        (token,) = searching_agency(ctx, admin, GALLERY, 1, lambda _n: None)
        investigator = authenticate(ctx, token)
        probe = ProbeImage(probes[0].name, probes[0].read_bytes())
        request = SearchRequest(
            investigator,
            CASE,
            OFFENSE,
            JUSTIFICATION,
            (GALLERY,),
            (probe,),
            top=args.top,
            attested=True,
        )
        result = search.search(ctx, request, include_crops=False)

        def last_seq() -> int:
            with ctx.sessions() as session:
                return int(session.scalar(select(func.max(AuditEntryRow.seq))) or 0)

        def kinds_after(seq: int) -> list[str]:
            with ctx.sessions() as session:
                return list(
                    session.scalars(
                        select(AuditEntryRow.kind)
                        .where(AuditEntryRow.seq > seq)
                        .order_by(AuditEntryRow.seq)
                    )
                )

        env = os.environ | {
            "FACETRAIL_HOME": str(settings.home),
            "FACETRAIL_THREADS": "1",
            "FACETRAIL_MAIL_DIR": str(settings.mail_dir),
            "PYTHONPATH": os.environ.get("FACETRAIL_BENCH_SRC") or str(REPO / "src"),
        }
        env.pop("FACETRAIL_DATABASE_URL", None)
        seconds: list[float] = []
        entries: list[list[str]] = []
        page_bytes = 0
        with served(env, 1, tmp / "serve.log") as service, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                height = 400 * (args.top + 4)
                context = browser.new_context(
                    viewport={"width": 1366, "height": height}, bypass_csp=True
                )
                context.add_cookies(
                    [{"name": "facetrail_session", "value": token, "url": service.base}]
                )
                page = context.new_page()
                url = f"{service.base}/searches/{result.search_id}"
                page.goto(url)  # warm-up: the worker's first look loads its models
                for _ in range(args.views):
                    before = last_seq()
                    started = time.perf_counter()
                    answer = page.goto(url, wait_until="load")
                    page.wait_for_function(
                        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                    )
                    seconds.append(time.perf_counter() - started)
                    assert answer is not None and answer.ok, answer
                    page_bytes = len(answer.body())
                    time.sleep(0.5)  # the entries of the last pictures' requests, committed
                    entries.append(kinds_after(before))
            finally:
                browser.close()
        ctx.close()
    written = [len(kinds) for kinds in entries]
    actions = [sum(1 for k in kinds if k != "row.seal") for kinds in entries]
    return {
        "candidates": len(result.candidates),
        "views": args.views,
        "entries_per_view": statistics.median(written),
        "entries_per_view_without_row_seals": statistics.median(actions),
        "kinds_of_one_view": sorted(set(entries[-1])),
        "settle_seconds_median": statistics.median(seconds),
        "page_bytes": page_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BEFORE, help="a commit to compare with ('': none)")
    parser.add_argument("--images", type=int, default=60, help="gallery photos")
    parser.add_argument("--top", type=int, default=50, help="candidates the search keeps")
    parser.add_argument("--views", type=int, default=5, help="looks at the page, each timed")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: 'apt-get install chromium' ('make test' does)")
    if args.one:
        print(json.dumps(_measure(args), indent=2))
        return
    arguments = [
        *("--images", str(args.images), "--top", str(args.top), "--views", str(args.views)),
        *("--dataset", str(args.dataset)),
    ]
    itself = Path(__file__)
    out: dict[str, Any] = {"this_tree": run_on(itself, REPO / "src", ["--one", *arguments])}
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            out = {
                "baseline": args.baseline,
                "before": run_on(itself, tree(args.baseline, Path(tmp)), ["--one", *arguments]),
            } | out
        before, now = out["before"], out["this_tree"]
        out["entries_per_view_before_and_now"] = [
            before["entries_per_view"],
            now["entries_per_view"],
        ]
        out["settle_seconds_ratio_now_to_before"] = (
            now["settle_seconds_median"] / before["settle_seconds_median"]
        )
    out["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
