"""Notifications to agency heads: an inbox message and an e-mail, for every account request,
approval, role change and suspension in their agency.

Both are written in the action's own transaction (so a notification exists exactly when the
action does); e-mail goes out after commit from the outbox, over SMTP, and a failed delivery
stays queued for ``deliver_outbox`` to retry.

Authorisation: internal (called by account services). Audit: delivery failures are entries.
"""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from facetrail.governance.audit import AuditEvent, append
from facetrail.services.context import AppContext
from facetrail.store.schema import Agency, InboxMessage, OutboxEmail, User


def notify_head(session: Session, agency_id: int, subject: str, body: str) -> None:
    """Queue an inbox message and an e-mail for the agency's head (if it has one yet)."""
    agency = session.get(Agency, agency_id)
    if agency is None or agency.head_user_id is None:
        return
    head = session.get(User, agency.head_user_id)
    if head is None:
        return
    session.add(InboxMessage(user_id=head.id, subject=subject, body=body))
    session.add(
        OutboxEmail(recipient=head.email, subject=f"[facetrail] {subject}", body=body, attempts=0)
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


def deliver_outbox(ctx: AppContext, limit: int = 100) -> int:
    """Send queued e-mails; returns how many were sent. Without an SMTP host, sends none."""
    settings = ctx.settings
    if not settings.smtp_host:
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
    sent = 0
    for mail in pending:
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message.set_content(mail.body)
        error: str | None = None
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with ctx.transaction() as session:
            row = session.get(OutboxEmail, mail.id)
            assert row is not None
            row.attempts += 1
            if error is None:
                row.sent_at = datetime.now(UTC)
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


def inbox(ctx: AppContext, user_id: int) -> list[InboxMessage]:
    with ctx.sessions() as session:
        return list(
            session.scalars(
                select(InboxMessage)
                .where(InboxMessage.user_id == user_id)
                .order_by(InboxMessage.id)
            )
        )
