"""The one way facetrail writes: every write is an action, one locked transaction that
authorises, acts and appends its audit entry; a typed refusal rolls all of it back and is
recorded in its own transaction.

    with action(ctx, actor, "search.approve", f"search:{id}", Permission.DECIDE_SEARCHES) as (
        session, who
    ):
        ...check what depends on the thing acted on (``governance.authority.may_*``)...
        ...act...
        append(session, AuditEvent(...))

Three doors, one lock: ``action`` for a signed-in person (re-read under the lock, as the
database says now, and held to one ``Permission`` through the authority module before the
block runs); ``unsigned_action`` for someone not signed in yet, whose request carries its own
proof (a password, an enrolment code, a bearer token: the block checks it); and
``system_action`` for facetrail's own work (the scheduler, housekeeping, a run that an
approved action started). Nothing else opens a writing transaction (``tests/test_one_writer``
holds the code to it); progress alone (a job's heartbeat, unsealed columns) is written
between actions through ``progress_write``, which refuses anything else. Rows written are
sealed when the transaction commits (``AppContext.transaction``); work after the commit (blob
deletion, index rewrite, mail) is left as outbox rows in it that the job runner and
housekeeping retry until done.

The transaction holds the database's write lock from its first statement (see
``AppContext.transaction``), so nothing it checked can change before it acts: two supervisors
deciding one search, parallel wrong passwords and parallel searches against a daily limit are
serialised, and the audit append cannot race another. A refusal is any ``FacetrailError``
raised inside the block: the block's writes roll back, then ``<kind>.refused`` is appended
(with the error's code and reason) in a transaction of its own, and the error is re-raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple, NoReturn, Protocol

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from facetrail.errors import FacetrailError, PermissionDeniedError, StorageFullError
from facetrail.governance import fields
from facetrail.governance.audit import AuditEvent, append, size_at_lock
from facetrail.governance.authority import Actor, Permission, may, needed_roles
from facetrail.governance.credentials import Principal
from facetrail.services.audit.refusal_floods import Refused
from facetrail.services.authorization import current_actor, utc_now
from facetrail.services.context import AppContext
from facetrail.store.sealing import UNSEALED_COLUMNS

log = logging.getLogger("facetrail")

__all__ = [
    "LOGGED_MAX",
    "SYSTEM",
    "First",
    "ReadBefore",
    "action",
    "loggable",
    "progress_write",
    "record_refusal",
    "refusals_recorded",
    "refuse",
    "require",
    "system_action",
    "unsigned_action",
]

#: The name facetrail's own work is logged under (reserved: no account takes it).
SYSTEM = "facetrail"


class First(Protocol):
    """What an action records before its own entries, in its transaction, or in its
    refusal's when refused: a bearer token's use (``authentication.TokenUse``), so that the
    request costs no transaction of its own. ``recorded`` is set once either has committed."""

    recorded: bool

    def record(self, session: Session, *, refused: bool) -> None:
        """Record it in ``session``'s transaction; ``refused``: in a refusal's, where it
        must not raise."""


class ReadBefore(NamedTuple):
    """The acting person as read (and checked) just before the action, with the audit log's
    size then: if nothing was committed since (the log is that size under the lock), the
    action takes them as read instead of reading them again (a search's hot path)."""

    actor: Actor
    log_size: int | None


@contextmanager
def action(
    ctx: AppContext,
    actor: Principal,
    kind: str,
    subject: str,
    permission: Permission,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
    read_before: ReadBefore | None = None,
) -> Iterator[tuple[Session, Actor]]:
    """One action on ``actor``'s behalf: one locked transaction that first re-reads them (as
    the database says now, never as they signed in: suspended, expired, their roles or agency
    changed, or any of it edited behind facetrail's back, are refused) and holds them to
    ``permission`` (``governance.authority``). A ``FacetrailError`` raised inside is a
    refusal: rolled back, recorded as ``<kind>.refused`` and re-raised. -> (session, the
    actor as read). ``first``: recorded at the start of the action's transaction (may refuse
    it), or of the refusal's; ``read_before``: see ``ReadBefore``."""
    with _locked(ctx, actor.username, kind, subject, details, first=first) as session:
        if (
            read_before is not None
            and read_before.log_size is not None
            and read_before.log_size == size_at_lock(session)
        ):
            who = read_before.actor
        else:
            who = current_actor(session, actor)
        if not may(who, permission):
            raise PermissionDeniedError(needed_roles(permission), subject=subject)
        yield session, who


@contextmanager
def unsigned_action(
    ctx: AppContext,
    name: str,
    kind: str,
    subject: str,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
) -> Iterator[Session]:
    """One action by someone not signed in (yet), named ``name`` as they gave it: signing
    in, asking for an account, enrolling with a code, using a bearer token. What authorises
    it is what the request carries, and the block checks that before it writes anything."""
    with _locked(ctx, name, kind, subject, details, first=first) as session:
        yield session


@contextmanager
def system_action(
    ctx: AppContext,
    kind: str,
    subject: str,
    details: dict[str, object] | None = None,
    *,
    actor: str = SYSTEM,
) -> Iterator[Session]:
    """facetrail's own work, as ``actor`` (default ``SYSTEM``; a run that a person's
    approved action started is logged under that person's name): no one to re-read, and a
    refusal is recorded all the same."""
    with _locked(ctx, actor, kind, subject, details) as session:
        yield session


@contextmanager
def _locked(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    details: dict[str, object] | None,
    *,
    first: First | None = None,
) -> Iterator[Session]:
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


@contextmanager
def progress_write(ctx: AppContext) -> Iterator[Session]:
    """Between actions, a write of progress alone (a job's heartbeat): the columns
    ``store.sealing.UNSEALED_COLUMNS`` lists as written outside any action. No lock, no
    entry, no seal, and nothing else: a row added or deleted, or any other column changed,
    is a bug in facetrail and raises before anything is written."""
    with ctx.sessions() as session, session.begin():
        yield session
        if session.new or session.deleted:
            raise RuntimeError("a progress write adds or deletes no row")
        for row in session.dirty:
            state = inspect(row)
            table = state.mapper.local_table.name
            for attr in state.mapper.column_attrs:
                if state.attrs[attr.key].history.has_changes() and (
                    (table, attr.columns[0].name) not in UNSEALED_COLUMNS
                ):
                    raise RuntimeError(f"{table}.{attr.key} is sealed: write it in an action")


def require(
    ctx: AppContext, actor: Principal, kind: str, subject: str, permission: Permission
) -> Actor:
    """Refuse (audited as ``<kind>.refused``) unless ``actor``, as the database says now (not
    as they signed in: suspended, expired or their roles changed since), holds a role that
    carries ``permission``. For reads and for work before an action (which checks again
    under its lock)."""
    try:
        with ctx.reads() as session:
            who = current_actor(session, actor)
    except FacetrailError as error:
        refuse(ctx, actor.username, kind, subject, error)
    if not may(who, permission):
        denied = PermissionDeniedError(needed_roles(permission), subject=subject)
        refuse(ctx, actor.username, kind, subject, denied)
    return who


def record_refusal(
    ctx: AppContext,
    actor: str,
    kind: str,
    subject: str,
    error: FacetrailError,
    details: dict[str, object] | None = None,
    *,
    first: First | None = None,
    agency: str | None = None,
    source: str | None = None,
) -> None:
    """Append ``<kind>.refused`` in its own transaction (the refused action's rolled back),
    after ``first`` if given; ``agency``: the agency it concerns, where known (its figures,
    such as the crowd probes it refused, are read by it). What the refused caller sent
    (their name, the subject) is logged as ``loggable`` shows it: a refusal never stores
    text the field rules (``governance.fields``) would refuse.

    A flood of the same refusal (same actor, or ``source``: an address trying many names;
    same kind and code) is bounded (``audit.refusal_floods``): within the minute of its first, a
    refusal naming a subject the minute has not recorded is recorded at once (up to
    ``AT_ONCE``); the others are counted, with the tokens they came with, and written as one
    entry when the minute is over."""
    who, now = loggable(actor), utc_now()
    token = getattr(first, "named", None) if first is not None else None
    sent = json.dumps([subject, details or {}], sort_keys=True, default=str)
    refused = Refused(
        who,
        f"{kind}.refused",
        error.code,
        loggable(subject),
        str(error),
        agency,
        token,
        source,
        sent,
    )
    if ctx.floods.counted(refused, now):
        if first is not None:
            first.recorded = True  # its use is counted in the minute's entry
        return
    due = ctx.floods.due(now)
    try:
        with ctx.transaction() as session:
            for flood in due:  # minutes over with repeats: their entries, before this one
                append(session, flood.entry())
            if first is not None:
                first.record(session, refused=True)
            seq = append(
                session,
                AuditEvent(
                    who,
                    refused.kind,
                    refused.subject,
                    {"code": error.code, "reason": str(error)} | (details or {}),
                    agency,
                ),
            ).seq
    except StorageFullError as full:
        # The database's disk is full: nothing can be recorded, and the caller is answered
        # with its own refusal all the same (it was refused; nothing was stored).
        log.error("refusal %s of %s not recorded: %s", refused.kind, who, full.message)
        return
    ctx.floods.written(refused, seq)
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
