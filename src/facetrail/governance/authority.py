"""Who may do what: every permission facetrail grants is decided here, as pure functions over
the acting person (their roles and agency) and the thing acted on.

Services load the facts inside their locked transaction (the actor's *current* roles, never the
ones remembered at sign-in) and ask these functions; a ``False`` becomes a typed, audited
refusal. Roles come in two scopes:

- agency roles (investigator, supervisor, agency head, auditor) act within one agency; an
  agency's head grants them to people of that agency, a system admin to anyone;
- platform roles (system admin, network operator, gallery admin) reach beyond one agency and
  are granted only by a system admin. The last active system admin cannot lose the role.

Nobody grants or changes their own roles.
"""

from __future__ import annotations

from collections.abc import Iterable

from facetrail.governance._permissions import (
    AGENCY_ROLES,
    PLATFORM_ROLES,
    ROLE_PERMISSIONS,
    Actor,
    Permission,
    may,
    needed_roles,
)
from facetrail.governance.credentials import Role

__all__ = [
    "ACCOUNT_APPROVALS",
    "AGENCY_ROLES",
    "PLATFORM_ROLES",
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "account_approved",
    "confirmed_as",
    "may",
    "may_approve_account",
    "may_approve_erasure",
    "may_change_policy",
    "may_confirm_relaxation",
    "may_decide_hold",
    "may_decide_search",
    "may_disclose_case",
    "may_follow_up_search",
    "may_grant",
    "may_handle_alerts",
    "may_oversee_agency",
    "may_read_account",
    "may_read_accounts",
    "may_read_agency",
    "may_read_agency_searches",
    "may_read_erasures",
    "may_read_network",
    "may_read_search",
    "may_register_domains",
    "may_reinstate",
    "may_relax_oversight_alone",
    "may_relax_policy",
    "may_reset_credentials",
    "may_suspend",
    "names_every_agency",
    "needed_roles",
    "role_change_problem",
    "sees_every_erasure",
]


def names_every_agency(roles: frozenset[str]) -> bool:
    """Is a list asked for with these roles (as signed in) one of every agency? Only what its
    audit entry is named after: what it shows is decided on the actor as re-read under the
    lock."""
    return any(role.value in roles for role in ROLE_PERMISSIONS[Permission.ACT_ON_EVERY_AGENCY])


def may_grant(actor: Actor, role: Role, agency_id: int) -> bool:
    """May ``actor`` give (or take away) ``role`` to someone of agency ``agency_id``?"""
    if actor.has(Role.SYSTEM_ADMIN):
        return True
    return role in AGENCY_ROLES and actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency_id


def role_change_problem(
    actor: Actor,
    target_user_id: int,
    target_agency_id: int,
    before: Iterable[str],
    after: Iterable[str],
    *,
    other_active_admins: int,
) -> str | None:
    """Why ``actor`` may not change a person's roles from ``before`` to ``after`` (None: may).

    Every role added or removed must be one the actor may grant in the person's agency; so an
    agency head can neither hand out nor strip a platform role."""
    old, new = {Role(r) for r in before}, {Role(r) for r in after}
    if actor.user_id == target_user_id:
        return "no one changes their own roles"
    if not (
        actor.has(Role.SYSTEM_ADMIN)
        or (actor.has(Role.AGENCY_HEAD) and actor.agency_id == target_agency_id)
    ):
        return "only a system admin or this agency's head changes roles"
    for role in sorted(old ^ new):
        if not may_grant(actor, role, target_agency_id):
            scope = "a system admin" if role in PLATFORM_ROLES else "this agency's head"
            return f"only {scope} grants or removes the {role.value} role"
    if Role.SYSTEM_ADMIN in old - new and other_active_admins == 0:
        return "the last active system admin keeps the role"
    return None


def may_approve_account(actor: Actor, requester_id: int, requester_agency_id: int) -> bool:
    """One approval of a requested account: a supervisor or the head of the requester's
    agency who is not the requester (``account_approved`` says when there are enough)."""
    return (
        actor.user_id != requester_id
        and actor.agency_id == requester_agency_id
        and (actor.has(Role.SUPERVISOR) or actor.has(Role.AGENCY_HEAD))
    )


#: Different people whose approvals make a requested account active when none of them is
#: its agency's head: one supervisor alone never makes an account (and so a sock puppet who
#: approves, reviews and confirms with them).
ACCOUNT_APPROVALS = 2


def account_approved(approvers: Iterable[Actor], requester_agency_id: int) -> bool:
    """Is a requested account approved by ``approvers`` (each of whom ``may_approve_account``
    now)? Its agency's head alone, or ``ACCOUNT_APPROVALS`` different people."""
    people = {a.user_id: a for a in approvers}
    head = any(
        a.has(Role.AGENCY_HEAD) and a.agency_id == requester_agency_id for a in people.values()
    )
    return head or len(people) >= ACCOUNT_APPROVALS


