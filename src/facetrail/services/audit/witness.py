"""Witnesses of the audit log: the log pushes each checkpoint to them, and an outside auditor
runs ``facetrail audit witness`` to check it and cosign (c2sp.org/tlog-witness).

Log side: every checkpoint is written into each configured witness inbox (outside the home)
as an add-checkpoint request from the size last pushed there. Witness side: a witness keeps
its own state folder and is given the log's vkey out of band; it cosigns a checkpoint only if
it extends what it saw, and fails on a shorter, wiped or rewritten log.

Authorisation: none (the witness runs outside the system, from files and the public key).
Audit: a checkpoint that cannot be pushed to a witness is an ``audit.witness_unreachable``
entry; the witness records what it cosigned and refused in its own folder.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from facetrail._atomic import write_atomically
from facetrail.errors import AuditInputError, WitnessConflictError, WitnessInconsistentError
from facetrail.governance import merkle
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.checkpoints import Checkpoint, parse_checkpoint
from facetrail.governance.note import VerifierKey
from facetrail.governance.verify import leaves, stored_checkpoints
from facetrail.governance.witness import AddCheckpoint, Cosigned, Witness
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action
from facetrail.store.read_only import read_only_session
from facetrail.store.schema import AuditEntryRow

REQUEST_SUFFIX = ".add-checkpoint"
_REQUEST = re.compile(r"([0-9]{20})\.add-checkpoint")


def _pushed_sizes(inbox: Path) -> list[int]:
    sizes = []
    for path in inbox.iterdir():
        match = _REQUEST.fullmatch(path.name)
        if match:
            sizes.append(int(match.group(1)))
    return sorted(sizes)


def push_checkpoint(ctx: AppContext, checkpoint: Checkpoint) -> list[str]:
    """Write ``checkpoint`` to every witness inbox; returns the problems (each audited)."""
    inboxes = ctx.settings.witness_dirs
    if not inboxes:
        return []
    with ctx.sessions() as session:
        hashes = list(
            session.scalars(
                select(AuditEntryRow.leaf_hash)
                .where(AuditEntryRow.seq <= checkpoint.tree_size)
                .order_by(AuditEntryRow.seq)
            )
        )
    problems = []
    for inbox in inboxes:
        try:
            inbox.mkdir(parents=True, exist_ok=True)
            old = max(_pushed_sizes(inbox), default=0)
            if old > checkpoint.tree_size or old > len(hashes):
                raise AuditInputError(
                    f"the witness was sent {old} entries before, the log now has "
                    f"{checkpoint.tree_size}"
                )
            if old == checkpoint.tree_size:
                continue
            proof = merkle.consistency_proof(hashes, old) if old else []
            body = AddCheckpoint(old, tuple(proof), checkpoint.note()).encode()
            path = inbox / f"{checkpoint.tree_size:020d}{REQUEST_SUFFIX}"
            write_atomically(path, body.encode())
        except (OSError, AuditInputError) as exc:
            problems.append(f"{inbox}: {exc}")
    if problems:
        with system_action(
            ctx, "audit.witness_unreachable", "audit-log", actor="system"
        ) as session:
            for problem in problems:
                append(
                    session,
                    AuditEvent(
                        "system", "audit.witness_unreachable", "audit-log", {"problem": problem}
                    ),
                )
    return problems


@dataclass(frozen=True)
class WitnessReport:
    """What one witness run did: the checkpoints it cosigned, the ones it had seen already."""

    witness_key: str
    origin: str
    latest_size: int
    cosigned: list[str] = field(default_factory=list)  # cosignature lines, oldest first
    already_seen: list[int] = field(default_factory=list)


def _report(
    witness: Witness, log_key: VerifierKey, done: list[Cosigned], seen: list[int]
) -> WitnessReport:
    latest = witness.latest(log_key.name)
    return WitnessReport(
        witness.verifier.encode(),
        log_key.name,
        latest.tree_size if latest else 0,
        [c.cosignature.line() for c in done],
        seen,
    )


def witness_request(witness: Witness, log_key: VerifierKey, body: str) -> WitnessReport:
    """Handle one add-checkpoint request body exactly as the spec says (no second chances)."""
    done = witness.add_checkpoint(AddCheckpoint.parse(body), log_key)
    return _report(witness, log_key, [done], [])


def witness_inbox(witness: Witness, log_key: VerifierKey, inbox: Path) -> WitnessReport:
    """Handle every request in ``inbox`` in size order, writing each cosignature beside it.

    A request for a size this witness cosigned before is skipped when it is the same signed
    checkpoint, and refused when it is not (a rewritten history at a size already seen).
    """
    try:
        sizes = _pushed_sizes(inbox)
    except OSError as exc:
        raise AuditInputError(
            f"cannot read the witness inbox ({exc.strerror})", subject=str(inbox)
        ) from exc
    done: list[Cosigned] = []
    seen: list[int] = []
    for size in sizes:
        path = inbox / f"{size:020d}{REQUEST_SUFFIX}"
        request = AddCheckpoint.parse(path.read_text())
        latest = witness.latest(log_key.name)
        if latest is not None and size <= latest.tree_size:
            earlier = witness.seen(log_key.name, size)
            if earlier is not None and _same(earlier, request.note):
                seen.append(size)
                continue
        cosigned = witness.add_checkpoint(request, log_key)
        done.append(cosigned)
        _write_back(path.with_suffix(".cosignature"), cosigned.cosignature.line())
    return _report(witness, log_key, done, seen)


def _same(earlier_note: str, note: str) -> bool:
    try:
        return parse_checkpoint(earlier_note).note() == parse_checkpoint(note).note()
    except AuditInputError:
        return False


def _write_back(path: Path, line: str) -> None:
    # A read-only inbox: the cosignature is printed and kept in the witness folder anyway.
    with contextlib.suppress(OSError):
        write_atomically(path, line.encode())


def witness_database(witness: Witness, log_key: VerifierKey, database: str | Path) -> WitnessReport:
    """Monitor the log in a database file (or a copy): its latest checkpoint must extend what
    this witness cosigned, by a consistency proof computed from the entries themselves."""
    checkpoint, hashes = _read_log(database, log_key)
    latest = witness.latest(log_key.name)
    seen = latest.tree_size if latest else 0
    if checkpoint is None:
        if seen:
            raise WitnessConflictError(
                f"the log has no checkpoint at all, this witness cosigned {seen} entries "
                "(log wiped)",
                latest_size=seen,
                subject=log_key.name,
            )
        return _report(witness, log_key, [], [])
    if len(hashes) < checkpoint.tree_size:
        raise WitnessInconsistentError(
            f"the log holds {len(hashes)} entries, its latest checkpoint covers "
            f"{checkpoint.tree_size} (tail cut)",
            subject=log_key.name,
        )
    size = checkpoint.tree_size
    proof = merkle.consistency_proof(hashes[:size], seen) if 0 < seen < size else []
    request = AddCheckpoint(seen, tuple(proof), checkpoint.note())
    return _report(witness, log_key, [witness.add_checkpoint(request, log_key)], [])


def _read_log(database: str | Path, log_key: VerifierKey) -> tuple[Checkpoint | None, list[bytes]]:
    with read_only_session(database) as session:
        hashes, failure = leaves(session)
        checkpoints = stored_checkpoints(session, log_key.name)
    if failure is not None:
        raise WitnessInconsistentError(
            f"the log does not verify: {failure.problem}", subject=log_key.name
        )
    latest = max(checkpoints, key=lambda c: c.tree_size, default=None)
    return latest, hashes
