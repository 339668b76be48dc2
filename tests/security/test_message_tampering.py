"""An insider who can write the database redirects a queued e-mail (a one-time enrolment code
among them) to an address of their own, queues a mail of their own for facetrail to send from
its address, or plants a message in someone's inbox. Messages are sealed rows like any other:
one that disagrees with the log is neither sent nor shown, and is logged once
(``notify.tampered``). Seen failing on 7b69e17: the redirected code was sent to the insider,
the planted mail went out, and the planted inbox message was shown.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select, text

from facetrail.config import Settings
from facetrail.services.context import AppContext
from facetrail.services.notifications import deliver_outbox, inbox, notify_users
from facetrail.store.schema import AuditEntryRow, OutboxEmail, User


def _insider(ctx: AppContext, statement: str, **params: object) -> None:
    engine = create_engine(ctx.settings.db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), params)
    finally:
        engine.dispose()


def _home(tmp_path: Path) -> tuple[AppContext, int]:
    settings = Settings(home=tmp_path / "home", threads=1, mail_dir=tmp_path / "mail")
    ctx = AppContext.open(settings)
    with ctx.transaction() as session:
        from facetrail.store.schema import Agency

        agency = Agency(name="county")
        session.add(agency)
        session.flush()
        user = User(
            username="ivy",
            email="ivy@county.example",
            agency_id=agency.id,
            password_hash="x",
            status="active",
            account_type="full",
        )
        session.add(user)
        session.flush()
        user_id = user.id
    return ctx, user_id


def _sent(tmp_path: Path) -> str:
    folder = tmp_path / "mail"
    return "".join(p.read_text() for p in sorted(folder.glob("*.eml"))) if folder.exists() else ""


def _tampered(ctx: AppContext) -> int:
    with ctx.sessions() as session:
        kinds = session.scalars(select(AuditEntryRow.kind))
        return sum(k == "notify.tampered" for k in kinds)


def test_a_redirected_or_planted_mail_is_never_sent(tmp_path: Path) -> None:
    ctx, user_id = _home(tmp_path)
    with ctx.transaction() as session:
        notify_users(session, [user_id], "search 7 awaits your approval", "case 2026-1")
        notify_users(session, [user_id], "your weekly digest", "nothing new")
    with ctx.sessions() as session:
        first = min(session.scalars(select(OutboxEmail.id)))
    _insider(ctx, "UPDATE outbox_emails SET recipient = 'evil@x.example' WHERE id = :i", i=first)
    _insider(
        ctx,
        "INSERT INTO outbox_emails (recipient, subject, body, attempts, private, created_at) "
        "VALUES ('sam@county.example', '[facetrail] approve search 9', 'click here', 0, FALSE, "
        "'2026-12-01 00:00:00')",
    )
    assert deliver_outbox(ctx) == 1
    sent = _sent(tmp_path)
    assert "your weekly digest" in sent
    assert "evil@x.example" not in sent and "click here" not in sent
    assert deliver_outbox(ctx) == 0  # never sent later either, and logged once
    assert _tampered(ctx) == 2
    ctx.close()


def test_a_planted_inbox_message_is_never_shown(tmp_path: Path) -> None:
    ctx, user_id = _home(tmp_path)
    with ctx.transaction() as session:
        notify_users(session, [user_id], "search 7 approved", "by sam")
    _insider(
        ctx,
        "INSERT INTO inbox_messages (user_id, subject, body, created_at) "
        "VALUES (:u, 'approve search 9 now', 'your head asks', '2026-12-01 00:00:00')",
        u=user_id,
    )
    shown = [m.subject for m in inbox(ctx, user_id)]
    assert shown == ["search 7 approved"]
    assert _tampered(ctx) == 1
    ctx.close()
