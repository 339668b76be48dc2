"""Digests for agency heads: on the schedule the agency's policy sets (daily or weekly), each
head gets by e-mail and in the inbox what the agency's people did in the period just ended:
new and expiring accounts, searches by user and by offense (a network operator's searches for
the agency among them, named as such), pending approvals and alerts, erasure requests by step
and legal holds awaiting the head.

The period's figures come from the typed events logged for the agency (``governance.events``,
read by the indexed agency column); pending approvals, open alerts and accounts about to
expire are states, read as they stand when the digest is made. Each digest sent is a
``digest.send`` entry holding its figures, which also makes sending idempotent: a period is
sent once.

Authorisation: ``send_due_digests`` is the service's own (its schedule); ``show_digest``,
any period on request, needs the agency's head or an auditor, or a system admin
(``may_oversee_agency``). Audit: ``digest.send`` and ``digest.view``, refusals too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, NotFoundError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission, may_oversee_agency
from facetrail.governance.credentials import Principal
from facetrail.governance.events import (
    ERASURE_STEPS,
    AccountApproved,
    AccountCreated,
    AlertClosed,
    AlertRaised,
    DigestSent,
    Event,
    SearchRequested,
    read_events,
)
from facetrail.services.accounts import current_policy
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import agency_heads, deliver_outbox, notify_head
from facetrail.services.unit_of_work import SYSTEM, action, system_action
from facetrail.store.schema import Agency, AlertRow, LegalHold, SearchRecord, User

E = TypeVar("E", bound=Event)

__all__ = ["EXPIRING_DAYS", "Digest", "digest_period", "send_due_digests", "show_digest"]

#: Accounts whose trial ends within this many days are listed as expiring.
EXPIRING_DAYS = 14


@dataclass(frozen=True)
class Digest:
    agency: str
    period_from: str
    period_to: str
    new_accounts: list[str]
    #: [username, when the trial ends]
    expiring_accounts: list[list[str]]
    searches: int
    searches_by_user: dict[str, int]
    searches_by_offense: dict[str, int]
    #: searches a network operator made for the agency: operator -> count
    network_searches: dict[str, int]
    pending_approvals: int
    alerts_raised: int
    alerts_closed: int
    open_alerts: int
    #: the agency's erasure requests by step in the period (each approval searched every
    #: gallery for a person), and legal holds waiting for the head now
    erasure_requests: dict[str, int] = field(default_factory=dict)
    pending_holds: int = 0

    def figures(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        def counted(values: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

        lines = [
            f"facetrail digest for {self.agency}: {self.period_from} to {self.period_to}",
            "",
            f"Searches: {self.searches}",
            f"  by user: {counted(self.searches_by_user)}",
            f"  by offense: {counted(self.searches_by_offense)}",
            f"  run for you by your network's operators: {counted(self.network_searches)}",
            f"Searches awaiting approval now: {self.pending_approvals}",
            f"Alerts raised: {self.alerts_raised}; closed: {self.alerts_closed}; "
            f"open now: {self.open_alerts}",
            f"Erasure requests: {counted(self.erasure_requests)}; legal holds awaiting you: "
            f"{self.pending_holds}",
            f"New accounts: {', '.join(self.new_accounts) or 'none'}",
            "Trials ending within "
            f"{EXPIRING_DAYS} days: "
            + (", ".join(f"{u} ({at})" for u, at in self.expiring_accounts) or "none"),
        ]
        return "\n".join(lines)


def digest_period(schedule: str, now: datetime) -> tuple[datetime, datetime]:
    """The last whole period before ``now`` (UTC): yesterday, or last week Monday to Monday."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule == "daily":
        return today - timedelta(days=1), today
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday


