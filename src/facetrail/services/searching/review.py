"""Human review of search results, the investigative-lead outcome, and case disclosure.

For each candidate an investigator makes a call (possible match / not a match / inconclusive)
with a note; where the agency's policy asks for it (the default), a second person of the
agency, never the first, makes their own call without seeing the first one (see
``governance.blind``). A search ends as a lead or no lead. A lead needs a candidate that
both reviewers called a possible match, and is always labelled an investigative lead, never an
identification. ``case_disclosure`` gathers every search and lead that touched a case, with
their audit entries, for a prosecutor.

Authorisation: reviews by investigators and supervisors of the search's agency; the outcome by
the requester or a supervisor of the agency; disclosure by a supervisor, head or auditor of the
agency, or the investigator who worked the case. Audit: reviews, refusals, outcomes and
disclosure exports are entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    FacetrailError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RecordMismatchError,
    ReviewError,
    StateError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may, may_disclose_case, may_follow_up_search
from facetrail.governance.blind import HIDDEN
from facetrail.governance.case_records import case_problem
from facetrail.governance.credentials import Principal
from facetrail.governance.events import OutcomeRecorded, ReviewRecorded
from facetrail.governance.fields import check_case_number, check_free_text
from facetrail.governance.records import asked_grounds, review_problem, search_rows_problem
from facetrail.services.accounts import refuse
from facetrail.services.authorization import name_of_agency, utc_now
from facetrail.services.context import AppContext
from facetrail.services.searching.results import reviews_seen_by
from facetrail.services.searching.search import LEAD_NOTICE
from facetrail.services.unit_of_work import action, loggable
from facetrail.store.schema import AuditEntryRow, Review, SearchCandidate, SearchRecord, User

DECISIONS = ("possible_match", "not_a_match", "inconclusive")
OUTCOMES = ("lead", "no_lead")
MIN_NOTE = 5


@dataclass(frozen=True)
class ReviewInfo:
    search_id: int
    candidate_id: int
    stage: int
    reviewer: str
    decision: str
    #: whether this candidate still waits for its independent second review
    second_review_pending: bool


@dataclass(frozen=True)
class OutcomeInfo:
    search_id: int
    outcome: str
    by: str
    note: str
    #: candidates called a possible match by every reviewer the policy asked for
    confirmed: list[int]
    notice: str = LEAD_NOTICE


def _state(record: SearchRecord) -> str:
    """'done', 'pending', ... and the outcome once there is one: 'done, lead'."""
    return f"{record.status}, {record.outcome}" if record.outcome else record.status


def review_candidate(
    ctx: AppContext, actor: Principal, candidate_id: int, decision: str, note: str
) -> ReviewInfo:
    """Record the actor's call on one candidate: the first review, or the second, blind one."""
    subject = f"candidate:{candidate_id}"
    with ctx.sessions() as session:  # only to name the search in a refusal's entry
        owner = session.scalar(
            select(SearchCandidate.search_id).where(SearchCandidate.id == candidate_id)
        )
    logged_as = f"search:{owner}" if owner is not None else subject
    with action(
        ctx, actor, "review", logged_as, Permission.REVIEW_CANDIDATES, {"candidate": candidate_id}
    ) as (session, who):
        if decision not in DECISIONS:
            raise InvalidRequestError(
                f"decision must be one of {', '.join(DECISIONS)}", subject="decision"
            )
        note = check_free_text("note", note)
        if len(note) < MIN_NOTE:
            raise InvalidRequestError(f"say why in a note ({MIN_NOTE}+ characters)", subject="note")
        candidate = session.get(SearchCandidate, candidate_id)
        record = session.get(SearchRecord, candidate.search_id) if candidate else None
        if record is None or record.agency_id != who.agency_id:
            raise NotFoundError("no such candidate", subject=subject)
        earlier = list(
            session.scalars(
                select(Review).where(Review.candidate_id == candidate_id).order_by(Review.stage)
            )
        )
        if not may(who, Permission.REVIEW_CANDIDATES):
            raise PermissionDeniedError(
                "only investigators and supervisors of the search's agency review", subject=subject
            )
        if record.status != "done" or record.outcome is not None:
            raise StateError(
                f"the search is not open for review ({_state(record)})", subject=subject
            )
        if tampered := search_rows_problem(session, record.id):
            raise RecordMismatchError(tampered, subject=f"search:{record.id}")
        if any(r.reviewer_id == actor.user_id for r in earlier):
            raise ReviewError(
                "you reviewed this candidate already; the second review must be another person's",
                subject=subject,
            )
        if len(earlier) >= (2 if record.second_review else 1):
            raise StateError("this candidate is fully reviewed", subject=subject)
        stage = len(earlier) + 1
        search_id, second = record.id, record.second_review
        row = Review(
            candidate_id=candidate_id,
            search_id=search_id,
            stage=stage,
            reviewer_id=actor.user_id,
            decision=decision,
            note=note,
        )
        session.add(row)
        recorded = ReviewRecorded(
            actor=actor.username,
            agency=name_of_agency(session, record.agency_id),
            search_id=search_id,
            candidate=candidate_id,
            stage=stage,
            decision=decision,
            note=note,
        )
        row.audit_seq = append(session, recorded.entry()).seq
    return ReviewInfo(
        search_id, candidate_id, stage, actor.username, decision, second and stage == 1
    )


