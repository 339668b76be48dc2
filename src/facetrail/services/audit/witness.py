"""Witnesses of the audit log: the log pushes each checkpoint to them, and an outside auditor
runs ``facetrail audit witness`` to check it and cosign (c2sp.org/tlog-witness).

Log side: every checkpoint is written into each configured witness inbox (outside the home)
as an add-checkpoint request from the size last pushed there. Witness side: a witness keeps
its own state folder and is given the log's vkey out of band; it cosigns a checkpoint only if
it extends what it saw, and fails on a shorter, wiped or rewritten log.

Authorisation: none (the witness runs outside the system, from files and the public key).
Audit: a checkpoint that cannot be pushed to a witness is an ``audit.witness_unreachable``
entry; the witness records what it cosigned and refused in its own folder.

A restore from an older backup shortens the log (``services.backup``): its first checkpoint is
pushed with a restore statement signed by the log's key (``<size>.restore`` beside the
request), naming the last checkpoint pushed to that inbox, and the requests of the lost
branch are moved into ``before-restore-<time>/`` in the inbox, which a lagging witness reads
first, so that what it last cosigned is that checkpoint when it meets the statement.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from facetrail._atomic import write_atomically
from facetrail.errors import (
    AuditInputError,
    StorageFullError,
    WitnessConflictError,
    WitnessInconsistentError,
)
from facetrail.governance import merkle
from facetrail.governance.audit import AuditEvent, append
from facetrail.governance.checkpoints import Checkpoint, parse_checkpoint
from facetrail.governance.note import SignerKey, VerifierKey
from facetrail.governance.restores import LogHead, RestoreStatement, parse_restore
from facetrail.governance.stored_tree import StoredTree
from facetrail.governance.verify import leaves, stored_checkpoints
from facetrail.governance.witness import AddCheckpoint, Cosigned, Witness
from facetrail.services.context import AppContext
from facetrail.services.unit_of_work import system_action
from facetrail.store.read_only import read_only_session
from facetrail.store.schema import AuditEntryRow

REQUEST_SUFFIX = ".add-checkpoint"
RESTORE_SUFFIX = ".restore"
#: The entry a restore that shortened the log appends, its details holding the statement.
RESTORE_KIND = "audit.restore"
BEFORE_RESTORE = "before-restore-"
_REQUEST = re.compile(r"([0-9]{20})\.add-checkpoint")


@dataclass(frozen=True)
class RestorePush:
    """What a push after a restore needs: the log as restored, when, and the key that signs
    each inbox's restore statement."""

    backup: LogHead
    at: str
    signer: SignerKey


def _pushed_sizes(inbox: Path) -> list[int]:
    sizes = []
    for path in inbox.iterdir():
        match = _REQUEST.fullmatch(path.name)
        if match:
            sizes.append(int(match.group(1)))
    return sorted(sizes)


def last_pushed(inbox: Path) -> AddCheckpoint | None:
    """The latest add-checkpoint request pushed to ``inbox`` (None: none). ``OSError`` or
    ``AuditInputError`` when it cannot be read."""
    sizes = _pushed_sizes(inbox)
    if not sizes:
        return None
    return AddCheckpoint.parse((inbox / f"{sizes[-1]:020d}{REQUEST_SUFFIX}").read_text())


def push_checkpoint(
    ctx: AppContext, checkpoint: Checkpoint, restore: RestorePush | None = None
) -> list[str]:
    """Write ``checkpoint`` to every witness inbox; returns the problems (each audited).
    ``restore``: the first checkpoint after a restore (see the module's docstring)."""
    inboxes = ctx.settings.witness_dirs
    if not inboxes:
        return []
    problems = []
    with ctx.sessions() as session:
        tree = StoredTree(session)

        def prove(old: int) -> list[bytes]:
            """From ``old`` entries to the checkpoint, from O(log n) stored hashes."""
            return merkle.consistency_path(old, checkpoint.tree_size, tree.range_hash)

        for inbox in inboxes:
            try:
                inbox.mkdir(parents=True, exist_ok=True)
                old = max(_pushed_sizes(inbox), default=0)
                if restore is not None and old > restore.backup.size:
                    _push_restore(inbox, old, checkpoint, prove, restore)
                    continue
                if old > checkpoint.tree_size:
                    raise AuditInputError(
                        f"the witness was sent {old} entries before, the log now has "
                        f"{checkpoint.tree_size}"
                    )
                if old == checkpoint.tree_size:
                    continue
                proof = prove(old) if old else []
                body = AddCheckpoint(old, tuple(proof), checkpoint.note()).encode()
                path = inbox / f"{checkpoint.tree_size:020d}{REQUEST_SUFFIX}"
                write_atomically(path, body.encode())
            except (OSError, AuditInputError, StorageFullError, LookupError) as exc:
                problems.append(f"{inbox}: {exc}")  # each audited below
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


