"""Misuse alerts: the rules of ``governance.alerts`` run over each agency's recorded searches,
and what its head and auditors do with what they raise.

The facts come from the typed audit events the agency's searches logged
(``governance.events``: requests, runs, reviews, outcomes), read by the indexed agency
column, so a network operator's search for a member agency is weighed with that agency's. Each
finding is raised once (an alert's key is its identity), written with its ``alert.raise``
entry and told to the agency's heads and auditors (inbox and e-mail).

Authorisation: ``raise_alerts`` is the service's own (housekeeping runs it); ``run_alerts``
(the CLI's and the API's) needs a system admin, or the head or an auditor of the one agency
it runs for. Listing: an agency's head and auditors, system admins
(``may_oversee_agency``). Acknowledging and closing, each with a note: the agency's head and
auditors, never the person the alert is about, nor anyone who asked for one of its
searches. Audit: every run, raise, listing, step and
refusal.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from facetrail.governance.alerts import Finding, TrialFact, evaluate
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may_handle_alerts,
    may_oversee_agency,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import (
    AlertAcknowledged,
    AlertClosed,
    AlertRaised,
)
from facetrail.governance.fields import check_case_number, check_free_text
from facetrail.governance.records import open_cases_digest
from facetrail.services.accounts import current_policy
from facetrail.services.authorization import as_utc, utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_users, role_holders
from facetrail.services.oversight._alert_facts import check_staff, search_facts
from facetrail.services.unit_of_work import SYSTEM, action, system_action
from facetrail.store.schema import (
    Agency,
    AlertRow,
    OpenCase,
    SearchRecord,
    User,
)

__all__ = [
    "MIN_NOTE",
    "AlertView",
    "acknowledge_alert",
    "close_alert",
    "count_alerts_waiting",
    "import_open_cases",
    "list_alerts",
    "raise_alerts",
    "run_alerts",
]

#: The shortest note that acknowledges or closes an alert.
MIN_NOTE = 10


@dataclass(frozen=True)
class AlertView:
    id: int
    agency: str
    rule: str
    summary: str
    user: str | None
    searches: list[int]
    status: str
    raised_at: str
    acknowledged_by: str | None
    acknowledge_note: str | None
    closed_by: str | None
    close_note: str | None


def _findings(ctx: AppContext, session: Session, agency: Agency, now: datetime) -> list[Finding]:
    rules = current_policy(session, agency.id)[1].alerts
    # Twice the history: the first searches of the window have their own history to go by.
    since = now - timedelta(days=2 * rules.history_days)
    facts = search_facts(ctx, session, agency.name, since, now)
    cases = frozenset(
        session.scalars(select(OpenCase.case_number).where(OpenCase.agency_id == agency.id))
    )
    trials = [
        TrialFact(user.username, expires)
        for user in session.scalars(
            select(User).where(
                User.agency_id == agency.id,
                User.account_type == "trial",
                User.status == "active",
                User.trial_expires_at.is_not(None),
            )
        )
        if (expires := as_utc(user.trial_expires_at)) is not None
    ]
    return evaluate(rules, facts, now, open_cases=cases or None, trials=trials)


def _raise_for(ctx: AppContext, actor: str, agency_name: str, now: datetime) -> list[int]:
    with system_action(ctx, "alerts.run", agency_name, actor=actor) as session:
        agency = session.scalar(select(Agency).where(Agency.name == agency_name))
        if agency is None:
            raise NotFoundError("no such agency", subject=agency_name)
        known = set(session.scalars(select(AlertRow.key).where(AlertRow.agency_id == agency.id)))
        raised: list[int] = []
        # Alerts go to the agency's heads and auditors.
        watchers = role_holders(session, agency.id, (Role.AGENCY_HEAD, Role.AUDITOR))
        for finding in _findings(ctx, session, agency, now):
            if finding.key in known:
                continue
            known.add(finding.key)
            row = AlertRow(
                agency_id=agency.id,
                rule=finding.rule,
                key=finding.key,
                summary=finding.summary,
                username=finding.user,
                searches=json.dumps(list(finding.searches)),
                status="open",
                raised_at=now,
            )
            session.add(row)
            session.flush()
            event = AlertRaised(
                actor=actor,
                agency=agency.name,
                alert_id=row.id,
                rule=finding.rule,
                key=finding.key,
                summary=finding.summary,
                user=finding.user,
                searches=list(finding.searches),
            )
            append(session, event.entry())
            notify_users(
                session,
                watchers,
                f"ALERT {row.id} ({finding.rule}) in {agency.name}",
                f"{finding.summary}\n\nAcknowledge or close it, with a note, on its page: "
                f"/alerts#alert-{row.id}",
            )
            raised.append(row.id)
        if raised or actor != SYSTEM:  # the schedule's quiet runs leave the log alone
            append(
                session,
                AuditEvent(actor, "alerts.run", agency.name, {"raised": raised}, agency.name),
            )
    return raised


def raise_alerts(ctx: AppContext, now: datetime | None = None) -> dict[str, list[int]]:
    """Run every agency's rules (the service's schedule): agency -> the alerts raised now.
    Running again raises nothing new."""
    now = now or utc_now()
    with ctx.sessions() as session:
        names = list(session.scalars(select(Agency.name).order_by(Agency.name)))
    for name in names:
        check_staff(ctx, name, now)
    raised = {name: _raise_for(ctx, SYSTEM, name, now) for name in names}
    deliver_outbox(ctx)
    return raised


def run_alerts(
    ctx: AppContext, actor: Principal, agency: str, now: datetime | None = None
) -> list[int]:
    """Run one agency's rules now, on request: -> the ids of the alerts raised."""
    with action(ctx, actor, "alerts.run", agency, Permission.USE_ACCOUNT) as (session, who):
        agency_id = session.scalar(select(Agency.id).where(Agency.name == agency))
        if agency_id is None or not may_oversee_agency(who, agency_id):
            raise NotFoundError("no such agency", subject=agency)
    now = now or utc_now()
    check_staff(ctx, agency, now)
    raised = _raise_for(ctx, actor.username, agency, now)
    deliver_outbox(ctx)
    return raised


