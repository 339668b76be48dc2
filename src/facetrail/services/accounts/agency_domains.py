"""The e-mail domains an agency registered: an account of the agency has its e-mail on one.

A requested account must come from a mailbox the agency gave out, and its enrolment code goes
there (``accounts.send_enrol_code``): a supervisor cannot conjure a second person with an
address of their own. An agency with no domain takes no account requests until its head
registers one. Accounts granted directly (by the head or a system admin, who answer for them)
follow its domains once it has any.

Authorisation (``governance.authority.may_register_domains``): registering and removing by
the agency's head or a system admin; listing by anyone who may read the agency. Audit: every
change (``agency.domain.add``/``agency.domain.remove``) and listing, refusals too; the rows
are sealed by those entries like every row.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facetrail.errors import (
    AccountExistsError,
    EmailDomainError,
    NoEmailDomainError,
    NotFoundError,
    PermissionDeniedError,
)
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.authority import Actor, Permission, may_read_agency, may_register_domains
from facetrail.governance.credentials import Principal
from facetrail.governance.events import DomainRegistered, DomainRemoved
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, notify_head
from facetrail.services.unit_of_work import action
from facetrail.store.schema import Agency, AgencyDomain

__all__ = [
    "check_account_email",
    "domains_of",
    "list_domains",
    "register_domain",
    "remove_domain",
]


def domains_of(session: Session, agency_id: int) -> list[str]:
    """The agency's registered e-mail domains, in name order."""
    return list(
        session.scalars(
            select(AgencyDomain.domain)
            .where(AgencyDomain.agency_id == agency_id)
            .order_by(AgencyDomain.domain)
        )
    )


def check_account_email(session: Session, agency: Agency, email: str, *, requested: bool) -> None:
    """Refuse an account's e-mail (checked by ``fields.check_email``) that is not on one of
    its agency's domains. An agency with none: a request is refused
    (``NoEmailDomainError``); an account granted directly is let through, its granter
    answering for the address."""
    domains = domains_of(session, agency.id)
    if not domains:
        if requested:
            raise NoEmailDomainError(
                f"{agency.name} has registered no e-mail domain, so it takes no account "
                "requests: its head must register one first, on the agency's e-mail domains "
                f"page (/agencies/{quote(agency.name, safe='')}/domains)",
                subject=agency.name,
            )
        return
    if fields.email_domain(email) not in domains:
        raise EmailDomainError(
            f"an account of {agency.name} has its e-mail on a domain the agency registered "
            f"({', '.join(domains)})",
            subject="email",
        )


def _agency(session: Session, who: Actor, name: str, *, change: bool) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.name == name))
    if agency is None or not may_read_agency(who, agency.id, agency.network_id):
        raise NotFoundError("no such agency", subject=name)
    if change and not may_register_domains(who, agency.id):
        raise PermissionDeniedError(
            "only the agency's head or a system admin registers its e-mail domains",
            subject=name,
        )
    return agency


def register_domain(ctx: AppContext, actor: Principal, agency_name: str, domain: str) -> None:
    """Register an e-mail domain for an agency: by its head or a system admin. The head is
    told. Audited (``agency.domain.add``), refusals too."""
    with action(ctx, actor, "agency.domain.add", agency_name, Permission.MANAGE_AGENCY) as (
        session,
        who,
    ):
        agency = _agency(session, who, agency_name, change=True)
        domain = fields.check_email_domain(domain)
        if domain in domains_of(session, agency.id):
            raise AccountExistsError("the domain is registered already", subject=domain)
        session.add(AgencyDomain(agency_id=agency.id, domain=domain, added_by=actor.user_id))
        _told(session, agency, f"{actor.username} registered the e-mail domain {domain}")
        added = DomainRegistered(
            actor=actor.username, agency=agency.name, name=agency.name, domain=domain
        )
        append(session, added.entry())
    deliver_outbox(ctx)


def remove_domain(ctx: AppContext, actor: Principal, agency_name: str, domain: str) -> None:
    """Remove one of an agency's e-mail domains (its accounts stay; new ones need another):
    by its head or a system admin. The head is told. Audited (``agency.domain.remove``),
    refusals too."""
    with action(ctx, actor, "agency.domain.remove", agency_name, Permission.MANAGE_AGENCY) as (
        session,
        who,
    ):
        agency = _agency(session, who, agency_name, change=True)
        domain = fields.check_email_domain(domain)
        removed = session.execute(
            delete(AgencyDomain).where(
                AgencyDomain.agency_id == agency.id, AgencyDomain.domain == domain
            )
        )
        if not removed.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError("no such domain registered", subject=domain)
        _told(session, agency, f"{actor.username} removed the e-mail domain {domain}")
        removed_event = DomainRemoved(
            actor=actor.username, agency=agency.name, name=agency.name, domain=domain
        )
        append(session, removed_event.entry())
    deliver_outbox(ctx)


def _told(session: Session, agency: Agency, said: str) -> None:
    notify_head(session, agency.id, f"e-mail domains of {agency.name}", f"{said}.")


def list_domains(ctx: AppContext, actor: Principal, agency_name: str) -> list[str]:
    """An agency's registered e-mail domains: for whoever may read the agency (others: not
    found). Audited (``agency.domain.list``), refusals too."""
    with action(ctx, actor, "agency.domain.list", agency_name, Permission.USE_ACCOUNT) as (
        session,
        who,
    ):
        agency = _agency(session, who, agency_name, change=False)
        found = domains_of(session, agency.id)
        details = {"domains": len(found)}
        entry = AuditEvent(actor.username, "agency.domain.list", agency.name, details, agency.name)
        append(session, entry)
    return found
