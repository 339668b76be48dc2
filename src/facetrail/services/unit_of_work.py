"""The unit of work every action runs in: one locked transaction that checks, acts and appends
its audit entry; a typed refusal rolls all of it back and is recorded in its own transaction.

    with action(ctx, actor.username, "search.approve", f"search:{id}") as session:
        ...check (raise a FacetrailError to refuse)...
        ...act...
        append(session, AuditEvent(...))

The transaction holds the database's write lock from its first statement (see
``AppContext.transaction``), so nothing it checked can change before it acts: two supervisors
deciding one search, parallel wrong passwords and parallel searches against a daily limit are
serialised, and the audit append cannot race another. A refusal is any ``FacetrailError``
raised inside the block: the block's writes roll back, then ``<kind>.refused`` is appended
(with the error's code and reason) in a transaction of its own, and the error is re-raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn, Protocol

from sqlalchemy.orm import Session

from facetrail.errors import FacetrailError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append
from facetrail.services.context import AppContext

__all__ = [
    "LOGGED_MAX",
    "First",
    "action",
    "loggable",
    "record_refusal",
    "refusals_recorded",
    "refuse",
]


class First(Protocol):
    """What an action records before its own entries, in its transaction, or in its
    refusal's when refused: a bearer token's use (``authentication.TokenUse``), so that the
    request costs no transaction of its own. ``recorded`` is set once either has committed."""

    recorded: bool

    def record(self, session: Session, *, refused: bool) -> None:
        """Record it in ``session``'s transaction; ``refused``: in a refusal's, where it
        must not raise."""


@contextmanager
def action(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
) -> Iterator[Session]:
    """Run one action in one locked transaction; a ``FacetrailError`` raised inside is a
    refusal: rolled back, recorded as ``<kind>.refused`` and re-raised. ``first``: recorded
    at the start of the action's transaction (may refuse it), or of the refusal's."""
    try:
        with ctx.transaction() as session:
            if first is not None:
                first.record(session, refused=False)
            yield session
    except FacetrailError as error:
        record_refusal(ctx, actor, kind, subject, error, details, first=first)
        raise
    if first is not None:
        first.recorded = True


def record_refusal(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    error: FacetrailError,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
) -> None:
    """Append ``<kind>.refused`` in its own transaction (the refused action's rolled back),
    after ``first`` if given. What the refused caller sent (their name, the subject) is
    logged as ``loggable`` shows it: a refusal never stores text the field rules
    (``governance.fields``) would refuse."""
    with ctx.transaction() as session:
        if first is not None:
            first.record(session, refused=True)
        append(
            session,
            AuditEvent(
                loggable(actor),
                f"{kind}.refused",
                loggable(subject),
                {"code": error.code, "reason": str(error)} | (details or {}),
            ),
        )
    if first is not None:
        first.recorded = True


#: The longest name or subject a refusal logs as sent; longer ones are cut, marked with "...".
LOGGED_MAX = 200


def loggable(text: str) -> str:
    """``text`` as sent if it is short printable text, else its escaped form (``ascii``), cut
    to ``LOGGED_MAX`` characters: hostile input (control characters, bidirectional overrides,
    lone surrogates, megabytes) is recorded as evidence, never replayed to a reader."""
    shown = text if not text or _plain(text) else ascii(text)[1:-1]
    return shown if len(shown) <= LOGGED_MAX else shown[: LOGGED_MAX - 3] + "..."


def _plain(text: str) -> bool:
    try:
        fields.check_name("text", text, max_len=LOGGED_MAX)
    except FacetrailError:
        return False
    return True


def refuse(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    error: FacetrailError,
    details: dict[str, object] | None = None,
) -> NoReturn:
    """Record a refused action, then raise its error (for checks made before any action)."""
    record_refusal(ctx, actor, kind, subject, error, details)
    raise error


@contextmanager
def refusals_recorded(ctx: AppContext, actor: str, kind: str, subject: str) -> Iterator[None]:
    """Work outside any transaction (reading a stored photo after its view was logged, say)
    whose ``FacetrailError`` is a refusal: recorded as ``<kind>.refused``, then re-raised."""
    try:
        yield
    except FacetrailError as error:
        record_refusal(ctx, actor, kind, subject, error)
        raise
