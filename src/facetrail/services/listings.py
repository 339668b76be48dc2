"""Work lists: the searches that wait for a supervisor's decision, with everything an approver
must weigh (who asks, for which case and offense, why, in which galleries, under which policy
version), and the searches a person asked for themselves.

Authorisation: ``approval_queue`` by a supervisor, of their own agency's pending searches only
(``governance.authority.may_decide_search`` marks which of them they may decide: never their
own); ``own_searches`` by any active account, of their own requests only. Both read the actor
as the database says now (``authorization.current_actor``: a suspended account is refused).
Audit: each listing is an entry (``search.queue``, ``search.list``) naming the searches shown,
since a queue discloses every justification in it; a refusal is a ``.refused`` entry
(``unit_of_work.action``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from facetrail.errors import PermissionDeniedError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import may_decide_search
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.records import search_problem
from facetrail.services.authorization import as_utc, current_actor
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import action
from facetrail.store.schema import SearchRecord, User

__all__ = ["OwnSearch", "PendingSearch", "approval_queue", "own_searches"]


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
    policy_version: int
    requested_at: str
    #: whether the viewer may decide it (a supervisor never decides their own search)
    decidable: bool
    #: why the stored search cannot be trusted (it differs from its audit entry), or None
    problem: str | None


@dataclass(frozen=True)
class OwnSearch:
    """One of the searches a person asked for, in brief."""

    search_id: int
    case_number: str
    offense: str
    galleries: list[str]
    #: pending | approved | denied | failed | done
    status: str
    outcome: str | None
    requested_at: str


def approval_queue(ctx: AppContext, actor: Principal) -> list[PendingSearch]:
    """The pending searches of the supervisor's agency, oldest first, each with its
    justification and whether this supervisor may decide it. By supervisors only; audited as
    ``search.queue`` (the ids shown), refusals too."""
    with action(ctx, actor.username, "search.queue", actor.agency) as session:
        who = current_actor(session, actor)
        if not who.has(Role.SUPERVISOR):
            raise PermissionDeniedError("only supervisors decide searches", subject=actor.username)
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
                probes=len(json.loads(record.probes)),
                policy_version=record.policy_version,
                requested_at=_iso(record),
                decidable=may_decide_search(who, record.requester_id, record.agency_id),
                problem=search_problem(session, record),
            )
            for record, requester in rows
        ]
        shown = [item.search_id for item in queue]
        append(session, AuditEvent(actor.username, "search.queue", actor.agency, {"shown": shown}))
    return queue


def own_searches(ctx: AppContext, actor: Principal, *, limit: int = 100) -> list[OwnSearch]:
    """The actor's own searches, newest first (at most ``limit``). Any active account, its
    own requests only; audited as ``search.list`` (the ids shown), refusals too."""
    with action(ctx, actor.username, "search.list", actor.username) as session:
        who = current_actor(session, actor)
        records = session.scalars(
            select(SearchRecord)
            .where(SearchRecord.requester_id == who.user_id)
            .order_by(SearchRecord.id.desc())
            .limit(max(1, min(limit, 500)))
        ).all()
        mine = [
            OwnSearch(
                search_id=r.id,
                case_number=r.case_number,
                offense=r.offense,
                galleries=json.loads(r.galleries),
                status=r.status,
                outcome=r.outcome,
                requested_at=_iso(r),
            )
            for r in records
        ]
        shown = [item.search_id for item in mine]
        append(session, AuditEvent(actor.username, "search.list", actor.username, {"shown": shown}))
    return mine


def _iso(record: SearchRecord) -> str:
    created = as_utc(record.created_at)
    return created.isoformat() if created is not None else ""
