"""The attestation through the API (issue 25): a search sent without ``attest`` is a 403
``attestation_missing`` problem naming the field, recorded and nothing stored; sent with it,
the search's answer carries the words attested to. The OpenAPI document says what ``attest``
means."""

from __future__ import annotations

from sqlalchemy import func, select

from facetrail.governance.attestation import ATTESTATION
from facetrail.store.schema import AuditEntryRow, SearchRecord
from tests.api.conftest import World
from tests.conftest import needs_lfw
from tests.org import JUSTIFICATION, OFFENSE

pytestmark = needs_lfw


def _form(case: str, **more: str) -> dict[str, object]:
    return {
        "case_number": case,
        "offense": OFFENSE,
        "justification": JUSTIFICATION,
        "galleries": ["bookings"],
    } | more


def test_a_search_without_the_attestation_is_refused(world: World) -> None:
    photo = next(iter(world.photos.values())).read_bytes()
    probe = [("probes", ("probe.jpg", photo, "image/jpeg"))]
    with world.ctx.sessions() as s:
        before = s.scalar(select(func.count(SearchRecord.id)))
    for sent in (_form("2026-000931"), _form("2026-000931", attest="false")):
        refused = world.client.post(
            "/api/v1/searches", data=sent, files=probe, headers=world.as_("ivy")
        )
        problem = refused.json()
        assert refused.status_code == 403 and problem["code"] == "attestation_missing"
        assert problem["subject"] == "attest" and ATTESTATION in problem["detail"]
    with world.ctx.sessions() as s:
        assert s.scalar(select(func.count(SearchRecord.id))) == before
        refusals = s.scalars(
            select(AuditEntryRow.details).where(
                AuditEntryRow.kind == "search.refused", AuditEntryRow.subject == "2026-000931"
            )
        ).all()
    assert len(refusals) == 2 and all('"attestation_missing"' in d for d in refusals)

    done = world.client.post(
        "/api/v1/searches",
        data=_form("2026-000932", attest="true"),
        files=probe,
        headers=world.as_("ivy"),
    )
    assert done.status_code == 201 and done.json()["attestation"] == ATTESTATION


def test_the_openapi_document_says_what_is_attested(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    body = schema["paths"]["/api/v1/searches"]["post"]["requestBody"]
    fields = body["content"]["multipart/form-data"]["schema"]["properties"]
    assert ATTESTATION in fields["attest"]["description"]
    assert "protected_reason" in fields
