"""The roles' permissions: what each role allows by itself, whatever it is done to, and the
acting person as a decision sees them (``Actor``). Private to ``governance.authority``, which
adds what depends on whose thing it is (the ``may_*`` functions) and is the module to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from facetrail.governance.credentials import Role

__all__ = [
    "AGENCY_ROLES",
    "PLATFORM_ROLES",
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "may",
    "needed_roles",
]

AGENCY_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_HEAD, Role.AUDITOR})
PLATFORM_ROLES = frozenset(
    {Role.SYSTEM_ADMIN, Role.NETWORK_OPERATOR, Role.GALLERY_ADMIN, Role.PRIVACY_OFFICER}
)


@dataclass(frozen=True)
class Actor:
    """The facts a decision needs about the person acting, read in the action's transaction."""

    user_id: int
    agency_id: int
    roles: frozenset[str]
    #: the network the actor's agency belongs to, if any
    network_id: int | None = None

    def has(self, role: Role) -> bool:
        return role.value in self.roles


class Permission(StrEnum):
    """What a role allows by itself, whatever it is done to (the ``may_*`` functions below
    decide what also depends on whose thing it is)."""

    MANAGE_GALLERIES = "manage galleries and their sources"
    INGEST = "ingest photos into a gallery"
    MAINTAIN_INDEX = "rebuild or check a gallery's index"
    LIST_MODELS = "list the model packs"
    MANAGE_JOBS = "see and cancel background jobs"
    READ_SCHEMA = "read the database's schema revision"
    #: the service's request counts and latencies, which show when searches are made
    READ_METRICS = "read the service's metrics"
    MAKE_CHECKPOINT = "sign an audit checkpoint"
    VERIFY_LOG = "verify the audit log"
    COMPARE_FACES = "compare two faces (1:1)"
    REVIEW_CANDIDATES = "review a search's candidates"
    DECIDE_SEARCHES = "approve or deny searches"
    READ_AUDIT_LOG = "read the audit log's entries"
    MANAGE_ORGANISATION = "create agencies and networks"
    #: act beyond one's own agency: every agency's people, entries and tokens
    ACT_ON_EVERY_AGENCY = "act on every agency"
    #: what every active account may ask for: its own searches, tokens and account, and the
    #: things whose ``may_*`` function decides alone, answering "not found" to whoever may
    #: not know they exist (another agency's, or an agency's oversight to its investigators)
    USE_ACCOUNT = "act under one's own account"
    SEARCH = "ask for a search"
    FOLLOW_UP_SEARCHES = "run a search again or record its outcome"
    MANAGE_PEOPLE = "approve, suspend or reinstate people"
    MANAGE_AGENCY = "grant roles, reset credentials and register an agency's domains"
    READ_ERASURES = "read erasure requests"
    CHANGE_POLICY = "change an agency's policy"
    CONFIRM_RELAXATIONS = "confirm or refuse a relaxation of an agency's oversight"
    DECIDE_HOLDS = "decide legal holds"


#: The roles that hold each permission, in the order a refusal names them.
ROLE_PERMISSIONS: dict[Permission, tuple[Role, ...]] = {
    Permission.MANAGE_GALLERIES: (Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN),
    Permission.INGEST: (Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN),
    Permission.MAINTAIN_INDEX: (Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN),
    Permission.LIST_MODELS: (Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN),
    Permission.MANAGE_JOBS: (Role.GALLERY_ADMIN, Role.SYSTEM_ADMIN),
    Permission.READ_SCHEMA: (Role.SYSTEM_ADMIN,),
    Permission.READ_METRICS: (Role.SYSTEM_ADMIN,),
    Permission.MAKE_CHECKPOINT: (Role.AUDITOR, Role.SYSTEM_ADMIN),
    Permission.VERIFY_LOG: (Role.AUDITOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN),
    Permission.COMPARE_FACES: (Role.INVESTIGATOR, Role.SUPERVISOR),
    Permission.REVIEW_CANDIDATES: (Role.INVESTIGATOR, Role.SUPERVISOR),
    Permission.DECIDE_SEARCHES: (Role.SUPERVISOR,),
    Permission.READ_AUDIT_LOG: (Role.AUDITOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN),
    Permission.MANAGE_ORGANISATION: (Role.SYSTEM_ADMIN,),
    Permission.ACT_ON_EVERY_AGENCY: (Role.SYSTEM_ADMIN,),
    Permission.USE_ACCOUNT: tuple(Role),
    Permission.SEARCH: (Role.INVESTIGATOR, Role.NETWORK_OPERATOR),
    Permission.FOLLOW_UP_SEARCHES: (Role.INVESTIGATOR, Role.SUPERVISOR, Role.NETWORK_OPERATOR),
    Permission.MANAGE_PEOPLE: (Role.SUPERVISOR, Role.AGENCY_HEAD, Role.SYSTEM_ADMIN),
    Permission.MANAGE_AGENCY: (Role.AGENCY_HEAD, Role.SYSTEM_ADMIN),
    Permission.READ_ERASURES: (
        Role.GALLERY_ADMIN,
        Role.PRIVACY_OFFICER,
        Role.AGENCY_HEAD,
        Role.SYSTEM_ADMIN,
    ),
    Permission.CHANGE_POLICY: (Role.AGENCY_HEAD, Role.NETWORK_OPERATOR, Role.SYSTEM_ADMIN),
    Permission.CONFIRM_RELAXATIONS: (Role.AUDITOR, Role.NETWORK_OPERATOR, Role.SYSTEM_ADMIN),
    Permission.DECIDE_HOLDS: (Role.AGENCY_HEAD,),
}


def may(actor: Actor, permission: Permission) -> bool:
    """Does ``actor`` hold a role that carries ``permission``?"""
    return any(actor.has(role) for role in ROLE_PERMISSIONS[permission])


def needed_roles(permission: Permission) -> str:
    """What a refusal says is missing: "needs gallery_admin or system_admin"."""
    return "needs " + " or ".join(role.value for role in ROLE_PERMISSIONS[permission])
