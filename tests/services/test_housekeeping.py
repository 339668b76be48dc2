"""Promises kept over time: probes deleted when their retention ends, periodic signed
checkpoints, roles changed only by those allowed (and the head told), suspended users
stopped at search time."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.errors import AccountInactiveError, PermissionDeniedError
from facetrail.governance.credentials import Role
from facetrail.services import accounts as acc
from facetrail.services.accounts import utc_now
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.housekeeping import housekeeping
from facetrail.services.notifications import inbox
from facetrail.services.searching.results import get_search
from facetrail.services.searching.search import ProbeImage
from facetrail.store.schema import AuditEntryRow, CheckpointRow, SearchRecord, UserRole
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery, open_searching


def _kinds(ctx: AppContext) -> list[str]:
    with ctx.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntryRow.kind)
                .where(AuditEntryRow.kind != "row.seal")
                .order_by(AuditEntryRow.seq)
            )
        )


@needs_lfw
def test_probes_are_deleted_when_retention_ends(
    app_ctx: AppContext, org: Org, tmp_path: Path
) -> None:
    people = lfw_people(3)
    photos = tmp_path / "photos"
    copy_first_images(photos, people)
    make_gallery(org)
    ingest(app_ctx, org.people["gus"], IngestRequest(photos, "bookings", "county", workers=1))
    open_searching(org, "bookings")
    org.set_policy(probe_retention_days=7)
    probe = sorted(people[1].glob("*.jpg"))[1]
    # One probe that is only a probe, one that is also a gallery image.
    in_gallery = sorted(photos.glob("*.jpg"))[0]
    first = org.search(("bookings",), (ProbeImage(probe.name, probe.read_bytes()),))
    org.search(("bookings",), (ProbeImage(in_gallery.name, in_gallery.read_bytes()),))
    with app_ctx.sessions() as s:
        record = s.get(SearchRecord, first.search_id)
        assert record is not None
        probe_sha = json.loads(record.probes)[0]["sha256"]
    assert app_ctx.blobs.path(probe_sha).exists()

    assert housekeeping(app_ctx, now=utc_now() + timedelta(days=6)).searches_purged == 0
    report = housekeeping(app_ctx, now=utc_now() + timedelta(days=8))
    assert report.searches_purged == 2
    assert not app_ctx.blobs.path(probe_sha).exists()
    gallery_sha = hashlib.sha256(in_gallery.read_bytes()).hexdigest()
    assert app_ctx.blobs.path(gallery_sha).exists()  # still a gallery image
    assert "search.probes.purge" in _kinds(app_ctx)
    # The stored results stay readable; only the probe image is gone.
    assert get_search(app_ctx, org.people["ivy"], first.search_id, include_crops=False).candidates
    assert housekeeping(app_ctx, now=utc_now() + timedelta(days=9)).searches_purged == 0


def test_checkpoints_are_made_periodically(app_ctx: AppContext, org: Org) -> None:
    app_ctx.settings.checkpoint_every_entries = 5
    first = housekeeping(app_ctx)
    assert first.checkpoint_size is not None  # none existed yet
    assert housekeeping(app_ctx).checkpoint_size is None  # nothing new
    for i in range(5):
        org.set_policy(daily_limit=10 + i)
    assert housekeeping(app_ctx).checkpoint_size is not None
    later = utc_now() + timedelta(hours=2)
    org.set_policy(daily_limit=3)
    assert housekeeping(app_ctx, now=later).checkpoint_size is not None  # by time
    with app_ctx.sessions() as s:
        assert len(list(s.scalars(select(CheckpointRow)))) == 3


def test_role_changes_are_allowed_to_few_and_told_to_the_head(
    app_ctx: AppContext, org: Org
) -> None:
    acc.set_roles(app_ctx, org.people["head"], "ivy", (Role.INVESTIGATOR, Role.SUPERVISOR))
    with app_ctx.sessions() as s:
        roles = set(
            s.scalars(select(UserRole.role).where(UserRole.user_id == org.people["ivy"].user_id))
        )
    assert roles == {"investigator", "supervisor"}
    assert "roles changed: ivy" in [m.subject for m in inbox(app_ctx, org.people["head"].user_id)]
    with pytest.raises(PermissionDeniedError, match="own roles"):
        acc.set_roles(app_ctx, org.people["head"], "head", (Role.SYSTEM_ADMIN,))
    with pytest.raises(PermissionDeniedError):
        acc.set_roles(app_ctx, org.people["sam"], "ian", (Role.SUPERVISOR,))
    assert _kinds(app_ctx).count("account.roles.refused") == 2


def test_suspended_user_cannot_search_even_with_a_live_principal(
    app_ctx: AppContext, org: Org
) -> None:
    acc.suspend_account(app_ctx, org.people["sam"], "ivy", "misuse under investigation")
    with pytest.raises(AccountInactiveError, match="suspended"):
        org.search(("bookings",), (ProbeImage("p.jpg", b"x"),))
    assert "search.refused" in _kinds(app_ctx)