def may_register_domains(actor: Actor, agency_id: int) -> bool:
    """Register or remove an agency's e-mail domains: its head or a system admin."""
    return actor.has(Role.SYSTEM_ADMIN) or (
        actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency_id
    )


def may_approve_erasure(actor: Actor, opener_id: int, opener_agency_id: int | None) -> bool:
    """Let an erasure request's matching run, and confirm its decisions: a privacy officer, or
    the head of the opener's agency; never the opener."""
    if actor.user_id == opener_id:
        return False
    if actor.has(Role.PRIVACY_OFFICER):
        return True
    return actor.has(Role.AGENCY_HEAD) and actor.agency_id == opener_agency_id


def may_read_erasures(actor: Actor) -> bool:
    """Read erasure requests at all: gallery admins and system admins (the opener's side),
    privacy officers and agency heads (which ones: ``sees_every_erasure``)."""
    return (
        may(actor, Permission.MANAGE_GALLERIES)
        or actor.has(Role.PRIVACY_OFFICER)
        or actor.has(Role.AGENCY_HEAD)
    )


def sees_every_erasure(actor: Actor) -> bool:
    """Every agency's erasure requests: the opener's side and privacy officers (an agency
    head sees their own agency's)."""
    return may(actor, Permission.MANAGE_GALLERIES) or actor.has(Role.PRIVACY_OFFICER)


def may_decide_hold(actor: Actor, agency_id: int) -> bool:
    """Release or keep an image held for an agency's open cases: that agency's head."""
    return actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency_id


def may_suspend(
    actor: Actor, target_id: int, target_agency_id: int, target_roles: Iterable[str]
) -> bool:
    """A supervisor or head of the person's agency, or a system admin; only a system admin
    suspends someone holding a platform role; nobody suspends themselves."""
    return _acts_on_someone_else(
        actor, target_id, target_agency_id, target_roles, (Role.SUPERVISOR, Role.AGENCY_HEAD)
    )


def _acts_on_someone_else(
    actor: Actor,
    target_id: int,
    target_agency_id: int,
    target_roles: Iterable[str],
    agency_roles: tuple[Role, ...],
) -> bool:
    """Never on oneself; always for a system admin; only a system admin for someone holding a
    platform role; else one of ``agency_roles`` in the person's own agency."""
    if actor.user_id == target_id:
        return False
    if actor.has(Role.SYSTEM_ADMIN):
        return True
    if any(Role(r) in PLATFORM_ROLES for r in target_roles):
        return False
    return actor.agency_id == target_agency_id and any(actor.has(r) for r in agency_roles)


def may_reinstate(
    actor: Actor, target_id: int, target_agency_id: int, target_roles: Iterable[str]
) -> bool:
    """Reinstating a suspended account takes the same authority as suspending it."""
    return may_suspend(actor, target_id, target_agency_id, target_roles)


def may_read_agency(actor: Actor, agency_id: int, agency_network_id: int | None) -> bool:
    """People of the agency (its auditors included), system admins, and its network's
    operators. An auditor is an agency role: another agency's auditor reads nothing here."""
    if actor.agency_id == agency_id or actor.has(Role.SYSTEM_ADMIN):
        return True
    return _operates_network_of(actor, agency_network_id)


def may_read_network(actor: Actor, network_id: int) -> bool:
    """System admins, and the people of its member agencies (its operators among them)."""
    return actor.has(Role.SYSTEM_ADMIN) or actor.network_id == network_id


def may_read_accounts(actor: Actor, agency_id: int) -> bool:
    """Who may list an agency's people: its head, supervisors and auditors, or a system
    admin. Investigators see only their own account (``may_read_account``)."""
    if actor.has(Role.SYSTEM_ADMIN):
        return True
    return actor.agency_id == agency_id and any(
        actor.has(role) for role in (Role.AGENCY_HEAD, Role.SUPERVISOR, Role.AUDITOR)
    )


def may_read_account(actor: Actor, target_id: int, target_agency_id: int) -> bool:
    """One's own account, or one of an agency whose people ``may_read_accounts``."""
    return actor.user_id == target_id or may_read_accounts(actor, target_agency_id)


def may_oversee_agency(actor: Actor, agency_id: int) -> bool:
    """The agency's whole use (its people, every search, its alerts and digests): its head and
    its auditors, and system admins."""
    return actor.has(Role.SYSTEM_ADMIN) or may_handle_alerts(actor, agency_id)


def may_handle_alerts(actor: Actor, agency_id: int) -> bool:
    """Acknowledge or close an agency's misuse alerts: its head and its auditors (the people
    they are raised to), never a system admin of another agency."""
    return actor.agency_id == agency_id and (actor.has(Role.AGENCY_HEAD) or actor.has(Role.AUDITOR))