def list_alerts(
    ctx: AppContext, actor: Principal, agency: str | None = None, status: str | None = None
) -> list[AlertView]:
    """An agency's alerts, newest first (``agency``: the actor's own when not given; a system
    admin may name any); ``status`` filters. Audited as ``alert.list``."""
    subject = agency or actor.agency
    with action(ctx, actor, "alert.list", subject, Permission.USE_ACCOUNT, {"status": status}) as (
        session,
        who,
    ):
        agency_id = session.scalar(select(Agency.id).where(Agency.name == subject))
        if agency_id is None or not may_oversee_agency(who, agency_id):
            raise NotFoundError("no such agency", subject=subject)
        stmt = select(AlertRow).where(AlertRow.agency_id == agency_id)
        if status is not None:
            stmt = stmt.where(AlertRow.status == status)
        rows = list(session.scalars(stmt.order_by(AlertRow.id.desc())))
        details = {"status": status, "alerts": len(rows)}
        append(session, AuditEvent(actor.username, "alert.list", subject, details, subject))
        return [_view(session, row, subject) for row in rows]


def _view(session: Session, row: AlertRow, agency: str) -> AlertView:
    names = _names(session, [row.acknowledged_by, row.closed_by])
    return AlertView(
        row.id,
        agency,
        row.rule,
        row.summary,
        row.username,
        json.loads(row.searches),
        row.status,
        row.raised_at.isoformat(timespec="seconds"),
        names.get(row.acknowledged_by),
        row.acknowledge_note,
        names.get(row.closed_by),
        row.close_note,
    )


def _names(session: Session, ids: list[int | None]) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    found = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {uid: name for uid, name in found}


def acknowledge_alert(ctx: AppContext, actor: Principal, alert_id: int, note: str) -> AlertView:
    """An open alert seen and being looked into, with a note. By the agency's head or an
    auditor, not the person it is about. Audited (``alert.acknowledge``), refusals too."""
    return _step(ctx, actor, alert_id, note, close=False)


def close_alert(ctx: AppContext, actor: Principal, alert_id: int, note: str) -> AlertView:
    """An alert closed, with a note saying what was found or done. By the agency's head or an
    auditor, not the person it is about. Audited (``alert.close``), refusals too."""
    return _step(ctx, actor, alert_id, note, close=True)


