"""Relaxing an agency's oversight takes two people: the one who proposes it, and a second
outside the proposer's say-so who confirms it before it takes effect.

A head who turns alert rules off or loosens them, or lets searches run without approval or a
second review, is the person that oversight watches: such a policy change is stored as a
proposal (``policy_proposals``) and the policy in force stays as it was until a system admin,
the operator of the agency's network or an auditor of the agency whose roles the proposer did
not grant confirms it (``governance.authority.may_confirm_relaxation``); a system admin's own
relaxation is in force at once (``may_relax_oversight_alone``). Proposals, their
confirmation or refusal, and their dates are in the public transparency report
(``services.oversight.reports``).

Authorisation: proposing as ``services.oversight.policy`` changes policy (``may_relax_policy``);
confirming and refusing, each with a note, by a second person as above, only over the version
the proposal was made against (a policy changed since must be proposed again); listing by
whoever may read the agency. Audit: ``policy.relaxation.propose``, ``.decide`` (and the
``policy.change`` of the version it becomes), refusals too; the head, the proposer and the
people who may confirm are told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, NotFoundError, PermissionDeniedError, StateError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    confirmed_as,
    may_confirm_relaxation,
    may_read_agency,
    may_relax_oversight_alone,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import RelaxationDecided, RelaxationProposed, read_events
from facetrail.governance.fields import check_free_text
from facetrail.governance.policy import Policy
from facetrail.services.accounts import current_policy, write_policy_version
from facetrail.services.authorization import utc_now
from facetrail.services.context import AppContext
from facetrail.services.notifications import (
    deliver_outbox,
    notify_head,
    notify_users,
    role_holders,
)
from facetrail.services.unit_of_work import action
from facetrail.store.schema import (
    Agency,
    AuditEntryRow,
    PolicyProposal,
    User,
    UserRole,
)

__all__ = [
    "MIN_NOTE",
    "OversightRelaxation",
    "Relaxation",
    "confirm_relaxation",
    "list_relaxations",
    "note_problem",
    "propose_relaxation",
    "refuse_relaxation",
    "relaxation_view",
    "relaxations_in",
]

#: The shortest note that confirms or refuses a relaxation.
MIN_NOTE = 10


def note_problem(note: str) -> str | None:
    """What is wrong with a note that confirms or refuses a relaxation, in words (None: fine);
    the rule ``confirm_relaxation`` holds a note to, for a page that asks before it acts."""
    if len(note.strip()) < MIN_NOTE:
        return f"say why in a note of {MIN_NOTE} characters or more"
    return None


@dataclass(frozen=True)
class Relaxation:
    """A proposed relaxation of an agency's oversight and what became of it."""

    id: int
    agency: str
    status: str
    relaxed: list[str]
    reason: str
    proposed_by: str
    proposed_at: str
    base_version: int
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    #: the policy version it became, once confirmed
    version: int | None = None


def propose_relaxation(
    session: Session,
    actor: Principal,
    who: Actor,
    agency: Agency,
    base_version: int,
    policy: Policy,
    reason: str,
    relaxed: list[str],
) -> Relaxation:
    """Store ``policy`` as a proposal over ``base_version`` (in the caller's action) and
    append its ``policy.relaxation.propose`` entry; tell the head and the people who may
    confirm it. Made by a system admin (the platform's oversight), it is confirmed at once
    (``may_relax_oversight_alone``) and its version is in force; published all the same."""
    row = PolicyProposal(
        agency_id=agency.id,
        base_version=base_version,
        body=policy.to_json(),
        reason=reason,
        relaxed=json.dumps(relaxed),
        status="pending",
        proposed_by=actor.user_id,
        proposed_at=utc_now(),
    )
    session.add(row)
    session.flush()
    proposed = RelaxationProposed(
        actor=actor.username,
        agency=agency.name,
        relaxation_id=row.id,
        base_version=base_version,
        relaxed=relaxed,
        reason=reason,
    )
    append(session, proposed.entry())
    if may_relax_oversight_alone(who):
        note = "made by a system admin, the platform's oversight: in force at once"
        _settle(session, actor, who, row, agency, note, confirm=True)
        return relaxation_view(session, row, agency.name)
    lines = "\n".join(f"  - {w}" for w in relaxed)
    said = (
        f"{actor.username} proposes to relax the oversight of {agency.name} (over policy "
        f"version {base_version}): {reason}\nIt relaxes:\n{lines}\n\nIt takes effect only "
        "once a second person outside the proposer's say-so (a system admin, the network's "
        "operator, or an auditor of the agency) confirms it, on the agency's policy page: "
        f"/agencies/{quote(agency.name, safe='')}/policy#relaxation-{row.id}"
    )
    subject = f"policy relaxation {row.id} of {agency.name} waits for confirmation"
    notify_head(session, agency.id, subject, said)
    notify_users(session, _confirmers(session, agency, actor.user_id), subject, said)
    return relaxation_view(session, row, agency.name)


