"""An agency's policy as its page shows it: every version with what it relaxed, and the
relaxations waiting for a second person, read in one transaction and recorded as one
``policy.history`` entry that names the versions and the pending relaxations shown (the
page is one look, so it is one entry; a refusal is ``policy.history.refused``). Who may read
it is ``policy_history``'s rule."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Permission
from facetrail.governance.credentials import Principal
from facetrail.services.context import AppContext
from facetrail.services.oversight.policy import PolicyInfo, versions_of
from facetrail.services.oversight.policy_proposals import Relaxation, relaxation_view
from facetrail.services.unit_of_work import action
from facetrail.store.schema import PolicyProposal

__all__ = ["PolicyPage", "policy_page"]


@dataclass(frozen=True)
class PolicyPage:
    #: oldest first; the last is in force
    history: list[PolicyInfo]
    #: proposed relaxations not yet decided, newest first
    pending: list[Relaxation]


def policy_page(ctx: AppContext, actor: Principal, agency_name: str) -> PolicyPage:
    """The versions and the pending relaxations of an agency (others: not found); one entry."""
    kind = "policy.history"
    with action(ctx, actor, kind, agency_name, Permission.USE_ACCOUNT) as (session, who):
        agency, history = versions_of(session, who, agency_name)
        rows = session.scalars(
            select(PolicyProposal)
            .where(PolicyProposal.agency_id == agency.id, PolicyProposal.status == "pending")
            .order_by(PolicyProposal.id.desc())
        )
        pending = [relaxation_view(session, row, agency.name) for row in rows]
        details = {"versions": len(history), "pending_relaxations": [r.id for r in pending]}
        append(session, AuditEvent(actor.username, kind, agency.name, details))
    return PolicyPage(history, pending)
