"""Reading the audit log's entries, with filters: for auditors, agency heads and system
admins, in the CLI, the API and the web app alike.

Authorisation: a system admin reads every entry; an auditor or agency head reads the entries
made by people of their own agency (an entry's actor is a username) and the entries about it
(its agency column: a network operator's search for it, its alerts and digests); entries of
the system and of other agencies are not shown. The service's own entries
(``fields.SERVICE_ACTORS``) are read only through the agency they concern, never through an
account that bears the service's name (one made before the name was reserved). Audit: every
read is an ``audit.read`` entry with the filters used, and a refusal is ``audit.read.refused``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Actor, Permission, may
from facetrail.governance.blind import HIDDEN
from facetrail.governance.credentials import Principal
from facetrail.governance.events import ReviewRecorded
from facetrail.governance.fields import SERVICE_ACTORS
from facetrail.services.context import AppContext
from facetrail.services.searching.results import reviews_seen_by
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Agency, AuditEntryRow, User

__all__ = [
    "LOOK_ENDINGS",
    "LOOK_KINDS",
    "MAX_ENTRIES",
    "MAX_EXPORTED",
    "AuditEntryQuery",
    "AuditEntryView",
    "export_entries",
    "list_entries",
]

MAX_ENTRIES = 500
#: The most entries one CSV export holds (narrow the filters for more).
MAX_EXPORTED = 100_000
#: Entries that record a look or the log's own bookkeeping, not an act: left out on request.
LOOK_KINDS = ("auth.token.use", "row.seal")
LOOK_ENDINGS = (".view", ".list", ".read", ".queue", ".show")


@dataclass(frozen=True)
class AuditEntryQuery:
    actor: str | None = None
    #: a kind, or the start of kinds ("search." for every search entry)
    kind: str | None = None
    subject: str | None = None
    #: ISO times, inclusive
    since: str | None = None
    until: str | None = None
    #: entries after this position (the cursor)
    after: int = 0
    limit: int = 100
    #: entries before this position (the cursor back, for newest first)
    before: int = 0
    #: the newest first (a page after ``after`` is still the next ones up, shown newest first)
    newest_first: bool = False
    #: leave out the looks: reads, lists, views and token uses (``LOOK_KINDS``), and the
    #: sealing's own entries, so that what people did stands out
    hide_looks: bool = False


@dataclass(frozen=True)
class AuditEntryView:
    seq: int
    at: str
    actor: str
    kind: str
    subject: str
    details: dict[str, Any]
    #: the agency the entry concerns, if one
    agency: str | None = None


def list_entries(ctx: AppContext, actor: Principal, query: AuditEntryQuery) -> list[AuditEntryView]:
    """Entries matching ``query``, oldest first (or newest first), at most ``query.limit``
    (1..MAX_ENTRIES)."""
    filters = {k: v for k, v in asdict(query).items() if v not in (None, 0, False)}
    with action(ctx, actor, "audit.read", "audit", Permission.READ_AUDIT_LOG, filters) as (
        session,
        who,
    ):
        if not 1 <= query.limit <= MAX_ENTRIES:
            raise InvalidRequestError(f"limit must be 1..{MAX_ENTRIES}", subject="limit")
        found = _read(session, who, actor.user_id, query, query.limit)
        append(session, AuditEvent(actor.username, "audit.read", "audit", filters))
        return found


def export_entries(
    ctx: AppContext, actor: Principal, query: AuditEntryQuery
) -> list[AuditEntryView]:
    """Every entry matching ``query`` (at most ``MAX_EXPORTED``), for a CSV file: read as
    ``list_entries`` reads them, audited once as ``audit.export`` with the filters and how
    many were exported, refusals too."""
    filters = {k: v for k, v in asdict(query).items() if v not in (None, 0, False) and k != "limit"}
    with action(ctx, actor, "audit.export", "audit", Permission.READ_AUDIT_LOG, filters) as (
        session,
        who,
    ):
        found = _read(session, who, actor.user_id, query, MAX_EXPORTED)
        details = filters | {"entries": len(found)}
        append(session, AuditEvent(actor.username, "audit.export", "audit", details))
        return found


def _read(
    session: Session, who: Actor, viewer_id: int, query: AuditEntryQuery, limit: int
) -> list[AuditEntryView]:
    stmt = select(AuditEntryRow).where(AuditEntryRow.seq > query.after)
    if query.before:
        stmt = stmt.where(AuditEntryRow.seq < query.before)
    if not may(who, Permission.ACT_ON_EVERY_AGENCY):
        # Their own people's entries, and every entry about their agency: a network
        # operator's search for it, the alerts and digests the service made for it.
        people = select(User.username).where(User.agency_id == who.agency_id)
        own = select(Agency.name).where(Agency.id == who.agency_id).scalar_subquery()
        theirs = and_(AuditEntryRow.actor.in_(people), AuditEntryRow.actor.not_in(SERVICE_ACTORS))
        stmt = stmt.where(or_(theirs, AuditEntryRow.agency == own))
    if query.actor:
        stmt = stmt.where(AuditEntryRow.actor == query.actor)
    if query.kind:
        stmt = stmt.where(AuditEntryRow.kind.startswith(query.kind, autoescape=True))
    if query.subject:
        stmt = stmt.where(AuditEntryRow.subject == query.subject)
    if query.since:
        stmt = stmt.where(AuditEntryRow.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEntryRow.at <= query.until)
    if query.hide_looks:
        stmt = stmt.where(
            AuditEntryRow.kind.not_in(LOOK_KINDS),
            *(AuditEntryRow.kind.not_like(f"%{end}") for end in LOOK_ENDINGS),
        )
    # Newest first from the top or going back; the page after ``after`` is read upwards.
    downwards = query.newest_first and not query.after
    order = AuditEntryRow.seq.desc() if downwards else AuditEntryRow.seq
    rows = list(session.scalars(stmt.order_by(order).limit(limit)))
    if query.newest_first and not downwards:
        rows.reverse()
    views = [
        AuditEntryView(r.seq, r.at, r.actor, r.kind, r.subject, json.loads(r.details), r.agency)
        for r in rows
    ]
    return _blind(session, viewer_id, views)


def _blind(session: Session, viewer_id: int, views: list[AuditEntryView]) -> list[AuditEntryView]:
    """Review calls the viewer may not see yet (blind review: ``results.reviews_seen_by``)
    keep their place in the log, without the call and its note."""
    calls = {
        v.seq: int(v.details["candidate"])
        for v in views
        if v.kind == ReviewRecorded.kind and isinstance(v.details.get("candidate"), int)
    }
    if not calls:
        return views
    _seen, hidden = reviews_seen_by(session, viewer_id, sorted(set(calls.values())))
    return [
        replace(
            v,
            details={k: d for k, d in v.details.items() if k not in ("decision", "note")}
            | {"hidden": HIDDEN},
        )
        if calls.get(v.seq) in hidden
        else v
        for v in views
    ]
