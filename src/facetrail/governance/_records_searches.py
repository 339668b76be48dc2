"""The record checks of case-bound searches: a stored search and its candidates held to the
entries of its request, decision, run and outcome; its reviews to their ``review.record``
entries; its kept probe templates to its run (``governance.records``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance._record_entries import entry_details, logged_entries
from facetrail.governance.seal_checks import row_problem, rows_problems
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    Review,
    SearchCandidate,
    SearchRecord,
    User,
)


def review_problem(session: Session, review: Review, reviewer: str) -> str | None:
    """Why a stored review disagrees with its ``review.record`` entry."""
    if review.audit_seq is None:
        return "review has no audit entry"
    if sealed := row_problem(session, "reviews", review.id):
        return f"review: {sealed}"
    entry = session.get(AuditEntryRow, review.audit_seq)
    if entry is None:
        return "review's audit entry is missing"
    details = entry_details(entry)
    if (
        entry.kind != "review.record"
        or entry.subject != f"search:{review.search_id}"
        or entry.actor != reviewer
        or details.get("candidate") != review.candidate_id
        or details.get("stage") != review.stage
        or details.get("decision") != review.decision
    ):
        return "review differs from the audit entry that recorded it"
    return None


def search_problem(session: Session, record: SearchRecord) -> str | None:
    """Why a stored search or its candidates disagree with the entries of its request, its
    decision, its run and its outcome."""
    subject = f"search:{record.id}"
    if sealed := search_rows_problem(session, record.id):
        return sealed
    requests = logged_entries(session, subject, "search.request")
    if len(requests) != 1:
        return "search has no single request entry"
    asked = entry_details(requests[0])
    try:
        probes = [p["sha256"] for p in json.loads(record.probes)]
        galleries = json.loads(record.galleries)
    except (ValueError, KeyError, TypeError):
        return "search is unreadable"
    requester = session.get(User, record.requester_id)
    agency = session.get(Agency, record.agency_id)
    if (
        requests[0].actor != (requester.username if requester else None)
        or asked.get("agency") != (agency.name if agency else None)
        or asked.get("case") != record.case_number
        or asked.get("offense") != record.offense
        or asked.get("justification") != record.justification
        or asked.get("galleries") != galleries
        or asked.get("probes") != probes
        or asked.get("policy_version") != record.policy_version
        or asked.get("needs_approval") != record.needs_approval
        or asked.get("second_review") != record.second_review
        or asked.get("top") != record.top
        or asked.get("face") != record.face
    ):
        return "search differs from its request entry"
    decided = logged_entries(session, subject, "search.approve") + logged_entries(
        session, subject, "search.deny"
    )
    if record.needs_approval and record.status not in ("pending",) and len(decided) != 1:
        return f"search is {record.status} without one recorded decision"
    runs = logged_entries(session, subject, "search.run")
    stored = _candidates(session, record.id)
    if record.status == "done":
        if len(runs) != 1:
            return "search is done without one run entry"
        if entry_details(runs[0]).get("candidates") != stored:
            return "candidates differ from the run entry"
    elif stored or runs:
        return f"search is {record.status} but has a recorded run or candidates"
    if record.outcome is not None:
        outcomes = logged_entries(session, subject, "search.outcome")
        if len(outcomes) != 1 or entry_details(outcomes[0]).get("outcome") != record.outcome:
            return "outcome differs from its entry"
    return None


@dataclass(frozen=True)
class AskedGrounds:
    """What a search's request entry recorded besides its record's columns."""

    #: the most faces fit to search in one of its probes, when they made it a crowd probe
    crowd_faces: int | None = None
    #: the words its requester attested to (None: asked before attestations were)
    attestation: str | None = None
    #: the second, named reason, when its offense was marked as close to protected activity
    protected_reason: str | None = None


def asked_grounds(session: Session, search_id: int) -> AskedGrounds:
    """The search's crowd, attestation and second reason as its one request entry recorded
    them (all None: no single entry)."""
    requests = logged_entries(session, f"search:{search_id}", "search.request")
    if len(requests) != 1:
        return AskedGrounds()
    asked = entry_details(requests[0])
    faces = asked.get("faces") or []
    crowd = (
        max(int(f) for f in faces)
        if asked.get("crowd") and isinstance(faces, list) and faces
        else None
    )
    attestation, reason = asked.get("attestation"), asked.get("protected_reason")
    return AskedGrounds(
        crowd,
        attestation if isinstance(attestation, str) else None,
        reason if asked.get("protected") and isinstance(reason, str) else None,
    )


def search_rows_problem(session: Session, search_id: int) -> str | None:
    """Why the rows of a search (itself, its candidates, its reviews) disagree with their
    seals, or with the reviews its entries recorded (a review deleted is a finding)."""
    if sealed := row_problem(session, "searches", search_id):
        return f"search: {sealed}"
    candidates = session.scalars(
        select(SearchCandidate.id).where(SearchCandidate.search_id == search_id)
    ).all()
    if found := rows_problems(session, "search_candidates", candidates):
        return f"candidate {next(iter(found))}: {next(iter(found.values()))}"
    reviews = session.execute(
        select(Review.id, Review.candidate_id, Review.stage).where(Review.search_id == search_id)
    ).all()
    if found := rows_problems(session, "reviews", [r.id for r in reviews]):
        return f"review {next(iter(found))}: {next(iter(found.values()))}"
    logged = sorted(
        (entry_details(e).get("candidate"), entry_details(e).get("stage"))
        for e in logged_entries(session, f"search:{search_id}", "review.record")
    )
    if logged != sorted((r.candidate_id, r.stage) for r in reviews):
        return "reviews differ from the reviews the log recorded (one was removed or added)"
    return None


def _candidates(session: Session, search_id: int) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for gallery, template_id, score in session.execute(
        select(SearchCandidate.gallery, SearchCandidate.template_id, SearchCandidate.score)
        .where(SearchCandidate.search_id == search_id)
        .order_by(SearchCandidate.gallery, SearchCandidate.rank)
    ):
        out.setdefault(gallery, []).append([template_id, round(score, 6)])
    return out


def probe_template_problem(
    session: Session, search_id: int, templates: dict[str, str]
) -> str | None:
    """Why a search's kept probe templates (pack -> SHA-256) are not those its run logged: one
    edited or removed would hide the same face searched under another case."""
    runs = logged_entries(session, f"search:{search_id}", "search.run")
    logged = entry_details(runs[0]).get("probe_templates", {}) if runs else {}
    if templates != logged:
        return "probe templates differ from the run entry"
    return None
