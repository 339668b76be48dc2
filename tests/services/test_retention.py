"""Retention (issue 14): a source past its retention period is purged by ``retention run`` the
way erasure purges (images, faces, templates, index entries and blobs gone; results that
showed them keep a tombstone), the entries hold hashes and counts only, a source still within
its period keeps everything, and a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from facetrail.config import Settings
from facetrail.errors import PermissionDeniedError
from facetrail.governance.events import RetentionPurged, read_events
from facetrail.governance.policy import ApprovalMode
from facetrail.governance.verify import verify_log
from facetrail.services.audit import log as audit
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries import admin as galleries
from facetrail.services.galleries.indexing import open_index
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.rights import retention
from facetrail.services.rights.retention import retention_run, run_retention
from facetrail.services.searching import results, review
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, Face, Gallery, Image, SearchCandidate, TemplateRow
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import make_gallery, make_org

pytestmark = needs_lfw


def _counts(ctx: AppContext) -> tuple[int, ...]:
    with ctx.sessions() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (Image, Face, TemplateRow, AuditEntryRow)
        )


def test_a_source_past_its_period_is_purged_once(tmp_path: Path) -> None:
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    try:
        org = make_org(ctx)
        people = lfw_people(6)
        make_gallery(org)  # 'county' source: 3650 days
        galleries.add_source(
            ctx,
            org.people["gus"],
            galleries.CreateSourceRequest(
                "bookings",
                "visitors",
                "visitor badges",
                "consent form",
                "front desk",
                "2026-01-01",
                30,
            ),
        )
        copy_first_images(tmp_path / "kept", people[:3])
        copy_first_images(tmp_path / "short", people[3:])
        gus = org.people["gus"]
        ingest(ctx, gus, IngestRequest(tmp_path / "kept", "bookings", "county", workers=1))
        ingest(ctx, gus, IngestRequest(tmp_path / "short", "bookings", "visitors", workers=1))
        org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER)
        photo = sorted(people[4].glob("*.jpg"))[1]
        earlier = org.search(("bookings",), (ProbeImage(photo.name, photo.read_bytes()),))
        names = [p.name for p in (tmp_path / "short").iterdir()]
        with ctx.sessions() as s:
            visitor_shas = list(
                s.scalars(select(Image.sha256).where(Image.original_name.in_(names)))
            )
        assert len(visitor_shas) == 3
        shown_before = [c for c in earlier.candidates if c.image_sha256 in visitor_shas]
        assert shown_before
        # Its case closed with no lead: its candidates are no open case's (legal hold).
        review.record_outcome(ctx, org.people["ivy"], earlier.search_id, "no_lead", "not them")

        assert run_retention(ctx).sources == []  # nothing has expired yet
        with pytest.raises(PermissionDeniedError):
            retention_run(ctx, org.people["ivy"])
        later = utc_now() + timedelta(days=31)
        report = retention_run(ctx, gus, now=later)
        (purged,) = report.sources
        assert (purged.gallery, purged.source, purged.images) == ("bookings", "visitors", 3)
        assert purged.tombstones == len(shown_before)

        with ctx.sessions() as s:
            left = list(s.scalars(select(Image.sha256)))
            gallery = s.scalar(select(Gallery))
            assert gallery is not None
            index, _ = open_index(ctx, s, gallery)
            ids = set(s.scalars(select(TemplateRow.id)))
            stones = list(
                s.scalars(select(SearchCandidate).where(SearchCandidate.erased_at.is_not(None)))
            )
            events = read_events(s, [RetentionPurged])
            assert verify_log(s, audit.public_key(ctx)).ok
        assert len(left) == 3 and not set(visitor_shas) & set(left)
        assert set(index.ids().tolist()) == ids and len(ids) >= 3
        for sha in visitor_shas:
            assert not ctx.blobs.path(sha).exists()
        assert {c.id for c in stones} == {c.id for c in shown_before}
        assert all(c.erasure_receipt and c.erasure_receipt.startswith("retention:") for c in stones)
        shown = results.get_search(ctx, org.people["ivy"], earlier.search_id)
        assert sum(1 for c in shown.candidates if c.erased is not None) == len(shown_before)
        (event,) = events
        assert event.images == sorted(visitor_shas) and event.retention_days == 30
        assert "vector" not in str(event)

        before = _counts(ctx)
        again = run_retention(ctx, now=later)
        assert again.sources == [] and again.index_entries_written == 0
        assert _counts(ctx) == before  # a second run changes nothing, not even the log
    finally:
        ctx.close()


def test_what_is_due_is_what_a_run_then_removes(app_ctx: AppContext, tmp_path: Path) -> None:
    org = make_org(app_ctx)
    make_gallery(org)
    copy_first_images(tmp_path / "in", lfw_people(2))
    ingest(app_ctx, org.people["gus"], IngestRequest(tmp_path / "in", "bookings", "county"))
    assert retention.retention_due(app_ctx, org.people["gus"]) == []
    later = utc_now() + timedelta(days=3651)
    due = retention.retention_due(app_ctx, org.people["gus"], now=later)
    assert due == [retention.RetentionDue("bookings", "county", 3650, 2)]
    report = retention.run_retention(app_ctx, now=later)
    assert [(s.source, s.images) for s in report.sources] == [("county", 2)]
    with pytest.raises(PermissionDeniedError):
        retention.retention_due(app_ctx, org.people["ivy"])
