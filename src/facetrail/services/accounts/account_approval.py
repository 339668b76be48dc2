"""Approving a requested account: by its agency's head, or by two different people.

A supervisor who asks for an account in a name of their choosing and approves it alone would
have a second person on call: a sock puppet who asks for searches the supervisor approves,
reviews what the supervisor reviews a second time, and records the leads. So one approval
makes an account active only when it is the agency head's; a supervisor's is recorded and
waits for a second person's (``governance.authority.account_approved``).

Authorisation (``governance.authority.may_approve_account``): a supervisor or head of the
requester's agency who is not the requester; a request for a role above investigator needs
an approver who may grant it (the head). Each approval is checked and written in one locked
transaction, and the approvals recorded before are counted only while their givers are still
active and may still approve. The account's owner enrols with a code mailed to its address
on the agency's domain (``accounts.send_enrol_code``). Audit: each approval is its own entry
(``account.approval`` while it waits, ``account.approve`` when the account becomes active),
refusals too; the approvals are rows sealed by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.errors import PermissionDeniedError, StateError
from facetrail.governance.audit import append
from facetrail.governance.authority import (
    ACCOUNT_APPROVALS,
    Actor,
    Permission,
    account_approved,
    may,
    may_approve_account,
    may_grant,
)
from facetrail.governance.credentials import Principal, Role
from facetrail.governance.events import AccountApprovalGiven, AccountApproved
from facetrail.services.accounts import current_policy, send_enrol_code
from facetrail.services.authorization import (
    checked_roles,
    inactive_reason,
    name_of_agency,
    roles_of,
    utc_now,
    visible_user,
)
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head, notify_users, role_holders
from facetrail.services.unit_of_work import action
from facetrail.store.schema import AccountApproval, Agency, User

__all__ = [
    "ApprovalState",
    "approve_account",
    "count_accounts_waiting",
]


@dataclass(frozen=True)
class ApprovalState:
    """Where a request stands after an approval: ``status`` is "active" once enough people
    approved it, else still "requested"; ``approvers``: whose approvals count so far."""

    username: str
    status: str
    approvers: tuple[str, ...]


def approve_account(ctx: AppContext, actor: Principal, username: str) -> ApprovalState:
    """Record ``actor``'s approval of a requested account; it becomes active when its agency's
    head approved it or two different people did (the head and the other supervisors are told
    of an approval that waits). See the module's docstring for who may. Audited, refusals
    too."""
    with action(ctx, actor, "account.approve", username, Permission.MANAGE_PEOPLE) as (
        session,
        who,
    ):
        user = visible_user(session, who, username)
        if actor.user_id == user.id:
            raise PermissionDeniedError("no one approves their own account", subject=username)
        if not may_approve_account(who, user.id, user.agency_id):
            raise PermissionDeniedError(
                "only a supervisor or the agency's head approves accounts", subject=username
            )
        if user.status != "requested":
            raise StateError(f"account is {user.status}, not requested", subject=username)
        for role in sorted({Role(r) for r in roles_of(session, user.id)} - {Role.INVESTIGATOR}):
            if not may_grant(who, role, user.agency_id):
                raise PermissionDeniedError(
                    f"a request for the {role.value} role is approved by the agency's head",
                    subject=username,
                )
        before = _approvers(session, user)
        if who.user_id in before:
            raise StateError(
                "you approved it already: the agency's head or another supervisor approves it too",
                subject=username,
            )
        session.add(AccountApproval(user_id=user.id, approver_id=who.user_id))
        counted = {**before, who.user_id: (actor.username, who)}
        names = tuple(name for name, _ in counted.values())
        if account_approved((a for _, a in counted.values()), user.agency_id):
            _activate(session, actor, user, names)
        else:
            _wait_for_second(session, actor, user, len(counted))
        state = ApprovalState(username, user.status, names)
    deliver_outbox(ctx)
    return state


def _approvers(session: Session, user: User) -> dict[int, tuple[str, Actor]]:
    """user id -> (username, as they are now) of the people whose earlier approvals of
    ``user``'s request still count: active, and still allowed to approve it."""
    now = utc_now()
    found: dict[int, tuple[str, Actor]] = {}
    for approver in session.scalars(
        select(User)
        .join(AccountApproval, AccountApproval.approver_id == User.id)
        .where(AccountApproval.user_id == user.id)
        .order_by(AccountApproval.approved_at)
    ):
        if inactive_reason(approver, now) is not None:
            continue
        network = session.scalar(select(Agency.network_id).where(Agency.id == approver.agency_id))
        actor = Actor(approver.id, approver.agency_id, checked_roles(session, approver), network)
        if may_approve_account(actor, user.id, user.agency_id):
            found[approver.id] = (approver.username, actor)
    return found


def _activate(session: Session, actor: Principal, user: User, approvers: tuple[str, ...]) -> None:
    trial_days = current_policy(session, user.agency_id)[1].trial_days
    user.status = "active"
    user.approved_by = actor.user_id
    if user.account_type == "trial":
        user.trial_expires_at = utc_now() + timedelta(days=trial_days)
    # Enrolling takes the code mailed to the address on the agency's domain: whoever asked
    # in a name of their choosing, knowing the password, cannot enrol without that mailbox.
    send_enrol_code(session, user, " and ".join(approvers), "approved")
    notify_head(
        session,
        user.agency_id,
        f"account approved: {user.username}",
        f"{' and '.join(approvers)} approved the {user.account_type} account of {user.username}.",
    )
    approved = AccountApproved(
        actor=actor.username,
        agency=name_of_agency(session, user.agency_id),
        username=user.username,
        account_type=user.account_type,
        trial_expires_at=user.trial_expires_at.isoformat() if user.trial_expires_at else None,
        approvers=list(approvers),
    )
    append(session, approved.entry())


def _wait_for_second(session: Session, actor: Principal, user: User, given: int) -> None:
    needed = ACCOUNT_APPROVALS - given
    said = (
        f"{actor.username} approved the account request of {user.username}; it stays "
        f"inactive until the agency's head or {needed} other supervisor(s) approve it too "
        f"on the page /agency/people#requests."
    )
    subject = f"account request needs a second approval: {user.username}"
    notify_head(session, user.agency_id, subject, said)
    heads = set(role_holders(session, user.agency_id, (Role.AGENCY_HEAD,)))
    others = role_holders(session, user.agency_id, (Role.SUPERVISOR,), exclude=actor.user_id)
    notify_users(session, [i for i in others if i not in heads], subject, said)
    given_event = AccountApprovalGiven(
        actor=actor.username,
        agency=name_of_agency(session, user.agency_id),
        username=user.username,
        needed=needed,
    )
    append(session, given_event.entry())


def count_accounts_waiting(session: Session, who: Actor) -> int:
    """How many requested accounts ``who`` may approve and has not approved yet (the
    navigation's count; read in the caller's transaction, not audited)."""
    if not may(who, Permission.MANAGE_PEOPLE):
        return 0  # approving accounts is not theirs: nothing to read
    mine = select(AccountApproval.user_id).where(AccountApproval.approver_id == who.user_id)
    rows = session.execute(
        select(User.id, User.agency_id).where(
            User.status == "requested",
            User.agency_id == who.agency_id,
            User.id.not_in(mine),
        )
    ).all()
    return sum(1 for user_id, agency_id in rows if may_approve_account(who, user_id, agency_id))