def build_digest(
    session: Session, agency: Agency, since: datetime, until: datetime, now: datetime
) -> Digest:
    """The agency's digest for [since, until), its states as of ``now``."""
    span = ([agency.name], since.isoformat(), until.isoformat())
    requested = _events(session, SearchRequested, span)
    accounts = _events(session, AccountCreated, span) + _events(session, AccountApproved, span)
    raised = _events(session, AlertRaised, span)
    closed = _events(session, AlertClosed, span)
    members = set(session.scalars(select(User.username).where(User.agency_id == agency.id)))
    expiring = session.execute(
        select(User.username, User.trial_expires_at)
        .where(
            User.agency_id == agency.id,
            User.status == "active",
            User.account_type == "trial",
            User.trial_expires_at.is_not(None),
            User.trial_expires_at <= now + timedelta(days=EXPIRING_DAYS),
        )
        .order_by(User.trial_expires_at)
    ).all()
    pending = session.scalar(
        select(func.count(SearchRecord.id)).where(
            SearchRecord.agency_id == agency.id, SearchRecord.status == "pending"
        )
    )
    open_alerts = session.scalar(
        select(func.count(AlertRow.id)).where(
            AlertRow.agency_id == agency.id, AlertRow.status != "closed"
        )
    )
    return Digest(
        agency.name,
        since.isoformat(),
        until.isoformat(),
        sorted({e.username for e in accounts}),
        [[u, at.date().isoformat()] for u, at in expiring if at is not None],
        len(requested),
        dict(Counter(e.actor for e in requested)),
        dict(Counter(e.offense for e in requested)),
        dict(Counter(e.actor for e in requested if e.actor not in members)),
        int(pending or 0),
        len(raised),
        len(closed),
        int(open_alerts or 0),
        {step: len(_events(session, kind, span)) for step, kind in ERASURE_STEPS},
        int(
            session.scalar(
                select(func.count(LegalHold.id)).where(
                    LegalHold.agency_id == agency.id, LegalHold.status == "pending"
                )
            )
            or 0
        ),
    )


def _events(session: Session, kind: type[E], span: tuple[list[str], str, str]) -> list[E]:
    agencies, since, until = span
    return read_events(session, [kind], agencies=agencies, since=since, until=until)


def send_due_digests(ctx: AppContext, now: datetime | None = None) -> list[Digest]:
    """Send each agency's digest for its last whole period, unless sent already (the
    service's schedule): -> the digests sent now."""
    now = now or utc_now()
    with ctx.sessions() as session:
        names = list(session.scalars(select(Agency.name).order_by(Agency.name)))
    sent = [d for name in names if (d := _send(ctx, name, now)) is not None]
    deliver_outbox(ctx)
    return sent


def _send(ctx: AppContext, name: str, now: datetime) -> Digest | None:
    with system_action(ctx, "digest.send", name) as session:
        agency = session.scalar(select(Agency).where(Agency.name == name))
        if agency is None:
            return None
        schedule = current_policy(session, agency.id)[1].digest
        since, until = digest_period(schedule, now)
        done = read_events(session, [DigestSent], agencies=[name], since=since.isoformat())
        if any(d.period_to == until.isoformat() for d in done):
            return None
        digest = build_digest(session, agency, since, until, now)
        heads = [h.username for h in agency_heads(session, agency.id)] or ["(system admins)"]
        notify_head(
            session,
            agency.id,
            f"{schedule} digest: {name}, {since.date()} to {until.date()}",
            digest.text(),
        )
        event = DigestSent(
            actor=SYSTEM,
            agency=name,
            head=", ".join(heads),
            period_from=digest.period_from,
            period_to=digest.period_to,
            figures=digest.figures(),
        )
        append(session, event.entry())
    return digest


def show_digest(
    ctx: AppContext, actor: Principal, agency: str, since: datetime, until: datetime
) -> Digest:
    """The agency's digest for any period [since, until), on request. Audited as
    ``digest.view``."""
    if since >= until:
        raise InvalidRequestError("the period ends before it starts", subject="until")
    period: dict[str, object] = {"since": since.isoformat(), "until": until.isoformat()}
    with action(ctx, actor, "digest.view", agency, Permission.USE_ACCOUNT, period) as (
        session,
        who,
    ):
        row = session.scalar(select(Agency).where(Agency.name == agency))
        if row is None or not may_oversee_agency(who, row.id):
            raise NotFoundError("no such agency", subject=agency)
        digest = build_digest(session, row, since, until, utc_now())
        append(session, AuditEvent(actor.username, "digest.view", agency, period, agency))
    return digest
