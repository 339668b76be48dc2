"""What an agency's head sees: every person of the agency (status, roles, who approved them,
last activity, search counts) and every search made for it (case, offense, status, outcome,
reviewers), including the searches a network operator made on its behalf, with who ran them.

Search counts come from the typed ``search.request`` events logged for the agency (indexed by
agency: a network operator's search for the agency is the agency's, and not the operator's
own agency's); states (status, outcome, reviewers) from the stored searches they name.

Authorisation: the agency's head and auditors, and system admins (``may_oversee_agency``);
anyone else is answered as if the agency did not exist. Audit: ``oversight.view``, refusals
too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may_oversee_agency
from facetrail.governance.credentials import Principal
from facetrail.governance.events import SearchRequested, read_events
from facetrail.governance.fields import SERVICE_ACTORS
from facetrail.services.context import AppContext
from facetrail.services.oversight.alerts import raise_alerts
from facetrail.services.oversight.digests import Digest, send_due_digests
from facetrail.services.unit_of_work import action, require
from facetrail.store.schema import (
    Agency,
    AlertRow,
    AuditEntryRow,
    ErasureRow,
    Network,
    Review,
    SearchRecord,
    User,
    UserRole,
)

__all__ = [
    "MAX_SEARCHES",
    "AgencyOversight",
    "ErasureOversight",
    "PersonOversight",
    "ScheduleRun",
    "SearchOversight",
    "agency_oversight",
    "run_schedule",
]

#: The most searches one view lists (newest first); the counts cover the whole period.
MAX_SEARCHES = 500


@dataclass(frozen=True)
class PersonOversight:
    username: str
    #: their own agency (another for a network operator who searched for this one)
    agency: str
    status: str
    roles: list[str]
    account_type: str
    trial_expires_at: str | None
    approved_by: str | None
    #: when they last did anything facetrail logged, or None
    last_activity: str | None
    #: searches they asked for on this agency's behalf in the period
    searches: int


@dataclass(frozen=True)
class SearchOversight:
    id: int
    at: str
    requester: str
    #: the requester's own agency: another than the viewed one for a network's search
    requester_agency: str
    via_network: bool
    case: str
    offense: str
    status: str
    outcome: str | None
    reviewers: list[str]


@dataclass(frozen=True)
class AgencyOversight:
    agency: str
    network: str | None
    since: str | None
    until: str | None
    people: list[PersonOversight]
    #: people of other agencies (network operators) who searched for this one
    network_people: list[PersonOversight]
    searches: list[SearchOversight]
    searches_total: int
    open_alerts: int
    #: the erasure requests its staff opened (each approval searched every gallery)
    erasures: list[ErasureOversight] = field(default_factory=list)


@dataclass(frozen=True)
class ErasureOversight:
    id: int
    at: str
    reference: str
    status: str
    opened_by: str
    approved_by: str | None


def agency_oversight(
    ctx: AppContext,
    actor: Principal,
    agency: str | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AgencyOversight:
    """The agency's people and searches (``agency``: the actor's own when not given), searches
    asked for in [since, until) when given. Audited as ``oversight.view``."""
    name = agency or actor.agency
    if since is not None and until is not None and since >= until:
        raise InvalidRequestError("the period ends before it starts", subject="until")
    since_at = since.isoformat() if since else None
    until_at = until.isoformat() if until else None
    span: dict[str, object] = {"since": since_at, "until": until_at}
    with action(ctx, actor, "oversight.view", name, Permission.USE_ACCOUNT, span) as (
        session,
        who,
    ):
        row = session.scalar(select(Agency).where(Agency.name == name))
        if row is None or not may_oversee_agency(who, row.id):
            raise NotFoundError("no such agency", subject=name)
        requested = read_events(
            session, [SearchRequested], agencies=[name], since=since_at, until=until_at
        )
        counts = Counter(e.actor for e in requested)
        people = _people(session, User.agency_id == row.id, counts)
        outsiders = sorted(set(counts) - {p.username for p in people})
        network_people = _people(session, User.username.in_(outsiders), counts)
        searches = _searches(session, requested[::-1][:MAX_SEARCHES], name)
        network = (
            session.scalar(select(Network.name).where(Network.id == row.network_id))
            if row.network_id is not None
            else None
        )
        open_alerts = int(
            session.scalar(
                select(func.count(AlertRow.id)).where(
                    AlertRow.agency_id == row.id, AlertRow.status != "closed"
                )
            )
            or 0
        )
        erasures = _erasures(session, row.id, since, until)
        append(session, AuditEvent(actor.username, "oversight.view", name, span, name))
    return AgencyOversight(
        name,
        network,
        since_at,
        until_at,
        people,
        network_people,
        searches,
        len(requested),
        open_alerts,
        erasures,
    )


def _erasures(
    session: Session, agency_id: int, since: datetime | None, until: datetime | None
) -> list[ErasureOversight]:
    approver = aliased(User)
    stmt = (
        select(ErasureRow, User.username, approver.username)
        .join(User, User.id == ErasureRow.requested_by)
        .outerjoin(approver, approver.id == ErasureRow.approved_by)
        .where(ErasureRow.agency_id == agency_id)
        .order_by(ErasureRow.id.desc())
        .limit(MAX_SEARCHES)
    )
    if since is not None:
        stmt = stmt.where(ErasureRow.created_at >= since)
    if until is not None:
        stmt = stmt.where(ErasureRow.created_at < until)
    return [
        ErasureOversight(
            r.id, r.created_at.isoformat(timespec="seconds"), r.reference, r.status, by, ok
        )
        for r, by, ok in session.execute(stmt)
    ]


def _people(
    session: Session, which: ColumnElement[bool], counts: Counter[str]
) -> list[PersonOversight]:
    approver = aliased(User)
    stmt = (
        select(User, Agency.name, approver.username)
        .join(Agency, Agency.id == User.agency_id)
        .outerjoin(approver, approver.id == User.approved_by)
        .where(which)
        .order_by(User.username)
    )
    found = list(session.execute(stmt))
    ids = [u.id for u, _, _ in found]
    roles: dict[int, list[str]] = defaultdict(list)
    for uid, role in session.execute(
        select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))
    ):
        roles[uid].append(role)
    names = [u.username for u, _, _ in found]
    last = dict(
        session.execute(
            select(AuditEntryRow.actor, func.max(AuditEntryRow.at))
            .where(AuditEntryRow.actor.in_(names), AuditEntryRow.actor.not_in(SERVICE_ACTORS))
            .group_by(AuditEntryRow.actor)
        ).all()
    )
    return [
        PersonOversight(
            u.username,
            agency,
            u.status,
            sorted(roles[u.id]),
            u.account_type,
            u.trial_expires_at.isoformat(timespec="seconds") if u.trial_expires_at else None,
            approved,
            last.get(u.username),
            counts.get(u.username, 0),
        )
        for u, agency, approved in found
    ]


def _searches(
    session: Session, requested: list[SearchRequested], viewed: str
) -> list[SearchOversight]:
    ids = [e.search_id for e in requested]
    records = {
        r.id: (r, agency)
        for r, agency in session.execute(
            select(SearchRecord, Agency.name)
            .join(User, User.id == SearchRecord.requester_id)
            .join(Agency, Agency.id == User.agency_id)
            .where(SearchRecord.id.in_(ids))
        )
    }
    reviewers: dict[int, list[str]] = defaultdict(list)
    for sid, username in session.execute(
        select(Review.search_id, User.username)
        .join(User, User.id == Review.reviewer_id)
        .where(Review.search_id.in_(ids))
        .order_by(Review.id)
    ):
        if username not in reviewers[sid]:
            reviewers[sid].append(username)
    out = []
    for e in requested:
        record, requester_agency = records.get(e.search_id, (None, viewed))
        out.append(
            SearchOversight(
                e.search_id,
                e.at,
                e.actor,
                requester_agency,
                requester_agency != viewed,
                e.case,
                e.offense,
                record.status if record is not None else "gone",
                record.outcome if record is not None else None,
                reviewers[e.search_id],
            )
        )
    return out


@dataclass(frozen=True)
class ScheduleRun:
    #: agency -> the alerts raised now (agencies with none left out)
    alerts_raised: dict[str, list[int]]
    digests_sent: list[Digest]


def run_schedule(ctx: AppContext, actor: Principal) -> ScheduleRun:
    """What the service does on its schedule, now, on a system admin's request: every
    agency's alert rules, and the digests due. Audited (the request as ``oversight.run``,
    refusals too; each alert and digest as its own entry)."""
    require(ctx, actor, "oversight.run", "oversight", Permission.MANAGE_ORGANISATION)
    raised = raise_alerts(ctx)
    return ScheduleRun({a: ids for a, ids in raised.items() if ids}, send_due_digests(ctx))
