"""The county of the oversight tests: in a network whose operator searches for it, with an
auditor, a gallery of six LFW people it searches without prior approval."""

from __future__ import annotations

from pathlib import Path

import pytest

from facetrail.config import Settings
from facetrail.governance.credentials import Role
from facetrail.governance.policy import ApprovalMode
from facetrail.services import accounts as acc
from facetrail.services.context import AppContext
from facetrail.services.galleries.ingest import IngestRequest, ingest
from facetrail.services.searching.search import ProbeImage
from tests.conftest import copy_first_images, lfw_people
from tests.mail import Mailbox
from tests.org import AGENCY, make_county, make_gallery


@pytest.fixture()
def county(tmp_path: Path, smtp: tuple[Mailbox, int]):  # type: ignore[no-untyped-def]
    """The county (head, sam, gus, ivy, ian and an auditor, aud) in the metro network, whose
    operator nora works from metro-ops; 'bookings' holds the first photo of six LFW people;
    the county searches it without prior approval."""
    box, port = smtp
    ctx = AppContext.open(
        Settings(
            home=tmp_path / "home",
            threads=1,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="facetrail@county.test",
        )
    )
    org = make_county(ctx)
    acc.create_network(ctx, org.admin, "metro")
    acc.create_agency(ctx, org.admin, "metro-ops", network="metro")
    with ctx.transaction() as s:
        acc.agency_by_name(s, AGENCY).network_id = acc.agency_by_name(s, "metro-ops").network_id
    for name, roles in (
        ("gus", (Role.GALLERY_ADMIN,)),
        ("ivy", (Role.INVESTIGATOR,)),
        ("ian", (Role.INVESTIGATOR,)),
        ("aud", (Role.AUDITOR,)),
    ):
        org.add(name, AGENCY, *roles)
    org.add("nora", "metro-ops", Role.NETWORK_OPERATOR)
    people = lfw_people(6)
    copy_first_images(tmp_path / "photos", people)
    make_gallery(org)
    ingest(ctx, org.people["gus"], IngestRequest(tmp_path / "photos", "bookings", AGENCY))
    org.set_policy(galleries=("bookings",), approval=ApprovalMode.NEVER, daily_limit=100)
    yield org, box, people
    ctx.close()


def probe_of(person: Path) -> tuple[ProbeImage, ...]:
    path = sorted(person.glob("*.jpg"))[1]  # not the gallery's photo of them
    return (ProbeImage(path.name, path.read_bytes()),)