def _confirmed(session: Session, record: SearchRecord) -> list[int]:
    """Candidates every required reviewer called a possible match. A review row that
    disagrees with its audit entry (forged in the database) is refused, never counted."""
    calls: dict[int, list[Review]] = {}
    names = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    for review in session.scalars(
        select(Review).where(Review.search_id == record.id).order_by(Review.stage)
    ):
        if problem := review_problem(session, review, names.get(review.reviewer_id, "")):
            raise RecordMismatchError(problem, subject=f"review:{review.id}")
        calls.setdefault(review.candidate_id, []).append(review)
    needed = 2 if record.second_review else 1
    return sorted(
        cid
        for cid, reviews in calls.items()
        if len(reviews) >= needed
        and len({r.reviewer_id for r in reviews}) == len(reviews)
        and all(r.decision == "possible_match" for r in reviews)
    )


def record_outcome(
    ctx: AppContext, actor: Principal, search_id: int, outcome: str, note: str
) -> OutcomeInfo:
    """Close a search as a lead (needs a candidate confirmed by review) or no lead."""
    subject = f"search:{search_id}"
    with action(ctx, actor, "search.outcome", subject, Permission.FOLLOW_UP_SEARCHES) as (
        session,
        who,
    ):
        if outcome not in OUTCOMES:
            raise InvalidRequestError("outcome must be lead or no_lead", subject="outcome")
        note = check_free_text("note", note)
        record = session.get(SearchRecord, search_id)
        if record is None or record.agency_id != who.agency_id:
            raise NotFoundError("no such search", subject=subject)
        confirmed = _confirmed(session, record)
        if not may_follow_up_search(who, record.requester_id):
            raise PermissionDeniedError(
                "only the requester or a supervisor of the agency records the outcome",
                subject=subject,
            )
        if record.status != "done" or record.outcome is not None:
            raise StateError(f"search is {_state(record)}", subject=subject)
        if outcome == "lead" and not confirmed:
            people = "two people" if record.second_review else "a reviewer"
            raise ReviewError(
                f"a lead needs a candidate that {people} called a possible match",
                subject=subject,
            )
        record.outcome = outcome
        record.outcome_by = actor.user_id
        record.outcome_note = note
        event = OutcomeRecorded(
            actor=actor.username,
            agency=name_of_agency(session, record.agency_id),
            search_id=search_id,
            outcome=outcome,
            confirmed=confirmed,
            note=note,
            label=LEAD_NOTICE,
        )
        append(session, event.entry())
    return OutcomeInfo(search_id, outcome, actor.username, note, confirmed)