def may_read_agency_searches(actor: Actor, agency_id: int) -> bool:
    """Every search of an agency, not only one's own: its investigators, supervisors, head
    and auditors (the people who may open any of its searches)."""
    return actor.agency_id == agency_id and any(
        actor.has(role)
        for role in (Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_HEAD, Role.AUDITOR)
    )


def may_read_search(actor: Actor, requester_id: int, search_agency_id: int) -> bool:
    """One search and its results: whoever asked for it, and the people of its agency who
    ``may_read_agency_searches``."""
    return actor.user_id == requester_id or may_read_agency_searches(actor, search_agency_id)


def may_follow_up_search(actor: Actor, requester_id: int) -> bool:
    """Run an approved search again or record its outcome (a search of the actor's agency):
    whoever asked for it, or a supervisor."""
    return actor.user_id == requester_id or actor.has(Role.SUPERVISOR)


def may_disclose_case(actor: Actor, agency_id: int, *, worked_on_it: bool) -> bool:
    """A case of an agency, all of its searches: its supervisors, head and auditors, or an
    investigator of the agency who asked for one of the case's searches."""
    if actor.agency_id != agency_id:
        return False
    return worked_on_it or any(
        actor.has(role) for role in (Role.SUPERVISOR, Role.AGENCY_HEAD, Role.AUDITOR)
    )


def may_change_policy(actor: Actor, agency_id: int, agency_network_id: int | None) -> bool:
    """The agency's head or a system admin; its network's operator may propose or tighten
    (``may_relax_policy`` decides whether a change that relaxes anything is allowed)."""
    if actor.has(Role.SYSTEM_ADMIN):
        return True
    if actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency_id:
        return True
    return _operates_network_of(actor, agency_network_id)


def may_relax_policy(actor: Actor, agency_id: int) -> bool:
    """Relaxing an agency's policy needs that agency's own head (or a system admin, who
    answers for the platform); a network operator may only tighten it."""
    return actor.has(Role.SYSTEM_ADMIN) or (
        actor.has(Role.AGENCY_HEAD) and actor.agency_id == agency_id
    )


def may_confirm_relaxation(
    actor: Actor,
    proposer_id: int,
    agency_id: int,
    agency_network_id: int | None,
    *,
    roles_granted_by_proposer: bool,
) -> bool:
    """Confirm a relaxation of an agency's oversight (alert rules, the approval searches
    need): a second person outside its proposer's say-so. A system admin, the operator of
    the agency's network, or an auditor of the agency who is not one of its heads and whose
    roles the proposer did not grant; never the proposer."""
    if actor.user_id == proposer_id:
        return False
    if actor.has(Role.SYSTEM_ADMIN) or _operates_network_of(actor, agency_network_id):
        return True
    return (
        actor.agency_id == agency_id
        and actor.has(Role.AUDITOR)
        and not actor.has(Role.AGENCY_HEAD)
        and not roles_granted_by_proposer
    )


def confirmed_as(actor: Actor, agency_id: int) -> Role:
    """What made someone who ``may_confirm_relaxation`` a person outside the proposer's
    say-so, as the public report names it (never who they are)."""
    if actor.has(Role.SYSTEM_ADMIN):
        return Role.SYSTEM_ADMIN
    return Role.NETWORK_OPERATOR if actor.agency_id != agency_id else Role.AUDITOR


def may_relax_oversight_alone(actor: Actor) -> bool:
    """A relaxation of an agency's oversight in force at once, with no second person: only
    when the platform's oversight makes it itself, a system admin (who answers for every
    agency, and may grant any role anyway). Whoever is overseen, the agency's head included,
    needs ``may_confirm_relaxation``'s second person. It is published all the same."""
    return actor.has(Role.SYSTEM_ADMIN)


def may_decide_search(actor: Actor, requester_id: int, search_agency_id: int) -> bool:
    """A supervisor of the search's agency who did not ask for it."""
    return (
        actor.user_id != requester_id
        and actor.agency_id == search_agency_id
        and actor.has(Role.SUPERVISOR)
    )


def may_reset_credentials(
    actor: Actor, target_id: int, target_agency_id: int, target_roles: Iterable[str]
) -> bool:
    """A password or second-factor reset for someone else: the head of their agency or a
    system admin; only a system admin for someone holding a platform role; nobody for
    themselves."""
    return _acts_on_someone_else(
        actor, target_id, target_agency_id, target_roles, (Role.AGENCY_HEAD,)
    )


def _operates_network_of(actor: Actor, agency_network_id: int | None) -> bool:
    return (
        actor.has(Role.NETWORK_OPERATOR)
        and agency_network_id is not None
        and actor.network_id == agency_network_id
    )
