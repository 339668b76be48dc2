"""What pages say, without a server: the QR code decodes to the URI it was made from, the
false-match rate reads as people understand it, every review decision, outcome and search
state the services know has words, each role is offered its own tasks, the audit log's time
filters keep whole days and minutes, and a policy amendment sends only what was changed."""

from __future__ import annotations

import re
from dataclasses import replace

import cv2
import numpy as np
import pytest

from facetrail.errors import InvalidRequestError
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import Policy
from facetrail.models.calibration import FalseMatchEstimate
from facetrail.services.searching.review import DECISIONS, OUTCOMES
from facetrail.store.vocabulary import SEARCH_STATUSES
from facetrail.web.audit_view import LogFilters
from facetrail.web.policy_view import PolicyForm
from facetrail.web.qr import qr_svg
from facetrail.web.result_view import DECISION_LABELS, OUTCOME_LABELS, false_match_text
from facetrail.web.routes.agency import STATUS_LABELS
from facetrail.web.tasks import tasks_for

pytestmark = pytest.mark.database_free

URI = "otpauth://totp/facetrail:ivy?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=facetrail"


def _raster(svg: str, scale: int = 8) -> np.ndarray:
    """The SVG's dark modules as a grey image (white ground), ``scale`` pixels a module."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    image = np.full((size * scale, size * scale), 255, np.uint8)
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", svg):
        x0, y0, width = int(x), int(y), int(run)
        image[y0 * scale : (y0 + 1) * scale, x0 * scale : (x0 + width) * scale] = 0
    return image


def test_the_qr_code_decodes_to_its_uri_and_is_named() -> None:
    svg = str(qr_svg(URI, label="QR code for <ivy>"))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title>QR code for &lt;ivy&gt;</title>" in svg
    text, _points, _straight = cv2.QRCodeDetector().detectAndDecode(_raster(svg))
    assert text == URI


@pytest.mark.parametrize(
    ("fmr", "upper", "words"),
    [
        (0.076, False, "7.6% of impostors score this high"),
        (0.95, False, "95% of impostors score this high"),
        (2.13e-7, False, "about 1 in 4,700,000 impostors score this high"),
        (1e-6, True, "below 1 in 1,000,000: no impostor measured scored this high"),
    ],
)
def test_the_false_match_rate_reads_as_odds(fmr: float, upper: bool, words: str) -> None:
    assert false_match_text(FalseMatchEstimate(fmr, upper)) == words


def test_an_uncalibrated_model_says_so() -> None:
    assert false_match_text(None) == "not calibrated for this model"


def test_every_decision_and_outcome_has_words() -> None:
    assert tuple(DECISION_LABELS) == DECISIONS
    assert tuple(OUTCOME_LABELS) == OUTCOMES


def test_each_role_is_offered_its_own_tasks() -> None:
    def titles(*roles: Role, links_only: bool = False) -> list[str]:
        who = Principal(1, "p", 1, "county", frozenset(r.value for r in roles))
        return [t.title for t in tasks_for(who) if t.href is not None or not links_only]

    assert titles(Role.INVESTIGATOR) == [
        "New search",
        "Your searches",
        "Reviews waiting",
        "Cases",
        "Inbox",
    ]
    assert titles(Role.SUPERVISOR) == [
        "Reviews waiting",
        "Cases",
        "Searches awaiting approval",
        "Agency searches",
        "People",  # the account requests they approve
        "Inbox",
    ]
    assert titles(Role.AGENCY_HEAD, Role.SUPERVISOR) == [
        "Reviews waiting",
        "Cases",
        "Searches awaiting approval",
        "Agency policy",
        "Agency searches",
        "Oversight",
        "Alerts",
        "People",
        "Audit log",
        "Erasure and retention",
        "Legal holds",
        "Inbox",
    ]
    assert titles(Role.PRIVACY_OFFICER) == ["Erasure and retention", "Inbox"]
    assert titles(Role.AUDITOR) == [
        "Cases",
        "Agency searches",
        "Oversight",
        "Alerts",
        "People",
        "Audit log",
        "Inbox",
    ]
    assert titles(Role.GALLERY_ADMIN, links_only=True) == [
        "Galleries",
        "Ingestion jobs",
        "Erasure and retention",
        "Inbox",
    ]
    assert titles(Role.SYSTEM_ADMIN, links_only=True) == [
        "People",
        "Audit log",
        "Galleries",
        "Ingestion jobs",
        "Erasure and retention",
        "Agencies",
        "Inbox",
    ]
    assert titles(Role.NETWORK_OPERATOR) == [
        "Search for a member agency",
        "Your searches",
        "Agencies",
        "Inbox",
    ]
    assert titles() == ["Inbox"]


def test_every_search_state_has_words() -> None:
    assert tuple(STATUS_LABELS) == SEARCH_STATUSES


def test_an_audit_filter_until_a_day_keeps_the_whole_day() -> None:
    query = LogFilters(since="2026-11-05T10:30", until="2026-11-05").query(after=7)
    assert query.since == "2026-11-05T10:30:00.000000+00:00"
    assert query.until == "2026-11-05T23:59:59.999999+00:00"
    assert LogFilters(until="2026-11-05T10:30").query(0).until == (
        "2026-11-05T10:30:59.999999+00:00"
    )
    assert (query.after, query.actor) == (7, None)


@pytest.mark.parametrize("typed", ["yesterday", "2026-13-01", "05/11/2026"])
def test_an_audit_filter_time_that_is_not_one_names_its_field(typed: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        LogFilters(since=typed).query(0)
    assert refused.value.subject == "since"


def test_a_policy_amendment_sends_only_what_was_changed() -> None:
    shown = PolicyForm.of_policy(Policy(galleries=("a", "b"), daily_limit=20))
    typed = replace(shown, galleries=("b", "a"), daily_limit="25 ", approval="never")
    assert dict(typed.changes(PolicyForm.of_json(shown.to_json()))) == {
        "daily_limit": 25,
        "approval": "never",
    }
    with pytest.raises(InvalidRequestError, match="change at least one rule"):
        shown.changes(shown)
    with pytest.raises(InvalidRequestError) as refused:
        replace(shown, daily_limit="many").changes(shown)
    assert refused.value.subject == "policy.daily_limit"
    with pytest.raises(InvalidRequestError, match="damaged"):
        PolicyForm.of_json('{"galleries": 1}')