def _confirmers(session: Session, agency: Agency, proposer_id: int) -> list[int]:
    """The active people who may be asked to confirm: the agency's auditors, its network's
    operators and the system admins (each still checked when they act)."""
    same_agency = (User.agency_id == agency.id) & (UserRole.role == Role.AUDITOR.value)
    wanted = [same_agency, UserRole.role == Role.SYSTEM_ADMIN.value]
    if agency.network_id is not None:
        operators = select(Agency.id).where(Agency.network_id == agency.network_id)
        wanted.append(
            User.agency_id.in_(operators) & (UserRole.role == Role.NETWORK_OPERATOR.value)
        )
    return list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(User.status == "active", User.id != proposer_id, or_(*wanted))
            .distinct()
            .order_by(User.id)
        )
    )


def confirm_relaxation(
    ctx: AppContext, actor: Principal, relaxation_id: int, note: str
) -> Relaxation:
    """A second person confirms a proposed relaxation: it becomes the agency's next policy
    version now (see the module's docstring for who may). Audited, refusals too."""
    return _decide(ctx, actor, relaxation_id, note, confirm=True)


def refuse_relaxation(
    ctx: AppContext, actor: Principal, relaxation_id: int, note: str
) -> Relaxation:
    """A second person refuses a proposed relaxation: the policy stays as it is. Audited,
    refusals too."""
    return _decide(ctx, actor, relaxation_id, note, confirm=False)


def _decide(
    ctx: AppContext, actor: Principal, relaxation_id: int, note: str, *, confirm: bool
) -> Relaxation:
    subject = f"relaxation:{relaxation_id}"
    with action(
        ctx, actor, "policy.relaxation.decide", subject, Permission.CONFIRM_RELAXATIONS
    ) as (session, who):
        row = session.get(PolicyProposal, relaxation_id, with_for_update=True)
        agency = session.get(Agency, row.agency_id) if row is not None else None
        if row is None or agency is None or not may_read_agency(who, agency.id, agency.network_id):
            raise NotFoundError("no such relaxation", subject=subject)
        proposer = session.get(User, row.proposed_by)
        assert proposer is not None
        granted = _roles_granted_by(session, who.user_id, proposer.username)
        if not may_confirm_relaxation(
            who, row.proposed_by, agency.id, agency.network_id, roles_granted_by_proposer=granted
        ):
            raise PermissionDeniedError(
                "a relaxation of an agency's oversight is confirmed or refused by a second "
                "person outside its proposer's say-so: a system admin, the network's operator "
                "or an auditor of the agency whose roles the proposer did not grant",
                subject=subject,
            )
        note = check_free_text("note", note)
        if (problem := note_problem(note)) is not None:
            raise InvalidRequestError(problem, subject="note")
        if row.status != "pending":
            raise StateError(f"the relaxation is {row.status}", subject=subject)
        _settle(session, actor, who, row, agency, note, confirm=confirm)
        view = relaxation_view(session, row, agency.name)
    deliver_outbox(ctx)
    return view


def _settle(
    session: Session,
    actor: Principal,
    who: Actor,
    row: PolicyProposal,
    agency: Agency,
    note: str,
    *,
    confirm: bool,
) -> None:
    """Record the decision on a pending proposal; a confirmation writes its version, over the
    version it was proposed against only. The head and the proposer are told."""
    subject = f"relaxation:{row.id}"
    proposer = session.get(User, row.proposed_by)
    assert proposer is not None
    version, _ = current_policy(session, agency.id)
    if confirm and version != row.base_version:
        raise StateError(
            f"{agency.name}'s policy changed since this was proposed (version "
            f"{row.base_version}, now {version}): it must be proposed again",
            subject=subject,
        )
    row.status = "confirmed" if confirm else "refused"
    row.decided_by, row.decided_at, row.decision_note = who.user_id, utc_now(), note
    relaxed: list[str] = json.loads(row.relaxed)
    if confirm:
        row.version = version + 1
        write_policy_version(
            session,
            agency,
            version + 1,
            Policy.from_json(row.body),
            proposer.username,
            f"{row.reason} (confirmed by {actor.username}: {note})",
            relaxed,
        )
    decided = RelaxationDecided(
        actor=actor.username,
        agency=agency.name,
        relaxation_id=row.id,
        confirmed=confirm,
        note=note,
        as_role=confirmed_as(who, agency.id).value,
        version=row.version,
    )
    append(session, decided.entry())
    said = (
        f"{actor.username} {row.status} relaxation {row.id} of {agency.name}, proposed by "
        f"{proposer.username}: {note}"
        + (f"\nIt is policy version {row.version} now." if confirm else "")
    )
    told = (
        f"policy changed: {agency.name} v{row.version} RELAXED"
        if confirm
        else f"policy relaxation {row.id} of {agency.name} refused"
    )
    notify_head(session, agency.id, told, said)
    if proposer.id not in role_holders(session, agency.id, (Role.AGENCY_HEAD,)):
        notify_users(session, [proposer.id], told, said)


