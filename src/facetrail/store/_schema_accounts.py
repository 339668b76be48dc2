"""The tables of agencies and the people in them: networks, agencies and their e-mail
domains, user accounts, their roles, approvals, recovery codes and API tokens, and the inbox
and outbox that tell them what happened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facetrail.store._schema_base import Base, BigId, utcnow
from facetrail.store.vocabulary import ACCOUNT_TYPES, ROLES, USER_STATUSES, one_of


class Network(Base):
    """A regional service that runs searches for member agencies."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id"), index=True)
    head_user_id: Mapped[int | None] = mapped_column(Integer)


class AgencyDomain(Base):
    """An e-mail domain an agency registered (by its head or a system admin): an account of
    the agency, granted or requested, has its e-mail there, so that a request comes from a
    mailbox the agency gave out and its enrolment code goes to one."""

    __tablename__ = "agency_domains"
    __table_args__ = (UniqueConstraint("agency_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: lower case, as ``governance.fields.check_email_domain`` writes it
    domain: Mapped[str] = mapped_column(String(200))
    added_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person with an account. It does nothing until a supervisor approves it."""

    __tablename__ = "users"
    __table_args__ = (one_of("status", USER_STATUSES), one_of("account_type", ACCOUNT_TYPES))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(200))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    password_hash: Mapped[str] = mapped_column(Text)
    #: the TOTP secret sealed with the secrets key (AES-GCM, see governance/credentials);
    #: None until its owner enrols a second factor
    totp_secret: Mapped[str | None] = mapped_column(Text)
    #: USER_STATUSES: requested | active | suspended
    status: Mapped[str] = mapped_column(String(20))
    #: ACCOUNT_TYPES: trial | full
    account_type: Mapped[str] = mapped_column(String(10))
    trial_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: the last TOTP time step accepted: each code is accepted once
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: when the owner confirmed their second factor; None: they enrol at their next sign-in
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: set by a password reset: the one-time password works until then, only to set a new one
    password_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: SHA-256 of the one-time enrolment code mailed to the owner alone when someone else set
    #: up the account or reset its second factor: enrolling needs it (the granter never sees it)
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrol_code_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (one_of("role", ROLES),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the audit entry that granted this person their current roles (all rows share it)
    audit_seq: Mapped[int | None] = mapped_column(BigId)


class AccountApproval(Base):
    """One person's approval of a requested account: the account is active once its agency's
    head approved it, or two different people did (``governance.authority``)."""

    __tablename__ = "account_approvals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InboxMessage(Base):
    """An in-app notification (e.g. to an agency head: a request, an approval, a suspension)."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxEmail(Base):
    """An e-mail written in the action's transaction and delivered after commit (retried)."""

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: None until delivered: what delivery looks for, in a table that keeps every e-mail
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: for the recipient's eyes only (an enrolment code): never copied to an inbox, and its
    #: body is blanked once delivered
    private: Mapped[bool] = mapped_column(Boolean, default=False)
