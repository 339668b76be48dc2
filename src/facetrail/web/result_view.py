"""A stored search as its page shows it: candidates grouped by gallery with their score, the
calibrated false-match rate in words, provenance, the reviews the viewer may see and whether
they may add theirs. Presentation only: the service that answers the form decides."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from facetrail.governance.credentials import Principal, Role
from facetrail.models.calibration import FalseMatchEstimate
from facetrail.services.searching.search_model import (
    Candidate,
    CandidateSource,
    ProbeFace,
    ReviewView,
    SearchResult,
)

__all__ = [
    "DECISION_LABELS",
    "OUTCOME_LABELS",
    "CandidateCard",
    "GalleryCandidates",
    "ResultPage",
    "false_match_text",
    "result_page",
]

#: services.searching.review.DECISIONS and OUTCOMES, in words
DECISION_LABELS = {
    "possible_match": "Possible match",
    "not_a_match": "Not a match",
    "inconclusive": "Inconclusive",
}
OUTCOME_LABELS = {"lead": "Investigative lead", "no_lead": "No lead"}

_STATES = {
    "pending": "waiting for a supervisor's approval",
    "approved": "approved, running",
    "denied": "denied",
    "failed": "failed",
    "done": "done",
}


@dataclass(frozen=True)
class CandidateCard:
    id: int
    #: its place in the one list across galleries, most likely first
    place: int
    gallery: str
    #: its rank in its own gallery's answer
    rank: int
    score: str
    false_match: str
    image_name: str
    subject_ref: str | None
    source: CandidateSource
    reviews: tuple[ReviewView, ...]
    review_state: str
    may_review: bool
    #: "erased on DATE (receipt ID)" for a person erased since: no face is shown
    erased: str | None = None
    #: the candidate's face as a ``data:`` URL (shown in the page: no request, no entry, of
    #: its own), or None
    face: str | None = None


@dataclass(frozen=True)
class GalleryCandidates:
    name: str
    produced_by: str
    #: how many candidates it returned
    count: int


@dataclass(frozen=True)
class ResultPage:
    result: SearchResult
    state: str
    galleries: list[GalleryCandidates]
    #: every gallery's candidates in one list, most likely first (by calibrated false-match
    #: rate): those at or under the policy's bar, then the rest, folded as unlikely
    likely: list[CandidateCard]
    unlikely: list[CandidateCard]
    #: the policy's bar in words ("1 in 1,000")
    likely_bar: str
    probe_faces: list[ProbeFace]
    #: the name of the (first) probe photo, whose searched face each candidate is shown beside
    probe_name: str | None
    #: whether the viewer is one who may close it (the requester or a supervisor)
    may_close: bool
    #: whether to offer the case's disclosure (the requester, a supervisor, head or auditor)
    may_disclose: bool
    #: the face the search used in its probe, as a ``data:`` URL, or None
    probe_face: str | None = None


def false_match_text(estimate: FalseMatchEstimate | None) -> str:
    """The calibrated false-match rate at a score, in words: how many impostors (people who
    are not the probe's person) score this high, as measured for the model."""
    if estimate is None:
        return "not calibrated for this model"
    if estimate.fmr <= 0:
        return "below anything measured"
    if estimate.upper_bound:
        return f"below 1 in {_round(1 / estimate.fmr):,}: no impostor measured scored this high"
    if estimate.fmr >= 0.01:
        percent = estimate.fmr * 100
        shown = f"{percent:.0f}" if percent >= 10 else f"{percent:.2g}"
        return f"{shown}% of impostors score this high"
    return f"about 1 in {_round(1 / estimate.fmr):,} impostors score this high"


def _round(odds: float) -> int:
    """Two significant figures: the calibration is not more precise than that."""
    return int(float(f"{odds:.2g}"))


def data_url(jpeg: bytes | None) -> str | None:
    """A JPEG as a ``data:`` URL (the pages' CSP allows ``data:`` images), or None."""
    if not jpeg:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def result_page(
    result: SearchResult, viewer: Principal, probe_face: bytes | None = None
) -> ResultPage:
    open_for_review = result.status == "done" and result.outcome is None
    reviewer = viewer.has_any(Role.INVESTIGATOR, Role.SUPERVISOR)
    required = 2 if result.second_review else 1
    may = open_for_review and reviewer
    galleries = []
    for name in result.galleries:
        producer = result.produced_by.get(name)
        produced_by = (
            f"Model pack {producer.pack}, {producer.index} index of {producer.size:,} faces."
            if producer is not None
            else ""
        )
        count = sum(1 for c in result.candidates if c.gallery == name)
        galleries.append(GalleryCandidates(name, produced_by, count))
    ranked = sorted(result.candidates, key=_likeliness)
    bar = result.likely_false_match_rate
    cards = [_card(c, place, viewer, required, may=may) for place, c in enumerate(ranked, 1)]
    likely = [card for card, c in zip(cards, ranked, strict=True) if _is_likely(c, bar)]
    unlikely = [card for card, c in zip(cards, ranked, strict=True) if not _is_likely(c, bar)]
    state = _STATES.get(result.status, result.status)
    if result.outcome is not None:
        state += f", closed: {OUTCOME_LABELS.get(result.outcome, result.outcome)}"
    asked = viewer.username == result.requester
    may_close = asked or viewer.has(Role.SUPERVISOR)
    may_disclose = asked or viewer.has_any(Role.SUPERVISOR, Role.AGENCY_HEAD, Role.AUDITOR)
    probe_name = next((f.probe for f in result.probe_faces if f.used), None)
    return ResultPage(
        result,
        state,
        galleries,
        likely,
        unlikely,
        f"1 in {_round(1 / bar):,}",
        result.probe_faces,
        probe_name,
        may_close,
        may_disclose,
        data_url(probe_face),
    )


def _likeliness(candidate: Candidate) -> tuple[bool, float, float]:
    """Most likely first: the lowest calibrated false-match rate (a model without a
    calibration after every calibrated one), then the highest score."""
    estimate = candidate.false_match
    return (estimate is None, estimate.fmr if estimate else 0.0, -candidate.score)


def _is_likely(candidate: Candidate, bar: float) -> bool:
    return candidate.false_match is not None and candidate.false_match.fmr <= bar


def _card(
    candidate: Candidate, place: int, viewer: Principal, required: int, *, may: bool
) -> CandidateCard:
    mine = any(r.reviewer == viewer.username for r in candidate.reviews)
    done = len(candidate.reviews) >= required
    if done:
        state = "Fully reviewed."
    elif mine:
        state = "Your review is recorded; the second, independent review is still to come."
    elif required == 2:
        state = (
            "Two people review this candidate independently: another reviewer's call stays "
            "hidden until you have made yours."
        )
    else:
        state = "One review is needed."
    return CandidateCard(
        id=candidate.id,
        place=place,
        gallery=candidate.gallery,
        rank=candidate.rank,
        score=f"{candidate.score:.3f}",
        false_match=false_match_text(candidate.false_match),
        image_name=candidate.image_name,
        subject_ref=candidate.subject_ref,
        source=candidate.source,
        reviews=candidate.reviews,
        review_state=state,
        may_review=may and not mine and not done and candidate.erased is None,
        erased=(
            f"This person was erased on request on {candidate.erased.erased_at[:10]} "
            f"(receipt {candidate.erased.receipt_id[:16]}…): their face and image are gone"
            if candidate.erased is not None
            else None
        ),
        face=data_url(candidate.crop_jpeg),
    )