def _roles_granted_by(session: Session, user_id: int, granter: str) -> bool:
    """Were ``user_id``'s current roles granted by ``granter`` (the entry their role rows
    point at is theirs)?"""
    seq = session.scalar(select(UserRole.audit_seq).where(UserRole.user_id == user_id).limit(1))
    if seq is None:
        return False
    return session.scalar(select(AuditEntryRow.actor).where(AuditEntryRow.seq == seq)) == granter


def list_relaxations(
    ctx: AppContext, actor: Principal, agency_name: str, status: str | None = None
) -> list[Relaxation]:
    """An agency's proposed relaxations, newest first (``status`` filters): for whoever may
    read the agency (others: not found). Audited, refusals too."""
    kind = "policy.relaxation.list"
    with action(ctx, actor, kind, agency_name, Permission.USE_ACCOUNT, {"status": status}) as (
        session,
        who,
    ):
        agency = session.scalar(select(Agency).where(Agency.name == agency_name))
        if agency is None or not may_read_agency(who, agency.id, agency.network_id):
            raise NotFoundError("no such agency", subject=agency_name)
        stmt = select(PolicyProposal).where(PolicyProposal.agency_id == agency.id)
        if status is not None:
            stmt = stmt.where(PolicyProposal.status == status)
        rows = list(session.scalars(stmt.order_by(PolicyProposal.id.desc())))
        details = {"status": status, "relaxations": len(rows)}
        append(session, AuditEvent(actor.username, kind, agency.name, details, agency.name))
        return [relaxation_view(session, row, agency.name) for row in rows]


def relaxation_view(session: Session, row: PolicyProposal, agency: str) -> Relaxation:
    names = dict(
        session.execute(
            select(User.id, User.username).where(
                User.id.in_([i for i in (row.proposed_by, row.decided_by) if i is not None])
            )
        ).all()
    )
    return Relaxation(
        id=row.id,
        agency=agency,
        status=row.status,
        relaxed=json.loads(row.relaxed),
        reason=row.reason,
        proposed_by=names.get(row.proposed_by, "?"),
        proposed_at=_iso(row.proposed_at),
        base_version=row.base_version,
        decided_by=names.get(row.decided_by) if row.decided_by is not None else None,
        decided_at=_iso(row.decided_at) if row.decided_at is not None else None,
        decision_note=row.decision_note,
        version=row.version,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class OversightRelaxation:
    """A relaxation of an agency's oversight as the public report shows it: what it relaxed,
    the days it was proposed and decided, and the role of the second person who decided it
    (no one's name)."""

    agency: str
    relaxed: list[str]
    proposed_on: str
    #: pending (at the report's end), confirmed or refused
    status: str
    decided_on: str | None = None
    decided_as: str | None = None

    def said(self) -> str:
        """One line: "proposed 2026-05-03, confirmed 2026-05-04 by an auditor: ..."."""
        decided = (
            f", {self.status} {self.decided_on} by a {self.decided_as}"
            if self.decided_on
            else ", not decided"
        )
        return f"{self.agency}: proposed {self.proposed_on}{decided}: {'; '.join(self.relaxed)}"


def relaxations_in(
    session: Session, agencies: list[str], since: str, until: str
) -> list[OversightRelaxation]:
    """The relaxations of ``agencies``' oversight proposed or decided in [since, until), as
    their entries record them, oldest first."""
    proposed = read_events(session, [RelaxationProposed], agencies=agencies, until=until)
    decided = {
        e.relaxation_id: e
        for e in read_events(session, [RelaxationDecided], agencies=agencies, until=until)
    }
    out: list[OversightRelaxation] = []
    for p in proposed:
        d = decided.get(p.relaxation_id)
        if not (since <= p.at or (d is not None and since <= d.at)):
            continue
        out.append(
            OversightRelaxation(
                agency=p.agency or "",
                relaxed=list(p.relaxed),
                proposed_on=p.at[:10],
                status="pending" if d is None else ("confirmed" if d.confirmed else "refused"),
                decided_on=d.at[:10] if d is not None else None,
                decided_as=d.as_role.replace("_", " ") if d is not None else None,
            )
        )
    return out