def _step(ctx: AppContext, actor: Principal, alert_id: int, note: str, *, close: bool) -> AlertView:
    kind = "alert.close" if close else "alert.acknowledge"
    subject = f"alert:{alert_id}"
    with action(ctx, actor, kind, subject, Permission.USE_ACCOUNT) as (session, who):
        row = session.get(AlertRow, alert_id, with_for_update=True)
        if row is None or not may_oversee_agency(who, row.agency_id):
            raise NotFoundError("no such alert", subject=subject)
        if not may_handle_alerts(who, row.agency_id):
            raise PermissionDeniedError(
                "only the agency's head or its auditors handle its alerts", subject=subject
            )
        if actor.username in _about(session, row):
            raise PermissionDeniedError(
                "an alert about you is handled by someone else", subject=subject
            )
        note = check_free_text("note", note)
        if len(note) < MIN_NOTE:
            raise InvalidRequestError(
                f"say what was found or done in a note ({MIN_NOTE}+ characters)",
                subject="note",
            )
        if row.status == "closed" or (not close and row.status != "open"):
            raise StateError(f"the alert is {row.status}", subject=subject)
        now = utc_now()
        agency = session.scalar(select(Agency.name).where(Agency.id == row.agency_id))
        assert agency is not None
        if close:
            row.status, row.closed_by, row.closed_at, row.close_note = (
                "closed",
                actor.user_id,
                now,
                note,
            )
            event: AlertClosed | AlertAcknowledged = AlertClosed(
                actor=actor.username, agency=agency, alert_id=alert_id, note=note
            )
        else:
            row.status, row.acknowledged_by, row.acknowledged_at = (
                "acknowledged",
                actor.user_id,
                now,
            )
            row.acknowledge_note = note
            event = AlertAcknowledged(
                actor=actor.username, agency=agency, alert_id=alert_id, note=note
            )
        append(session, event.entry())
        return _view(session, row, agency)


def _about(session: Session, row: AlertRow) -> set[str]:
    """Whom an alert is about: its user; for a ``pairs`` alert both people of the pair (its
    key, ``pairs:<a>:<b>:<n>``; usernames hold no ':'); and, whatever its rule, everyone who
    asked for one of its searches (one photo searched by several people, a head who searched
    too): no one handles an alert over their own search."""
    return _abouts(session, [row])[row.id]


def _abouts(session: Session, rows: list[AlertRow]) -> dict[int, set[str]]:
    """``_about`` of each row (by id), their searches' requesters read in one query."""
    searches = {row.id: [int(i) for i in json.loads(row.searches or "[]")] for row in rows}
    wanted = sorted({i for ids in searches.values() for i in ids})
    asked = (
        dict(
            session.execute(
                select(SearchRecord.id, User.username)
                .join(User, User.id == SearchRecord.requester_id)
                .where(SearchRecord.id.in_(wanted))
            ).all()
        )
        if wanted
        else {}
    )
    about: dict[int, set[str]] = {}
    for row in rows:
        about[row.id] = {row.username} if row.username else set()
        if row.rule == "pairs":
            about[row.id] |= set(row.key.split(":")[1:3])
        about[row.id] |= {asked[i] for i in searches[row.id] if i in asked}
    return about


def case_numbers_in(text: str) -> list[str]:
    """The case numbers of an open-case list as an agency's case system exports it: a CSV
    whose first column holds them (a header line, if any, left out), or one number per line.
    ``import_open_cases`` checks each."""
    try:
        rows = [row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    except csv.Error as exc:
        raise InvalidRequestError(f"not a list of case numbers: {exc}", subject="cases") from exc
    if rows and not rows[0][:1].isalnum():
        rows = rows[1:]
    if rows and rows[0].lower() in ("case", "case_number", "case number"):
        rows = rows[1:]  # a header
    return rows


def import_open_cases(
    ctx: AppContext, actor: Principal, agency: str, case_numbers: list[str]
) -> int:
    """Replace an agency's open-case list (the ``open_cases`` rule then checks every search's
    case number against it): -> how many case numbers it now holds. By the agency's head or
    an auditor, or a system admin; each number must be a valid case number. Audited as
    ``cases.import`` (with the count, not the numbers), refusals too."""
    with action(ctx, actor, "cases.import", agency, Permission.USE_ACCOUNT) as (session, who):
        agency_id = session.scalar(select(Agency.id).where(Agency.name == agency))
        if agency_id is None or not may_oversee_agency(who, agency_id):
            raise NotFoundError("no such agency", subject=agency)
        numbers = sorted({check_case_number(n.strip()) for n in case_numbers if n.strip()})
        session.execute(delete(OpenCase).where(OpenCase.agency_id == agency_id))
        session.add_all(OpenCase(agency_id=agency_id, case_number=n) for n in numbers)
        details = {"count": len(numbers), "digest": open_cases_digest(numbers)}
        append(session, AuditEvent(actor.username, "cases.import", agency, details, agency))
    return len(numbers)


def count_alerts_waiting(session: Session, who: Actor, username: str) -> int:
    """How many open (not yet acknowledged) alerts of ``who``'s agency ``who`` may handle:
    none about themselves (the navigation's count; not audited, ``list_alerts`` is)."""
    if not may_handle_alerts(who, who.agency_id):
        return 0
    rows = list(
        session.scalars(
            select(AlertRow).where(AlertRow.agency_id == who.agency_id, AlertRow.status == "open")
        )
    )
    about = _abouts(session, rows)
    return sum(1 for row in rows if username not in about[row.id])
