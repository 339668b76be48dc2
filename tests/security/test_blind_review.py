"""Blind review holds on every read path (issue 21, section 3): a reviewer's call stays hidden
from everyone but its maker until the candidate's review is complete, in the results, the case
disclosure and the audit log's entries alike (one rule: ``governance.blind``).

Seen failing before the rule was shared: the head read ivy's call in the audit entries of kind
``review``, and a supervisor in the case disclosure, before the second review was in.
"""

from __future__ import annotations

from facetrail.governance.blind import HIDDEN
from facetrail.services.audit.audit_entries import AuditEntryQuery, list_entries
from facetrail.services.searching import review
from facetrail.services.searching.results import get_search
from facetrail.services.searching.search import ProbeImage
from tests.conftest import needs_lfw
from tests.org import CASE, Org

pytestmark = needs_lfw


def _calls_in_log(org: Org, who: str) -> list[dict[str, object]]:
    entries = list_entries(org.ctx, org.people[who], AuditEntryQuery(kind="review.record"))
    return [e.details for e in entries]


def _calls_disclosed(org: Org, who: str) -> list[dict[str, object]]:
    [searched] = review.case_disclosure(org.ctx, org.people[who], CASE).searches
    calls: list[dict[str, object]] = searched["reviews"]
    return calls


def test_a_first_call_is_hidden_on_every_path_until_the_second_is_in(
    world: tuple[Org, int, tuple[ProbeImage, ...]],
) -> None:
    org, search_id, _probe = world
    first = get_search(org.ctx, org.people["ivy"], search_id, include_crops=False).candidates[0].id
    review.review_candidate(org.ctx, org.people["ivy"], first, "possible_match", "same ears")

    # The head (an agency head and supervisor, who may make the second call) sees neither the
    # call nor its note, in the log or the disclosure; its place is shown.
    [logged] = _calls_in_log(org, "head")
    assert "decision" not in logged and "note" not in logged and logged["hidden"] == HIDDEN
    for who in ("head", "sam"):
        [disclosed] = _calls_disclosed(org, who)
        assert disclosed["decision"] is None and disclosed["note"] is None
        assert disclosed["hidden"] == HIDDEN
        shown = get_search(org.ctx, org.people[who], search_id, include_crops=False).candidates[0]
        assert shown.reviews == ()

    # Its maker sees it everywhere.
    [own] = _calls_disclosed(org, "ivy")
    assert (own["decision"], own["note"]) == ("possible_match", "same ears")

    # Once the second call is in, both are open to those allowed to read them.
    review.review_candidate(org.ctx, org.people["sam"], first, "not_a_match", "different nose")
    logged_calls = _calls_in_log(org, "head")
    assert [c["decision"] for c in logged_calls] == ["possible_match", "not_a_match"]
    assert [c["decision"] for c in _calls_disclosed(org, "head")] == [
        "possible_match",
        "not_a_match",
    ]
