"""Agency heads are told, by real SMTP and in their inbox, of every request, approval, grant
and suspension in their agency (issue 2/6)."""

from __future__ import annotations

from pathlib import Path

from facetrail.config import Settings
from facetrail.governance.credentials import Role, totp_now
from facetrail.services import accounts as acc
from facetrail.services.accounts import NewAccount
from facetrail.services.accounts.account_approval import approve_account
from facetrail.services.accounts.agency_domains import register_domain
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, inbox
from facetrail.services.signin import authentication as auth
from tests.mail import Mailbox, free_port, smtp
from tests.org import enrol

__all__ = ["smtp"]

PASSWORD = "correct horse battery"


def test_head_is_told_by_mail_and_inbox(tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    ctx = AppContext.open(
        Settings(
            home=tmp_path / "home",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="noreply@facetrail.test",
        )
    )
    try:
        root_e = acc.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "ops"))
        root = auth.login(ctx, "root", PASSWORD, totp_now(root_e.totp_secret)).principal
        acc.create_agency(ctx, root, "county")
        acc.create_user(
            ctx,
            root,
            NewAccount("head", "head@county.gov", PASSWORD, "county", (Role.AGENCY_HEAD,)),
        )
        acc.create_user(
            ctx, root, NewAccount("sup", "sup@county.gov", PASSWORD, "county", (Role.SUPERVISOR,))
        )
        register_domain(ctx, root, "county", "county.gov")
        acc.request_account(
            ctx,
            NewAccount(
                "ivy", "ivy@county.gov", PASSWORD, "county", account_type="trial", supervisor="sup"
            ),
        )
        sup = enrol(ctx, "sup")[1].principal  # first sign-in: sup enrols their second factor
        approve_account(ctx, sup, "ivy")  # waits: one supervisor alone makes no account
        head = enrol(ctx, "head")[1].principal
        approve_account(ctx, head, "ivy")
        acc.suspend_account(ctx, sup, "ivy", "case closed")
        subjects = [m["Subject"] for m in box.messages]
        # The head hears of everything; the supervisor a request names hears of it too.
        to_sup = [m["Subject"] for m in box.messages if m["To"] == "sup@county.gov"]
        # Each person set up by someone else gets their own enrolment code, and only they.
        assert to_sup == [
            "[facetrail] your enrolment code for sup",
            "[facetrail] account request: ivy",
        ]
        # ivy, approved, enrols with a code mailed to her address on the county's domain.
        to_ivy = [m["Subject"] for m in box.messages if m["To"] == "ivy@county.gov"]
        assert to_ivy == ["[facetrail] your enrolment code for ivy"]
        assert all(
            m["To"] == "head@county.gov"
            for m in box.messages
            if m["To"] not in ("sup@county.gov", "ivy@county.gov")
        )
        for expected in (
            "account granted: sup",
            "account request: ivy",
            "account request needs a second approval: ivy",
            "account approved: ivy",
            "account suspended: ivy",
        ):
            assert f"[facetrail] {expected}" in subjects
        messages = [m.subject for m in inbox(ctx, head.user_id)]
        assert "account request: ivy" in messages and "account suspended: ivy" in messages
        assert deliver_outbox(ctx) == 0  # nothing left queued
    finally:
        ctx.close()


def test_mail_that_cannot_be_sent_stays_queued(tmp_path: Path) -> None:
    ctx = AppContext.open(
        Settings(home=tmp_path / "home", smtp_host="127.0.0.1", smtp_port=free_port())
    )
    try:
        root_e = acc.init_system(ctx, NewAccount("root", "root@ops", PASSWORD, "ops"))
        root = auth.login(ctx, "root", PASSWORD, totp_now(root_e.totp_secret)).principal
        acc.create_agency(ctx, root, "county")
        acc.create_user(
            ctx, root, NewAccount("head", "h@c", PASSWORD, "county", (Role.AGENCY_HEAD,))
        )
        acc.create_user(
            ctx, root, NewAccount("sup", "s@c", PASSWORD, "county", (Role.SUPERVISOR,))
        )  # head notified: queued
        from sqlalchemy import select

        from facetrail.store.schema import AuditEntryRow, OutboxEmail

        with ctx.sessions() as s:
            queued = list(s.scalars(select(OutboxEmail)))
            failures = list(
                s.scalars(select(AuditEntryRow).where(AuditEntryRow.kind == "notify.email.failed"))
            )
        assert queued and all(m.sent_at is None and m.attempts >= 1 for m in queued)
        assert failures
    finally:
        ctx.close()
