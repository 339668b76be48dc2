"""Work lists: the searches that wait for a supervisor's decision, with everything an approver
must weigh (who asks, for which case and offense, why, with which probe photos, in which
galleries, under which policy version), the searches a person asked for themselves, the
searches of their agency found by case, date and status, and the agency's cases.

Authorisation: ``approval_queue`` by a supervisor, of their own agency's pending searches only
(``governance.authority.may_decide_search`` marks which of them they may decide: never their
own); ``own_searches`` by any active account, of their own requests only; ``find_searches``
the same, or every search of the actor's agency for the people who may open any of them
(``governance.authority.may_read_agency_searches``);
``list_cases`` the agency's cases the actor may disclose (``may_disclose_case``: all of them
for its supervisors, head and auditors, else those with a search of the actor's). All read
the actor as the database says now (``authorization.current_actor``: a suspended account is
refused). Audit: each listing is an entry (``search.queue``, ``search.list``, ``case.list``)
naming what was shown, since a queue discloses every justification in it; a refusal is a
``.refused`` entry (``unit_of_work.action``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, PermissionDeniedError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may,
    may_decide_search,
    may_disclose_case,
    may_read_agency_searches,
)
from facetrail.governance.credentials import Principal
from facetrail.governance.records import asked_grounds, search_problem
from facetrail.services.authorization import as_utc
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action
from facetrail.store.schema import SearchRecord, User
from facetrail.store.vocabulary import SEARCH_STATUSES

__all__ = [
    "MAX_LISTED",
    "CaseSummary",
    "OwnSearch",
    "PendingSearch",
    "SearchQuery",
    "SearchSummary",
    "approval_queue",
    "count_approvals_waiting",
    "find_searches",
    "list_cases",
    "own_searches",
    "parse_moment",
]

#: The most searches one listing returns.
MAX_LISTED = 500


@dataclass(frozen=True)
class PendingSearch:
    """A search awaiting a decision, as the supervisor who decides it must see it."""

    search_id: int
    requester: str
    case_number: str
    offense: str
    justification: str
    galleries: list[str]
    probes: int
    #: the probe photos' file names, as the requester sent them
    probe_names: list[str]
    policy_version: int
    requested_at: str
    #: whether the viewer may decide it (a supervisor never decides their own search)
    decidable: bool
    #: why the stored search cannot be trusted (it differs from its audit entry), or None
    problem: str | None
    #: a crowd probe (a demonstration, an assembly): the most faces fit to search in one of
    #: its photos, which is why it waits (None: not a crowd)
    crowd_faces: int | None = None
    #: the words its requester attested to, and the second, named reason its offense
    #: (marked as close to protected activity) needed
    attestation: str | None = None
    protected_reason: str | None = None


@dataclass(frozen=True)
class SearchSummary:
    """One search in a list, in brief."""

    search_id: int
    requester: str
    case_number: str
    offense: str
    galleries: list[str]
    #: pending | approved | denied | failed | done
    status: str
    outcome: str | None
    requested_at: str


#: The searches a person asked for are listed in the same shape as any other.
OwnSearch = SearchSummary


@dataclass(frozen=True)
class SearchQuery:
    """Which searches to list; every filter is optional."""

    #: only the actor's own searches (else every search of their agency)
    mine: bool = False
    case_number: str | None = None
    #: ISO dates or times (UTC unless they say), inclusive; a date alone is its whole day
    since: str | None = None
    until: str | None = None
    #: one of SEARCH_STATUSES
    status: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class CaseSummary:
    """One case of an agency: how many searches it holds and where they stand."""

    case_number: str
    searches: int
    pending: int
    leads: int
    first_requested_at: str
    last_requested_at: str


def approval_queue(ctx: AppContext, actor: Principal) -> list[PendingSearch]:
    """The pending searches of the supervisor's agency, oldest first, each with its
    justification, its probe photos' names and whether this supervisor may decide it. By
    supervisors only; audited as ``search.queue`` (the ids shown), refusals too."""
    with action(ctx, actor, "search.queue", actor.agency, Permission.DECIDE_SEARCHES) as (
        session,
        who,
    ):
        rows = session.execute(
            select(SearchRecord, User.username)
            .join(User, User.id == SearchRecord.requester_id)
            .where(SearchRecord.agency_id == who.agency_id, SearchRecord.status == "pending")
            .order_by(SearchRecord.id)
        ).all()
        queue = [
            PendingSearch(
                search_id=record.id,
                requester=requester,
                case_number=record.case_number,
                offense=record.offense,
                justification=record.justification,
                galleries=json.loads(record.galleries),
                probes=len(probe_names := _probe_names(record)),
                probe_names=probe_names,
                policy_version=record.policy_version,
                requested_at=_iso(record),
                decidable=may_decide_search(who, record.requester_id, record.agency_id),
                problem=search_problem(session, record),
                crowd_faces=(asked := asked_grounds(session, record.id)).crowd_faces,
                attestation=asked.attestation,
                protected_reason=asked.protected_reason,
            )
            for record, requester in rows
        ]
        shown = [item.search_id for item in queue]
        append(session, AuditEvent(actor.username, "search.queue", actor.agency, {"shown": shown}))
    return queue


def own_searches(ctx: AppContext, actor: Principal, *, limit: int = 100) -> list[SearchSummary]:
    """The actor's own searches, newest first (at most ``limit``). Any active account, its
    own requests only; audited as ``search.list`` (the ids shown), refusals too."""
    return find_searches(ctx, actor, SearchQuery(mine=True, limit=max(1, min(limit, MAX_LISTED))))


def find_searches(ctx: AppContext, actor: Principal, query: SearchQuery) -> list[SearchSummary]:
    """Searches matching ``query``, newest first (at most ``query.limit``, 1..MAX_LISTED).

    ``mine``: the actor's own requests, for any active account. Otherwise every search of the
    actor's agency, for its investigators, supervisors, head and auditors; others are refused
    (they list their own with ``mine``). Another agency's searches are never listed. Audited
    as ``search.list`` with the filters and the ids shown; refusals (a bad filter too) as
    ``search.list.refused``."""
    filters = {k: v for k, v in asdict(query).items() if v not in (None, False)}
    with action(ctx, actor, "search.list", actor.username, Permission.USE_ACCOUNT, filters) as (
        session,
        who,
    ):
        if not query.mine and not may_read_agency_searches(who, who.agency_id):
            raise PermissionDeniedError(
                "only the agency's investigators, supervisors, head and auditors list its "
                "searches; you may list your own",
                subject=actor.username,
            )
        if not 1 <= query.limit <= MAX_LISTED:
            raise InvalidRequestError(f"limit must be 1..{MAX_LISTED}", subject="limit")
        whose = (
            SearchRecord.requester_id == who.user_id
            if query.mine
            else SearchRecord.agency_id == who.agency_id
        )
        rows = session.execute(
            select(SearchRecord, User.username)
            .join(User, User.id == SearchRecord.requester_id)
            .where(whose, *_conditions(query))
            .order_by(SearchRecord.id.desc())
            .limit(query.limit)
        ).all()
        found = [
            SearchSummary(
                search_id=r.id,
                requester=requester,
                case_number=r.case_number,
                offense=r.offense,
                galleries=json.loads(r.galleries),
                status=r.status,
                outcome=r.outcome,
                requested_at=_iso(r),
            )
            for r, requester in rows
        ]
        details = filters | {"shown": [item.search_id for item in found]}
        append(session, AuditEvent(actor.username, "search.list", actor.username, details))
    return found


def list_cases(ctx: AppContext, actor: Principal) -> list[CaseSummary]:
    """The cases of the actor's agency the actor may disclose, the latest first: all of them
    for its supervisors, head and auditors; for anyone else, those holding a search they
    asked for (counts cover every search of the agency in the case). Another agency's cases
    are never listed. Audited as ``case.list`` with the case numbers shown, refusals too."""
    with action(ctx, actor, "case.list", actor.agency, Permission.USE_ACCOUNT) as (session, who):
        own = SearchRecord.agency_id == who.agency_id
        stmt = (
            select(
                SearchRecord.case_number,
                func.count(SearchRecord.id),
                func.sum(case((SearchRecord.status == "pending", 1), else_=0)),
                func.sum(case((SearchRecord.outcome == "lead", 1), else_=0)),
                func.min(SearchRecord.created_at),
                func.max(SearchRecord.created_at),
            )
            .where(own)
            .group_by(SearchRecord.case_number)
        )
        if not may_disclose_case(who, who.agency_id, worked_on_it=False):
            worked = select(SearchRecord.case_number).where(
                own, SearchRecord.requester_id == who.user_id
            )
            stmt = stmt.where(SearchRecord.case_number.in_(worked))
        found = [
            CaseSummary(number, count, int(pending or 0), int(leads or 0), _at(first), _at(last))
            for number, count, pending, leads, first, last in session.execute(stmt)
        ]
        found.sort(key=lambda c: (c.last_requested_at, c.case_number), reverse=True)
        shown = [c.case_number for c in found]
        append(session, AuditEvent(actor.username, "case.list", actor.agency, {"shown": shown}))
    return found


def _conditions(query: SearchQuery) -> list[ColumnElement[bool]]:
    """The query's filters as SQL conditions; a bad status or time is refused."""
    found: list[ColumnElement[bool]] = []
    if query.case_number:
        found.append(SearchRecord.case_number == query.case_number)
    if query.status:
        if query.status not in SEARCH_STATUSES:
            allowed = ", ".join(SEARCH_STATUSES)
            raise InvalidRequestError(f"status must be one of {allowed}", subject=query.status)
        found.append(SearchRecord.status == query.status)
    if query.since:
        found.append(SearchRecord.created_at >= parse_moment(query.since, "since"))
    if query.until:
        start = parse_moment(query.until, "until")
        if _is_date(query.until):  # the whole day: before the next one starts
            found.append(SearchRecord.created_at < start + timedelta(days=1))
        else:
            found.append(SearchRecord.created_at <= start)
    return found


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_moment(text: str, name: str) -> datetime:
    """An ISO date (its midnight) or time, in UTC (a time without an offset is UTC); the field
    ``name`` is refused (``InvalidRequestError``) when it is neither."""
    try:
        if _is_date(text):
            moment = datetime.combine(date.fromisoformat(text), time())
        else:
            moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequestError(
            "not an ISO date or time (e.g. 2026-03-01 or 2026-03-01T12:00:00+00:00)",
            subject=name,
        ) from exc
    utc = as_utc(moment)
    assert utc is not None
    return utc


def _probe_names(record: SearchRecord) -> list[str]:
    return [str(p.get("name", "")) for p in json.loads(record.probes)]


def _at(value: datetime | None) -> str:
    moment = as_utc(value)
    return moment.isoformat() if moment is not None else ""


def _iso(record: SearchRecord) -> str:
    return _at(record.created_at)


def count_approvals_waiting(session: Session, who: Actor) -> int:
    """How many pending searches ``who`` may decide (the navigation's count; read in the
    caller's transaction, not audited: ``approval_queue`` is the audited list)."""
    if not may(who, Permission.DECIDE_SEARCHES):
        return 0
    return int(
        session.scalar(
            select(func.count(SearchRecord.id)).where(
                SearchRecord.agency_id == who.agency_id,
                SearchRecord.status == "pending",
                SearchRecord.requester_id != who.user_id,
            )
        )
        or 0
    )