def _push_restore(
    inbox: Path,
    old: int,
    checkpoint: Checkpoint,
    prove: Callable[[int], list[bytes]],
    restore: RestorePush,
) -> None:
    """The restore's checkpoint, from the backup's size, with a statement naming the last
    checkpoint pushed to ``inbox``; the lost branch's requests moved aside first."""
    pushed = AddCheckpoint.parse((inbox / f"{old:020d}{REQUEST_SUFFIX}").read_text())
    previous = parse_checkpoint(pushed.note)
    aside = inbox / f"{BEFORE_RESTORE}{time.time_ns()}"
    aside.mkdir()
    for size in _pushed_sizes(inbox):
        if size > restore.backup.size:
            for path in inbox.glob(f"{size:020d}.*"):
                path.rename(aside / path.name)
    statement = RestoreStatement(
        restore.signer.name,
        restore.backup,
        LogHead(previous.tree_size, previous.root),
        restore.at,
    )
    size = restore.backup.size
    proof = prove(size) if 0 < size < checkpoint.tree_size else []
    body = AddCheckpoint(size, tuple(proof), checkpoint.note()).encode()
    name = f"{checkpoint.tree_size:020d}"
    write_atomically(inbox / f"{name}{RESTORE_SUFFIX}", statement.sign(restore.signer).encode())
    write_atomically(inbox / f"{name}{REQUEST_SUFFIX}", body.encode())


@dataclass(frozen=True)
class WitnessReport:
    """What one witness run did: the checkpoints it cosigned, the ones it had seen already,
    and the restores it accepted (the log shortened by a signed, explained restore)."""

    witness_key: str
    origin: str
    latest_size: int
    cosigned: list[str] = field(default_factory=list)  # cosignature lines, oldest first
    already_seen: list[int] = field(default_factory=list)
    restores: list[dict[str, object]] = field(default_factory=list)


def _report(
    witness: Witness, log_key: VerifierKey, done: list[Cosigned], seen: list[int]
) -> WitnessReport:
    latest = witness.latest(log_key.name)
    restores = [
        {
            "backup_size": c.restore.backup.size,
            "backup_root": c.restore.backup.root.hex(),
            "previous_size": c.restore.previous.size,
            "previous_root": c.restore.previous.root.hex(),
            "lost": c.restore.lost,
            "at": c.restore.at,
            "checkpoint": c.checkpoint.tree_size,
        }
        for c in done
        if c.restore is not None
    ]
    return WitnessReport(
        witness.verifier.encode(),
        log_key.name,
        latest.tree_size if latest else 0,
        [c.cosignature.line() for c in done],
        seen,
        restores,
    )


def witness_request(
    witness: Witness, log_key: VerifierKey, body: str, restore: str | None = None
) -> WitnessReport:
    """Handle one add-checkpoint request body exactly as the spec says (no second chances);
    ``restore``: the log's restore statement sent with it."""
    done = witness.add_checkpoint(AddCheckpoint.parse(body), log_key, restore=restore)
    return _report(witness, log_key, [done], [])


