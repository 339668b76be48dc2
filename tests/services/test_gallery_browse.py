"""A gallery's photos a page at a time with their provenance: paged, filtered and ordered as
asked, each page one audited look naming its photos, refused (and recorded) for other roles,
for a bad page, and when a stored photo was replaced behind facetrail's back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from facetrail.errors import (
    BlobMismatchError,
    InvalidRequestError,
    PermissionDeniedError,
    SourceNotFoundError,
)
from facetrail.services.galleries.browse import BrowseRequest, browse_photos
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.store.schema import AuditEntryRow, Image
from tests.conftest import copy_first_images, lfw_people, needs_lfw
from tests.org import Org, make_gallery

pytestmark = needs_lfw


@pytest.fixture()
def gallery(org: Org, tmp_path: Path) -> Org:
    """bookings with five photos, each recorded as its LFW person."""
    make_gallery(org)
    files = copy_first_images(tmp_path / "in", lfw_people(5))
    with open(tmp_path / "in" / "subjects.csv", "w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["file", "subject_ref"])
        for person, path in files.items():
            rows.writerow([path.name, person])
    request = IngestRequest(tmp_path / "in", "bookings", "county", tmp_path / "in" / "subjects.csv")
    ingest(org.ctx, org.people["gus"], request)
    return org


def _logged(org: Org, kind: str) -> list[dict[str, object]]:
    with org.ctx.sessions() as s:
        rows = s.scalars(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.kind == kind)
            .order_by(AuditEntryRow.seq)
        )
        return [json.loads(d) for d in rows]


def test_pages_follow_each_other_and_each_is_one_audited_look(gallery: Org) -> None:
    gus = gallery.people["gus"]
    seen: list[int] = []
    for offset in (0, 2, 4):
        page = browse_photos(gallery.ctx, gus, BrowseRequest("bookings", offset=offset, limit=2))
        assert page.total == 5 and page.offset == offset
        seen += [p.id for p in page.photos]
        assert all(p.thumbnail[:2] == b"\xff\xd8" for p in page.photos)
        assert all(
            p.source == "county" and p.legal_basis == "State Code 12-345" for p in page.photos
        )
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 5  # newest first, each once
    logged = _logged(gallery, "gallery.browse")
    assert [entry["images"] for entry in logged] == [seen[0:2], seen[2:4], seen[4:]]


def test_filters_and_orders(gallery: Org) -> None:
    gus = gallery.people["gus"]
    named = browse_photos(gallery.ctx, gus, BrowseRequest("bookings", order="name"))
    assert [p.name for p in named.photos] == sorted(p.name for p in named.photos)
    person = named.photos[0].subject_ref
    assert person is not None
    one = browse_photos(gallery.ctx, gus, BrowseRequest("bookings", subject=person[2:-2]))
    assert [p.subject_ref for p in one.photos] == [person] and one.total == 1
    assert browse_photos(gallery.ctx, gus, BrowseRequest("bookings", subject="%")).total == 0
    with pytest.raises(SourceNotFoundError):
        browse_photos(gallery.ctx, gus, BrowseRequest("bookings", source="nowhere"))


@pytest.mark.parametrize(
    "request_",
    [
        BrowseRequest("bookings", limit=0),
        BrowseRequest("bookings", limit=101),
        BrowseRequest("bookings", offset=-1),
        BrowseRequest("bookings", order="random"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_page_is_refused_and_recorded(gallery: Org, request_: BrowseRequest) -> None:
    with pytest.raises(InvalidRequestError):
        browse_photos(gallery.ctx, gallery.people["gus"], request_)
    assert len(_logged(gallery, "gallery.browse.refused")) == 1


def test_other_roles_are_refused_and_recorded(gallery: Org) -> None:
    with pytest.raises(PermissionDeniedError):
        browse_photos(gallery.ctx, gallery.people["ivy"], BrowseRequest("bookings"))
    assert len(_logged(gallery, "gallery.browse.refused")) == 1
    assert _logged(gallery, "gallery.browse") == []


def test_a_photo_replaced_behind_facetrails_back_refuses_the_page(gallery: Org) -> None:
    with gallery.ctx.sessions() as s:
        sha = s.scalars(select(Image.sha256).order_by(Image.id.desc())).first()
    assert sha is not None
    path = gallery.ctx.blobs.path(sha)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(BlobMismatchError):
        browse_photos(gallery.ctx, gallery.people["gus"], BrowseRequest("bookings"))
    assert len(_logged(gallery, "gallery.browse.refused")) == 1