@dataclass(frozen=True)
class Disclosure:
    case_number: str
    agency: str
    generated_by: str
    generated_at: str
    searches: list[dict[str, Any]]
    #: searches for this case that policy refused (they never ran), from the audit log
    refused: list[dict[str, Any]]
    #: the disclosure export's own audit entry
    audit_entry: int
    notice: str = LEAD_NOTICE
    #: the case's earlier disclosures by people of the agency ({seq, at, actor}), oldest first
    disclosures: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def case_disclosure(ctx: AppContext, actor: Principal, case_number: str) -> Disclosure:
    """Every search of the actor's agency for this case: why, who allowed it, what it returned,
    how people reviewed it, its outcome, and the audit entries that record each step."""
    subject = f"case:{loggable(case_number)}"
    try:
        case_number = check_case_number(case_number)
    except FacetrailError as error:  # no stored case number breaks the rules: none to find
        refuse(ctx, actor.username, "case.disclose", subject, error)
    with action(ctx, actor, "case.disclose", subject, Permission.USE_ACCOUNT) as (session, who):
        records = list(
            session.scalars(
                select(SearchRecord)
                .where(
                    SearchRecord.case_number == case_number,
                    SearchRecord.agency_id == who.agency_id,
                )
                .order_by(SearchRecord.id)
            )
        )
        worked = any(r.requester_id == who.user_id for r in records)
        if not may_disclose_case(who, who.agency_id, worked_on_it=worked):
            raise PermissionDeniedError(
                "only a supervisor, head or auditor of the agency, or the case's investigator, "
                "exports a disclosure",
                subject=subject,
            )
        agency = name_of_agency(session, who.agency_id)
        if (tampered := case_problem(session, agency, case_number, records)) is not None:
            raise RecordMismatchError(
                f"the case's records were changed outside facetrail: {tampered}; "
                "no disclosure is made from them",
                subject=subject,
            )
        if not records:
            raise NotFoundError("no searches for this case in your agency", subject=subject)
        searches = [_disclose(session, r, who.user_id) for r in records]
        colleagues = select(User.username).where(User.agency_id == who.agency_id)
        refused = [
            {"seq": e.seq, "at": e.at, "actor": e.actor, "details": json.loads(e.details)}
            for e in session.scalars(
                select(AuditEntryRow)
                .where(
                    AuditEntryRow.kind == "search.refused",
                    AuditEntryRow.subject == case_number,
                    AuditEntryRow.actor.in_(colleagues),
                )
                .order_by(AuditEntryRow.seq)
            )
        ]
        earlier = [
            {"seq": seq, "at": at, "actor": by}
            for seq, at, by in session.execute(
                select(AuditEntryRow.seq, AuditEntryRow.at, AuditEntryRow.actor)
                .where(
                    AuditEntryRow.kind == "case.disclose",
                    AuditEntryRow.subject == subject,
                    AuditEntryRow.actor.in_(colleagues),
                )
                .order_by(AuditEntryRow.seq)
            )
        ]
        entry = append(
            session,
            AuditEvent(
                actor.username,
                "case.disclose",
                subject,
                {"searches": [r.id for r in records]},
            ),
        )
    return Disclosure(
        case_number,
        agency,
        actor.username,
        utc_now().isoformat(),
        searches,
        refused,
        entry.seq,
        disclosures=earlier,
    )


def _disclose(session: Session, record: SearchRecord, viewer_id: int) -> dict[str, Any]:
    """One search as the disclosure shows it to ``viewer_id``: calls still hidden from them
    (blind review, ``results.reviews_seen_by``) are shown by their place only."""
    names = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    candidates = list(
        session.scalars(
            select(SearchCandidate)
            .where(SearchCandidate.search_id == record.id)
            .order_by(SearchCandidate.gallery, SearchCandidate.rank)
        )
    )
    reviews = list(
        session.scalars(select(Review).where(Review.search_id == record.id).order_by(Review.id))
    )
    entries = session.execute(
        select(AuditEntryRow.seq, AuditEntryRow.kind, AuditEntryRow.actor, AuditEntryRow.at)
        .where(AuditEntryRow.subject == f"search:{record.id}")
        .order_by(AuditEntryRow.seq)
    ).all()
    reviewed = {r.candidate_id for r in reviews}
    _seen, hidden = reviews_seen_by(session, viewer_id, sorted(reviewed))
    asked = asked_grounds(session, record.id)
    return {
        "search_id": record.id,
        "requested_by": names.get(record.requester_id),
        "requested_at": record.created_at.isoformat(),
        "offense": record.offense,
        "justification": record.justification,
        "second_reason": asked.protected_reason,
        "attestation": asked.attestation,
        "crowd_faces": asked.crowd_faces,
        "galleries": json.loads(record.galleries),
        "policy_version": record.policy_version,
        "status": record.status,
        "needed_approval": record.needs_approval,
        "decided_by": names.get(record.decided_by) if record.decided_by else None,
        "decision_note": record.decision_note,
        "produced_by": json.loads(record.produced_by or "{}"),
        "candidates_returned": len(candidates),
        "candidates_reviewed": [
            {
                "candidate": c.id,
                "gallery": c.gallery,
                "rank": c.rank,
                "score": round(c.score, 6),
                "image_sha256": c.image_sha256,
                "source": json.loads(c.source),
            }
            for c in candidates
            if c.id in reviewed
        ],
        "reviews": [
            {
                "candidate": r.candidate_id,
                "stage": r.stage,
                "reviewer": names.get(r.reviewer_id),
                "at": r.created_at.isoformat(),
            }
            | (
                {"decision": None, "note": None, "hidden": HIDDEN}
                if r.candidate_id in hidden
                else {"decision": r.decision, "note": r.note}
            )
            for r in reviews
        ],
        "outcome": record.outcome,
        "outcome_by": names.get(record.outcome_by) if record.outcome_by else None,
        "outcome_note": record.outcome_note,
        "audit_entries": [
            {"seq": seq, "kind": kind, "actor": who, "at": at} for seq, kind, who, at in entries
        ],
    }