def witness_inbox(witness: Witness, log_key: VerifierKey, inbox: Path) -> WitnessReport:
    """Handle every request in ``inbox`` in size order, writing each cosignature beside it.

    A request for a size this witness cosigned before is skipped when it is the same signed
    checkpoint, and refused when it is not (a rewritten history at a size already seen).
    """
    try:
        # The lost branches of restores first (a lagging witness catches up to what the
        # restore statement names), then the inbox itself.
        folders = sorted(p for p in inbox.glob(f"{BEFORE_RESTORE}*") if p.is_dir())
        batches = [(folder, _pushed_sizes(folder), True) for folder in folders]
        batches.append((inbox, _pushed_sizes(inbox), False))
    except OSError as exc:
        raise AuditInputError(
            f"cannot read the witness inbox ({exc.strerror})", subject=str(inbox)
        ) from exc
    done: list[Cosigned] = []
    seen: list[int] = []
    for folder, sizes, superseded in batches:
        passed = _restored_past(witness, log_key) if superseded else 0
        for size in sizes:
            if size <= passed:
                continue  # a branch this witness already left by an accepted restore
            path = folder / f"{size:020d}{REQUEST_SUFFIX}"
            request = AddCheckpoint.parse(path.read_text())
            latest = witness.latest(log_key.name)
            if latest is not None and size <= latest.tree_size:
                earlier = witness.seen(log_key.name, size)
                if earlier is not None and _same(earlier, request.note):
                    seen.append(size)
                    continue
            statement = path.with_suffix(RESTORE_SUFFIX)
            restore = statement.read_text() if statement.is_file() else None
            cosigned = witness.add_checkpoint(request, log_key, restore=restore)
            done.append(cosigned)
            _write_back(path.with_suffix(".cosignature"), cosigned.cosignature.line())
    return _report(witness, log_key, done, seen)


def _restored_past(witness: Witness, log_key: VerifierKey) -> int:
    """The largest size this witness left behind by a restore it accepted (0: none)."""
    sizes = [parse_restore(note, log_key).previous.size for note in witness.restores(log_key.name)]
    return max(sizes, default=0)


def _same(earlier_note: str, note: str) -> bool:
    try:
        return parse_checkpoint(earlier_note).note() == parse_checkpoint(note).note()
    except AuditInputError:
        return False


def _write_back(path: Path, line: str) -> None:
    # A read-only inbox: the cosignature is printed and kept in the witness folder anyway.
    with contextlib.suppress(OSError, StorageFullError):  # read-only or full alike
        write_atomically(path, line.encode())


def witness_database(witness: Witness, log_key: VerifierKey, database: str | Path) -> WitnessReport:
    """Monitor the log in a database file (or a copy): its latest checkpoint must extend what
    this witness cosigned, by a consistency proof computed from the entries themselves."""
    checkpoint, hashes, restore = _read_log(database, log_key)
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
    statement = None if restore is None else parse_restore(restore, log_key)
    named = None if statement is None else (statement.previous.size, statement.previous.root)
    if statement is not None and latest is not None and named == (latest.tree_size, latest.root):
        # The log was restored from a backup older than what this witness last cosigned: it
        # is followed from the backup's head by the log's signed statement (checked again,
        # with the proof, under the witness's lock).
        start = statement.backup.size
        proof = merkle.consistency_proof(hashes[:size], start) if 0 < start < size else []
        request = AddCheckpoint(start, tuple(proof), checkpoint.note())
        done = witness.add_checkpoint(request, log_key, restore=restore)
        return _report(witness, log_key, [done], [])
    proof = merkle.consistency_proof(hashes[:size], seen) if 0 < seen < size else []
    request = AddCheckpoint(seen, tuple(proof), checkpoint.note())
    return _report(witness, log_key, [witness.add_checkpoint(request, log_key)], [])


def _read_log(
    database: str | Path, log_key: VerifierKey
) -> tuple[Checkpoint | None, list[bytes], str | None]:
    """The log's latest checkpoint, its leaf hashes and its latest restore statement."""
    with read_only_session(database) as session:
        hashes, failure = leaves(session)
        checkpoints = stored_checkpoints(session, log_key.name)
        restored = session.scalars(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.kind == RESTORE_KIND)
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        ).first()
    if failure is not None:
        raise WitnessInconsistentError(
            f"the log does not verify: {failure.problem}", subject=log_key.name
        )
    latest = max(checkpoints, key=lambda c: c.tree_size, default=None)
    statement = json.loads(restored).get("statement") if restored else None
    return latest, hashes, statement if isinstance(statement, str) else None
