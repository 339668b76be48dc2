"""The world the record-tampering tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facetrail.config import Settings
from facetrail.governance.policy import ApprovalMode
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage
from tests.conftest import copy_first_images, lfw_people
from tests.org import AGENCY, Org, make_gallery, make_org


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[Org, int, tuple[ProbeImage, ...]]]:
    """The county of tests/org.py, a 'bookings' gallery of four LFW people that needs two
    reviewers, and one finished search of ivy's with candidates (a module's own ``world``
    replaces it)."""
    ctx = AppContext.open(Settings(home=tmp_path / "home", threads=1))
    org = make_org(ctx)
    people = lfw_people(4)
    copy_first_images(tmp_path / "photos", people)
    make_gallery(org)
    ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "photos", "bookings", AGENCY))
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, second_reviewer=True)
    photo = sorted(people[1].glob("*.jpg"))[1]
    probe = (ProbeImage(photo.name, photo.read_bytes()),)
    done = org.search(("bookings",), probe)
    assert done.status == "done" and done.candidates
    yield org, done.search_id, probe
    ctx.close()
