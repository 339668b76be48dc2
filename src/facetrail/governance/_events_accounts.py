"""The audit events of accounts and agencies: an account requested, created, approved (by
one person, then enough of them) or suspended; an agency given access; its e-mail domains
registered and removed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from facetrail.governance._events_base import Event


@dataclass(frozen=True, kw_only=True)
class _AccountEvent(Event):
    subject_field: ClassVar[str] = "username"

    username: str


@dataclass(frozen=True, kw_only=True)
class AccountRequested(_AccountEvent):
    kind: ClassVar[str] = "account.request"
    agency_in_details: ClassVar[bool] = True

    supervisor: str
    account_type: str
    roles: list[str]


@dataclass(frozen=True, kw_only=True)
class AccountCreated(_AccountEvent):
    kind: ClassVar[str] = "account.create"
    agency_in_details: ClassVar[bool] = True

    roles: list[str]


@dataclass(frozen=True, kw_only=True)
class AccountApprovalGiven(_AccountEvent):
    """One person's approval of a requested account that is not yet enough to make it active
    (its agency's head, or two different people, make it so)."""

    kind: ClassVar[str] = "account.approval"

    #: how many more approvals it needs
    needed: int


@dataclass(frozen=True, kw_only=True)
class AccountApproved(_AccountEvent):
    """A requested account made active; ``approvers``: everyone whose approval counted."""

    kind: ClassVar[str] = "account.approve"

    account_type: str
    trial_expires_at: str | None = None
    approvers: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class AccountSuspended(_AccountEvent):
    kind: ClassVar[str] = "account.suspend"

    reason: str


@dataclass(frozen=True, kw_only=True)
class AgencyCreated(Event):
    """An agency given access, and the network it reaches facetrail through, if one."""

    kind: ClassVar[str] = "agency.create"
    subject_field: ClassVar[str] = "name"

    name: str
    trial_days: int = 30
    network: str | None = None


@dataclass(frozen=True, kw_only=True)
class DomainRegistered(Event):
    """An e-mail domain registered for an agency: its accounts' e-mails are on one."""

    kind: ClassVar[str] = "agency.domain.add"
    subject_field: ClassVar[str] = "name"

    name: str
    domain: str


@dataclass(frozen=True, kw_only=True)
class DomainRemoved(Event):
    kind: ClassVar[str] = "agency.domain.remove"
    subject_field: ClassVar[str] = "name"

    name: str
    domain: str
