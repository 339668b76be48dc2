"""Agency policy, versioned: every change is a new version, an audit entry and a message to
the agency's head that says plainly what was relaxed. A change that relaxes the oversight of
the agency's use (its alert rules, the approval and second review searches need) is only
proposed: it takes effect once a second person confirms it
(``services.oversight.policy_proposals``).

Authorisation (``governance.authority``): ``set_policy`` by the agency's head or a system
admin; a network operator of the agency's network may tighten but never relax it;
``show_policy`` and ``policy_history`` by anyone of the agency, an auditor, a system admin or
a network operator of its network (others: not found). Audit: reads, changes and refusals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RecordMismatchError,
)
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import (
    Actor,
    Permission,
    may_change_policy,
    may_read_agency,
    may_relax_oversight_alone,
    may_relax_policy,
)
from facetrail.governance.credentials import Principal
from facetrail.governance.fields import check_free_text
from facetrail.governance.policy import Policy, oversight_weakenings, weakenings
from facetrail.services.accounts import current_policy, policy_row_problem, write_policy_version
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head
from facetrail.services.oversight.policy_proposals import Relaxation, propose_relaxation
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Agency, Gallery, PolicyVersion


@dataclass(frozen=True)
class PolicyInfo:
    agency: str
    version: int
    policy: Policy
    changed_by: str
    reason: str
    at: str
    #: what this version relaxed compared with the one before it
    weakened: list[str]
    #: a change that relaxes the agency's oversight: the proposal waiting for a second
    #: person's confirmation (the version above is still the one in force)
    proposal: Relaxation | None = None


def _readable_agency(session: Session, who: Actor, name: str) -> Agency:
    """An agency whose policy the actor may read; any other answers as not found."""
    agency = session.scalar(select(Agency).where(Agency.name == name))
    if agency is None or not may_read_agency(who, agency.id, agency.network_id):
        raise NotFoundError("no such agency", subject=name)
    return agency


def set_policy(
    ctx: AppContext, actor: Principal, agency_name: str, policy: Policy, reason: str
) -> PolicyInfo:
    """Make ``policy`` the agency's new version; the head is told what it relaxes.

    Authorisation (``governance.authority``): the agency's head or a system admin; the
    operator of the agency's network may tighten it, never relax it (that needs the head).
    Checked and written in one locked transaction. Audited, refusals too."""
    return _change(ctx, actor, agency_name, lambda _current: policy, reason)


def amend_policy(
    ctx: AppContext,
    actor: Principal,
    agency_name: str,
    changes: Mapping[str, object],
    reason: str,
) -> PolicyInfo:
    """A new version that changes only the fields in ``changes`` (``Policy.to_dict`` names),
    the others kept from the version in force, read in the same locked transaction that
    writes the new one: two amendments at once never undo each other. As ``set_policy``
    otherwise."""
    return _change(
        ctx,
        actor,
        agency_name,
        lambda current: Policy.from_dict(_amended(current.to_dict(), changes)),
        reason,
    )


@dataclass(frozen=True)
class Relaxing:
    """What an amendment would relax, in words, before it is made."""

    #: everything it allows that the policy in force does not
    relaxed: list[str]
    #: those of them that relax the oversight
    oversight: list[str]
    #: whether it waits for a second person's confirmation (an oversight relaxation, unless
    #: the person may relax the oversight alone: a system admin)
    second_person: bool


def relaxations_of(
    ctx: AppContext,
    actor: Principal,
    agency_name: str,
    changes: Mapping[str, object],
    reason: str,
) -> Relaxing:
    """What ``amend_policy`` with ``changes`` would relax, for the page that asks a person to
    confirm a relaxation before it is made: checked as amending checks it, in the same kind of
    locked transaction, and refused (and recorded as ``policy.change.refused``) as amending
    would be; nothing is written when it is not (the amendment that follows is the entry)."""
    with action(ctx, actor, "policy.change", agency_name, Permission.CHANGE_POLICY) as (
        session,
        who,
    ):
        _reason(reason)
        _version, current = current_policy(
            session, _changeable_agency(session, who, agency_name).id
        )
        new = Policy.from_dict(_amended(current.to_dict(), changes))
        new.validate()
        oversight = oversight_weakenings(current, new)
        alone = may_relax_oversight_alone(who)
        return Relaxing(weakenings(current, new), oversight, bool(oversight) and not alone)


def _reason(reason: str) -> str:
    reason = check_free_text("reason", reason)
    if len(reason) < 10:
        raise InvalidRequestError("say why the policy changes (10+ characters)", subject="reason")
    return reason


def _changeable_agency(session: Session, who: Actor, agency_name: str) -> Agency:
    agency = _readable_agency(session, who, agency_name)
    if not may_change_policy(who, agency.id, agency.network_id):
        raise PermissionDeniedError(
            "only the agency's head, a system admin or its network's operator changes its policy",
            subject=agency_name,
        )
    return agency


def _amended(current: dict[str, Any], changes: Mapping[str, object]) -> dict[str, Any]:
    """``current`` with ``changes``; the alert settings are amended key by key too."""
    amended = {**current, **changes}
    alerts = changes.get("alerts")
    if isinstance(alerts, Mapping):
        amended["alerts"] = {**current["alerts"], **alerts}
    return amended


def _change(
    ctx: AppContext,
    actor: Principal,
    agency_name: str,
    make: Callable[[Policy], Policy],
    reason: str,
) -> PolicyInfo:
    with action(ctx, actor, "policy.change", agency_name, Permission.CHANGE_POLICY) as (
        session,
        who,
    ):
        reason = _reason(reason)
        agency = _changeable_agency(session, who, agency_name)
        version, old = current_policy(session, agency.id)
        policy = make(old)
        policy.validate()
        missing = sorted(
            set(policy.galleries)
            - set(session.scalars(select(Gallery.name).where(Gallery.name.in_(policy.galleries))))
        )
        if missing:
            raise InvalidRequestError(
                f"no such galleries: {', '.join(missing)}", subject="policy.galleries"
            )
        staff = sorted(
            session.scalars(
                select(Gallery.name).where(
                    Gallery.name.in_(policy.galleries), Gallery.staff_of.is_not(None)
                )
            )
        )
        if staff:
            raise InvalidRequestError(
                f"{staff[0]} is a staff gallery: it is never searched", subject=staff[0]
            )
        relaxed = weakenings(old, policy)
        if relaxed and not may_relax_policy(who, agency.id):
            raise PermissionDeniedError(
                f"relaxing {agency.name}'s policy needs its head ({relaxed[0]}); "
                "a network operator may only tighten it",
                subject=agency_name,
            )
        if oversight_weakenings(old, policy):
            proposal = propose_relaxation(
                session, actor, who, agency, version, policy, reason, relaxed
            )
            now_version = proposal.version or version
            in_force = session.scalars(
                select(PolicyVersion).where(
                    PolicyVersion.agency_id == agency.id, PolicyVersion.version == now_version
                )
            ).one()
            info = _info(agency, in_force, relaxed if proposal.version else [], proposal)
        else:
            info = _write(session, actor, agency, version, policy, reason, relaxed)
    deliver_outbox(ctx)
    return info


def _write(
    session: Session,
    actor: Principal,
    agency: Agency,
    version: int,
    policy: Policy,
    reason: str,
    relaxed: list[str],
) -> PolicyInfo:
    """The next version in force now, and the head told what it relaxes."""
    row = write_policy_version(
        session, agency, version + 1, policy, actor.username, reason, relaxed
    )
    lines = "\n".join(f"  - {w}" for w in relaxed) or "  (nothing relaxed)"
    notify_head(
        session,
        agency.id,
        f"policy changed: {agency.name} v{version + 1}" + (" RELAXED" if relaxed else ""),
        f"{actor.username} changed the policy of {agency.name} to version {version + 1}: "
        f"{reason}\nRelaxed:\n{lines}\n\nEvery version and what it relaxed: /policy",
    )
    session.flush()
    return _info(agency, row, relaxed)


def show_policy(ctx: AppContext, actor: Principal, agency_name: str) -> PolicyInfo:
    """The policy in force: for whom ``policy_history`` allows. Audited, refusals too."""
    history = _history(ctx, actor, agency_name, "policy.show")
    return history[-1]


def policy_history(ctx: AppContext, actor: Principal, agency_name: str) -> list[PolicyInfo]:
    """Every version with what it relaxed: by people of the agency, auditors, system admins
    and its network's operators; for anyone else the agency answers as not found. Reading is
    an audit entry, and so is a refusal."""
    return _history(ctx, actor, agency_name, "policy.history")


def _history(ctx: AppContext, actor: Principal, agency_name: str, kind: str) -> list[PolicyInfo]:
    with action(ctx, actor, kind, agency_name, Permission.USE_ACCOUNT) as (session, who):
        agency, infos = versions_of(session, who, agency_name)
        append(session, AuditEvent(actor.username, kind, agency.name, {"versions": len(infos)}))
    return infos


def versions_of(session: Session, who: Actor, agency_name: str) -> tuple[Agency, list[PolicyInfo]]:
    """The agency (if ``who`` may read it: else not found) and every version of its policy
    with what each relaxed, each checked against its seal; the caller records the read."""
    agency = _readable_agency(session, who, agency_name)
    rows = list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.agency_id == agency.id)
            .order_by(PolicyVersion.version)
        )
    )
    infos: list[PolicyInfo] = []
    previous: Policy | None = None
    for row in rows:
        policy = Policy.from_json(row.body)
        if problem := policy_row_problem(session, row, policy):
            raise RecordMismatchError(problem, subject=f"{agency.name} v{row.version}")
        infos.append(
            _info(agency, row, weakenings(previous, policy) if previous is not None else [])
        )
        previous = policy
    return agency, infos


def _info(
    agency: Agency, row: PolicyVersion, weakened: list[str], proposal: Relaxation | None = None
) -> PolicyInfo:
    return PolicyInfo(
        agency.name,
        row.version,
        Policy.from_json(row.body),
        row.changed_by,
        row.reason,
        row.created_at.isoformat(),
        weakened,
        proposal,
    )
