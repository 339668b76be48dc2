"""Notifications to agency heads: an inbox message and an e-mail, for every account request,
approval, role change and suspension in their agency.

Both are written in the action's own transaction (so a notification exists exactly when the
action does); e-mail goes out after commit from the outbox, over SMTP, and a failed delivery
stays queued for ``deliver_outbox`` to retry.

Authorisation: internal (called by account services). Audit: delivery failures are entries.
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.credentials import Role
from facetrail.services._sealed_rows import sealed_only
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action
from facetrail.store.schema import Agency, InboxMessage, OutboxEmail, User, UserRole


def agency_heads(session: Session, agency_id: int) -> list[User]:
    """The agency's heads now: its active people who hold the agency_head role."""
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.agency_id == agency_id,
                User.status == "active",
                UserRole.role == Role.AGENCY_HEAD.value,
            )
            .order_by(User.id)
        )
    )


def role_holders(
    session: Session, agency_id: int, roles: tuple[Role, ...], *, exclude: int | None = None
) -> list[int]:
    """The ids of the agency's active people who hold any of ``roles`` (but ``exclude``)."""
    stmt = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.agency_id == agency_id,
            User.status == "active",
            UserRole.role.in_([r.value for r in roles]),
        )
    )
    if exclude is not None:
        stmt = stmt.where(User.id != exclude)
    return list(session.scalars(stmt.distinct().order_by(User.id)))


def notify_head(session: Session, agency_id: int, subject: str, body: str) -> None:
    """Queue an inbox message and an e-mail for each of the agency's heads. An agency with no
    active head has nobody to tell: the system admins are told instead, flagged as such, so
    that no notice ever reaches no one."""
    heads = agency_heads(session, agency_id)
    if heads:
        notify_users(session, [h.id for h in heads], subject, body)
        return
    agency = session.get(Agency, agency_id)
    name = agency.name if agency is not None else f"agency {agency_id}"
    admins = session.scalars(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.status == "active", UserRole.role == Role.SYSTEM_ADMIN.value)
    )
    notify_users(
        session,
        list(admins),
        f"NO HEAD: {name}: {subject}",
        f"{name} has no active agency head to receive this notice; it is sent to the system "
        f"admins instead. Appoint a head.\n\n{body}",
    )


def notify_users(session: Session, user_ids: list[int], subject: str, body: str) -> None:
    """Queue an inbox message and an e-mail for each of these users."""
    for user in session.scalars(select(User).where(User.id.in_(user_ids))):
        session.add(InboxMessage(user_id=user.id, subject=subject, body=body))
        session.add(
            OutboxEmail(
                recipient=user.email, subject=f"[facetrail] {subject}", body=body, attempts=0
            )
        )


def mail_privately(session: Session, user: User, subject: str, body: str) -> None:
    """Queue an e-mail for ``user`` alone (a one-time code): no inbox copy that others with
    the database could read back later, and its body is blanked once delivered."""
    session.add(
        OutboxEmail(
            recipient=user.email,
            subject=f"[facetrail] {subject}",
            body=body,
            attempts=0,
            private=True,
        )
    )


#: What a delivered private mail's body becomes.
DELIVERED_PRIVATE = "(delivered to its recipient; held a one-time code, not kept)"


def _send(ctx: AppContext, message: EmailMessage, mail_id: int) -> None:
    """Over SMTP, or as an .eml file in the pickup folder (created 0600, never through a
    link). Raises OSError or SMTPException."""
    settings = ctx.settings
    if settings.smtp_host:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        return
    assert settings.mail_dir is not None
    settings.mail_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = settings.mail_dir / f"facetrail-{mail_id:08d}.eml"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(message.as_bytes())


def deliver_outbox(ctx: AppContext, limit: int = 100) -> int:
    """Send queued e-mails; returns how many were sent. Without an SMTP host or a pickup
    folder (``mail_dir``), sends none: they stay queued."""
    settings = ctx.settings
    if not settings.smtp_host and settings.mail_dir is None:
        return 0
    with ctx.sessions() as session:
        pending = list(
            session.scalars(
                select(OutboxEmail)
                .where(OutboxEmail.sent_at.is_(None))
                .order_by(OutboxEmail.id)
                .limit(limit)
            )
        )
        pending = sealed_only(ctx, session, "outbox_emails", pending, "notify.tampered")
    sent = 0
    for mail in pending:
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        error: str | None = None
        try:
            _send(ctx, message, mail.id)
        except FileExistsError:
            continue  # another process dropped it meanwhile and marks it sent
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with system_action(ctx, "notify.send", f"mail:{mail.id}", actor="system") as session:
            row = session.get(OutboxEmail, mail.id)
            assert row is not None
            row.attempts += 1
            if error is None:
                row.sent_at = datetime.now(UTC)
                if row.private:
                    row.body = DELIVERED_PRIVATE
                sent += 1
            else:
                row.last_error = error
                append(
                    session,
                    AuditEvent(
                        "system",
                        "notify.email.failed",
                        mail.recipient,
                        {"subject": mail.subject, "error": error},
                    ),
                )
    return sent


@dataclass(frozen=True)
class InboxItem:
    """One notification as its reader sees it."""

    id: int
    at: str
    subject: str
    body: str


def inbox(ctx: AppContext, user_id: int) -> list[InboxItem]:
    """The notifications of one user, oldest first (callers pass the signed-in user's id: an
    inbox is read by its owner alone)."""
    with ctx.sessions() as session:
        rows = list(
            session.scalars(
                select(InboxMessage)
                .where(InboxMessage.user_id == user_id)
                .order_by(InboxMessage.id)
            )
        )
        rows = sealed_only(ctx, session, "inbox_messages", rows, "notify.tampered")
        return [InboxItem(m.id, _utc(m.created_at).isoformat(), m.subject, m.body) for m in rows]


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time facetrail stores is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
