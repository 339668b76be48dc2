"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

#: Every message any Mailbox of this test process received: what people read their codes from.
RECEIVED: list[email.message.Message] = []


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        self.messages.append(message)
        RECEIVED.append(message)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


_INVITE = re.compile(r"--invite ([0-9A-F-]+)")


def invite_subject(username: str) -> str:
    return f"[facetrail] your enrolment code for {username}"


def invite_in(bodies: Iterable[str]) -> str | None:
    """The enrolment code in the first of ``bodies`` that holds one."""
    for body in bodies:
        if found := _INVITE.search(body):
            return found.group(1)
    return None


def dropped_bodies(folder: Path | None, subject: str) -> list[str]:
    """Bodies of the mail with ``subject`` in a pickup folder (FACETRAIL_MAIL_DIR), newest
    first."""
    if folder is None or not folder.is_dir():
        return []
    mails = [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    return [str(m.get_payload()) for m in mails[::-1] if m["Subject"] == subject]


def received_bodies(subject: str) -> list[str]:
    """Bodies of the mail with ``subject`` any test SMTP server received, newest first."""
    return [str(m.get_payload()) for m in RECEIVED[::-1] if m["Subject"] == subject]
