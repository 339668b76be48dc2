"""Agency policy, versioned: every change is a new version, an audit entry and a message to
the agency's head that says plainly what was relaxed.

Authorisation: ``set_policy`` by the agency's head, a system admin, or a network operator of
the agency's network; ``show_policy`` and ``policy_history`` by anyone of the agency, an
auditor, a system admin or a network operator of its network. Audit: changes and refusals.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import InvalidRequestError, PermissionDeniedError
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.policy import Policy, weakenings
from facetrail.services.accounts import agency_by_name, current_policy, refuse
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head
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


def _may_change(session: Session, actor: Principal, agency: Agency) -> bool:
    if actor.has(Role.SYSTEM_ADMIN):
        return True
    if actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency.id:
        return True
    return actor.has(Role.NETWORK_OPERATOR) and _same_network(session, actor, agency)


def _same_network(session: Session, actor: Principal, agency: Agency) -> bool:
    own = session.get(Agency, actor.agency_id)
    return own is not None and own.network_id is not None and own.network_id == agency.network_id


def may_read(session: Session, actor: Principal, agency: Agency) -> bool:
    return (
        actor.agency_id == agency.id
        or actor.has_any(Role.SYSTEM_ADMIN, Role.AUDITOR)
        or (actor.has(Role.NETWORK_OPERATOR) and _same_network(session, actor, agency))
    )


def set_policy(
    ctx: AppContext, actor: Principal, agency_name: str, policy: Policy, reason: str
) -> PolicyInfo:
    """Make ``policy`` the agency's new version; the head is told what it relaxes."""
    policy.validate()
    if len(reason.strip()) < 10:
        raise InvalidRequestError("say why the policy changes (10+ characters)", subject="reason")
    with ctx.sessions() as session:
        agency = agency_by_name(session, agency_name)
        allowed = _may_change(session, actor, agency)
    if not allowed:
        refuse(
            ctx,
            actor.username,
            "policy.change",
            agency_name,
            PermissionDeniedError(
                "only the agency's head, a system admin or its network's operator "
                "changes its policy",
                subject=agency_name,
            ),
        )
    with ctx.transaction() as session:
        agency = agency_by_name(session, agency_name)
        missing = sorted(
            set(policy.galleries)
            - set(session.scalars(select(Gallery.name).where(Gallery.name.in_(policy.galleries))))
        )
        if missing:
            raise InvalidRequestError(
                f"no such galleries: {', '.join(missing)}", subject="policy.galleries"
            )
        version, old = current_policy(session, agency.id)
        relaxed = weakenings(old, policy)
        row = PolicyVersion(
            agency_id=agency.id,
            version=version + 1,
            body=policy.to_json(),
            changed_by=actor.username,
            reason=reason,
        )
        session.add(row)
        lines = "\n".join(f"  - {w}" for w in relaxed) or "  (nothing relaxed)"
        notify_head(
            session,
            agency.id,
            f"policy changed: {agency.name} v{version + 1}" + (" RELAXED" if relaxed else ""),
            f"{actor.username} changed the policy of {agency.name} to version {version + 1}: "
            f"{reason}\nRelaxed:\n{lines}",
        )
        append(
            session,
            AuditEvent(
                actor.username,
                "policy.change",
                agency.name,
                {
                    "version": version + 1,
                    "policy": policy.to_dict(),
                    "weakened": relaxed,
                    "reason": reason,
                },
            ),
        )
        session.flush()
        info = _info(agency, row, relaxed)
    deliver_outbox(ctx)
    return info


def show_policy(ctx: AppContext, actor: Principal, agency_name: str) -> PolicyInfo:
    history = policy_history(ctx, actor, agency_name)
    return history[-1]


def policy_history(ctx: AppContext, actor: Principal, agency_name: str) -> list[PolicyInfo]:
    with ctx.sessions() as session:
        agency = agency_by_name(session, agency_name)
        if not may_read(session, actor, agency):
            raise PermissionDeniedError("not your agency's policy", subject=agency_name)
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
            infos.append(
                _info(agency, row, weakenings(previous, policy) if previous is not None else [])
            )
            previous = policy
    return infos


def _info(agency: Agency, row: PolicyVersion, weakened: list[str]) -> PolicyInfo:
    return PolicyInfo(
        agency.name,
        row.version,
        Policy.from_json(row.body),
        row.changed_by,
        row.reason,
        row.created_at.isoformat(),
        weakened,
    )
