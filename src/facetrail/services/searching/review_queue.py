"""The hand-off of reviews: what waits for a person's review, and a named colleague asked for
the second one, so that nobody needs a search's address from a colleague.

- ``review_queue``: the searches of the viewer's agency that are open for review and hold a
  candidate the viewer may still call: one no one has reviewed, or one that waits for the
  second, independent review of a search that needs it (never one the viewer reviewed). Only
  counts are shown, never another reviewer's call (blind review).
- ``ask_second_review``: a reviewer of a search that needs a second review asks one named
  colleague for it; the colleague is told in their inbox, with the search's page.

Authorisation: both by those who review candidates (``Permission.REVIEW_CANDIDATES``:
investigators and supervisors) of the search's agency, read as the database says now; the
colleague asked must be an active reviewer of that agency who has not reviewed the search
yet, and not the asker. Another agency's search answers as a missing one. Audit: the queue
shown is a ``review.queue`` entry naming the searches listed; an ask is ``review.ask``
naming the colleague; refusals are ``.refused`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountInactiveError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Actor, Permission, may
from facetrail.governance.credentials import Principal
from facetrail.services.authorization import actor_of, as_utc, name_of_agency
from facetrail.services.context import AppContext
from facetrail.services.notifications import notify_users
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Review, SearchCandidate, SearchRecord, User

__all__ = [
    "ReviewWaiting",
    "ask_second_review",
    "count_reviews_waiting",
    "review_queue",
    "reviews_waiting",
]

#: The most searches the queue lists.
MAX_WAITING = 200


@dataclass(frozen=True)
class ReviewWaiting:
    """A search with candidates the viewer may still review."""

    search_id: int
    case_number: str
    offense: str
    requester: str
    #: when it ran (ISO 8601)
    ran_at: str
    #: candidates no one has reviewed yet
    first_reviews: int
    #: candidates reviewed once by someone else, waiting for the second, independent review
    second_reviews: int
    #: whether the search needs a second review at all
    second_review: bool


def review_queue(ctx: AppContext, actor: Principal) -> list[ReviewWaiting]:
    """The searches of the actor's agency open for review that hold a candidate the actor may
    still call, second reviews first, then oldest first. Audited as ``review.queue``."""
    with action(ctx, actor, "review.queue", actor.agency, Permission.REVIEW_CANDIDATES) as (
        session,
        who,
    ):
        waiting = reviews_waiting(session, who)[:MAX_WAITING]
        shown = [w.search_id for w in waiting]
        append(session, AuditEvent(actor.username, "review.queue", actor.agency, {"shown": shown}))
    return waiting


def reviews_waiting(session: Session, who: Actor) -> list[ReviewWaiting]:
    """What ``review_queue`` lists for ``who`` (read in the caller's transaction, not
    audited), second reviews first, then oldest first."""
    open_calls = _calls_waiting(session, who)
    rows = session.execute(
        select(SearchRecord, User.username)
        .join(User, User.id == SearchRecord.requester_id)
        .where(SearchRecord.id.in_(list(open_calls)))
    ).all()
    waiting = [
        ReviewWaiting(
            search_id=record.id,
            case_number=record.case_number,
            offense=record.offense,
            requester=requester,
            ran_at=_iso(record.completed_at),
            first_reviews=open_calls[record.id][0],
            second_reviews=open_calls[record.id][1],
            second_review=record.second_review,
        )
        for record, requester in rows
    ]
    waiting.sort(key=lambda w: (w.second_reviews == 0, w.search_id))
    return waiting


def count_reviews_waiting(session: Session, who: Actor) -> int:
    """How many searches ``review_queue`` would list for ``who`` (the navigation's count)."""
    if not may(who, Permission.REVIEW_CANDIDATES):
        return 0
    return len(_calls_waiting(session, who))


def _calls_waiting(session: Session, who: Actor) -> dict[int, tuple[int, int]]:
    """Search id -> (candidates no one reviewed, candidates waiting for a second review that
    ``who`` may give), for the searches of ``who``'s agency open for review that hold any."""
    calls = (
        select(
            Review.candidate_id,
            func.count(Review.id).label("made"),
            func.sum(case((Review.reviewer_id == who.user_id, 1), else_=0)).label("mine"),
        )
        .group_by(Review.candidate_id)
        .subquery()
    )
    rows = session.execute(
        select(
            SearchRecord.id,
            SearchRecord.second_review,
            func.coalesce(calls.c.made, 0),
            func.coalesce(calls.c.mine, 0),
        )
        .join(SearchCandidate, SearchCandidate.search_id == SearchRecord.id)
        .outerjoin(calls, calls.c.candidate_id == SearchCandidate.id)
        .where(
            SearchRecord.agency_id == who.agency_id,
            SearchRecord.status == "done",
            SearchRecord.outcome.is_(None),
            SearchCandidate.erased_at.is_(None),
        )
    ).all()
    found: dict[int, tuple[int, int]] = {}
    for search_id, needs_second, made, mine in rows:
        first = int(made == 0)
        second = int(made == 1 and not mine and bool(needs_second))
        if first or second:
            known = found.get(search_id, (0, 0))
            found[search_id] = (known[0] + first, known[1] + second)
    return found


def ask_second_review(ctx: AppContext, actor: Principal, search_id: int, colleague: str) -> str:
    """Ask ``colleague`` for the second review of a search that needs one; they are told in
    their inbox, with the search's page. -> the colleague's username. Audited as
    ``review.ask``, refusals too."""
    subject = f"search:{search_id}"
    details: dict[str, object] = {"colleague": colleague}
    with action(ctx, actor, "review.ask", subject, Permission.REVIEW_CANDIDATES, details) as (
        session,
        who,
    ):
        record = session.get(SearchRecord, search_id)
        if record is None or record.agency_id != who.agency_id:
            raise NotFoundError("no such search", subject=subject)
        if record.status != "done" or record.outcome is not None or not record.second_review:
            raise StateError("this search waits for no second review", subject=subject)
        asked = session.scalar(select(User).where(User.username == colleague))
        if asked is None or asked.agency_id != record.agency_id:
            raise NotFoundError("no such colleague in the search's agency", subject=colleague)
        if asked.id == who.user_id:
            raise PermissionDeniedError("ask someone other than yourself", subject=colleague)
        try:
            reviewer: Actor | None = actor_of(session, asked.id, asked.username)
        except AccountInactiveError:
            reviewer = None
        if reviewer is None or not may(reviewer, Permission.REVIEW_CANDIDATES):
            raise PermissionDeniedError(
                f"{colleague} cannot review candidates (an active investigator or supervisor "
                "of the agency can)",
                subject=colleague,
            )
        reviewed = session.scalar(
            select(func.count(Review.id)).where(
                Review.search_id == search_id, Review.reviewer_id == asked.id
            )
        )
        if reviewed:
            raise StateError(
                f"{colleague} has reviewed this search: the second review must be someone else's",
                subject=colleague,
            )
        notify_users(
            session,
            [asked.id],
            f"second review asked: search {search_id} (case {record.case_number})",
            f"{actor.username} asks you for the second, independent review of search "
            f"{search_id} (case {record.case_number}, {record.offense}). Open it at "
            f"/searches/{search_id}; every review waiting for you is listed at /reviews.",
        )
        append(
            session,
            AuditEvent(
                actor.username,
                "review.ask",
                subject,
                {"colleague": asked.username},
                name_of_agency(session, record.agency_id),
            ),
        )
    return asked.username


def _iso(value: datetime | None) -> str:
    when = as_utc(value)
    return when.isoformat(timespec="seconds") if when is not None else ""
