"""The investigator's attestation (issue 25): every search records, word for word, that its
requester attested it does not target anyone for exercising protected rights, and one without
it is refused before any probe is read, typed and recorded. An offense category the agency
marks as close to protected activity asks for a second, named reason of its own, which the
supervisor deciding the search, the search's page and the case's disclosure show; unmarking
one waits for a second person."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from facetrail.errors import AttestationError
from facetrail.governance.attestation import ATTESTATION, MIN_PROTECTED_REASON
from facetrail.governance.policy import DEFAULT_OFFENSES, ApprovalMode, Policy, oversight_weakenings
from facetrail.services.audit.log import audit_status
from facetrail.services.searching import listings
from facetrail.services.searching.probe_preview import preview_faces
from facetrail.services.searching.review import case_disclosure
from facetrail.services.searching.search import ProbeImage, SearchRequest
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.conftest import needs_lfw
from tests.mail import smtp
from tests.org import CASE, JUSTIFICATION, OFFENSE
from tests.services.county import county, probe_of

__all__ = ["county", "smtp"]

ASSEMBLY = "unlawful-assembly"
CONDUCT = "Threw a brick through the window of the bank at 3 Main St during the night."


def _entry(org, kind: str, subject: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The details of the last entry of ``kind`` about ``subject``."""
    with org.ctx.sessions() as s:
        row = s.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.kind == kind, AuditEntryRow.subject == subject)
            .order_by(AuditEntryRow.seq.desc())
        ).first()
        assert row is not None
        found: dict[str, object] = json.loads(row.details)
    return found


def _searches(org) -> int:  # type: ignore[no-untyped-def]
    with org.ctx.sessions() as s:
        return int(s.scalar(select(func.count(SearchRecord.id))) or 0)


def test_a_search_without_the_attestation_is_refused_before_its_probe_is_read(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, _people = county
    garbage = (ProbeImage("never-read.jpg", b"not an image: never decoded"),)
    before = _searches(org)
    with pytest.raises(AttestationError, match="protected rights") as refused:
        org.search(("bookings",), garbage, case_number="2026-000901", attested=False)
    assert refused.value.code == "attestation_missing" and refused.value.subject == "attest"
    assert _searches(org) == before
    logged = _entry(org, "search.refused", "2026-000901")
    assert logged["code"] == "attestation_missing" and logged["attested"] is False


@needs_lfw
def test_every_search_records_the_words_attested_to(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    done = org.search(("bookings",), probe_of(people[0]), case_number="2026-000902")
    assert done.status == "done" and done.attestation == ATTESTATION
    asked = _entry(org, "search.request", f"search:{done.search_id}")
    assert asked["attestation"] == ATTESTATION
    assert asked["protected"] is False and asked["protected_reason"] is None
    # The face picker's preview comes before the attestation: it reveals no one.
    unattested = SearchRequest(
        org.people["ivy"], CASE, OFFENSE, JUSTIFICATION, ("bookings",), probe_of(people[0])
    )
    assert [f for f in preview_faces(org.ctx, unattested) if f.used]


@needs_lfw
def test_a_marked_offense_needs_a_second_named_reason(county) -> None:  # type: ignore[no-untyped-def]
    org, _box, people = county
    org.set_policy(
        offenses=(*DEFAULT_OFFENSES, ASSEMBLY),
        protected_offenses=(ASSEMBLY,),
        approval=ApprovalMode.LISTED,
        approval_offenses=(ASSEMBLY,),
    )
    probe = probe_of(people[1])
    before = _searches(org)
    for reason, why in (
        ("", f"at least {MIN_PROTECTED_REASON} characters"),
        ("a protest", f"at least {MIN_PROTECTED_REASON} characters"),
        (f"  {JUSTIFICATION.upper()} ", "repeats the justification"),
    ):
        with pytest.raises(AttestationError, match=why) as refused:
            org.search(
                ("bookings",),
                probe,
                case_number="2026-000903",
                offense=ASSEMBLY,
                protected_reason=reason,
            )
        assert refused.value.subject == "protected_reason"
    assert _searches(org) == before
    # Another offense needs none, marked ones or not.
    assert org.search(("bookings",), probe, case_number="2026-000904").status == "done"

    held = org.search(
        ("bookings",), probe, case_number="2026-000905", offense=ASSEMBLY, protected_reason=CONDUCT
    )
    assert held.status == "pending" and held.protected_reason == CONDUCT
    asked = _entry(org, "search.request", f"search:{held.search_id}")
    assert asked["protected"] is True and asked["protected_reason"] == CONDUCT
    queue = listings.approval_queue(org.ctx, org.people["sam"])
    (waiting,) = [s for s in queue if s.search_id == held.search_id]
    assert waiting.protected_reason == CONDUCT and waiting.attestation == ATTESTATION
    disclosed = case_disclosure(org.ctx, org.people["head"], "2026-000905")
    (item,) = disclosed.searches
    assert item["second_reason"] == CONDUCT and item["attestation"] == ATTESTATION
    assert audit_status(org.ctx, org.people["head"]).ok


def test_unmarking_an_offense_relaxes_the_oversight() -> None:
    marked = Policy(offenses=(*DEFAULT_OFFENSES, ASSEMBLY), protected_offenses=(ASSEMBLY,))
    unmarked = Policy(offenses=(*DEFAULT_OFFENSES, ASSEMBLY))
    assert oversight_weakenings(marked, unmarked) == [
        f"offense categories no longer marked as protected: {ASSEMBLY}"
    ]
    assert oversight_weakenings(unmarked, marked) == []
    with pytest.raises(Exception, match="not allowed offense categories: riot"):
        Policy(protected_offenses=("riot",)).validate()
