"""A restore statement: the log's own signed word that it was restored from a backup and is
shorter than a checkpoint it signed before, so that a witness can tell an explained restore
from a log cut or wiped in secret.

It is a signed note (c2sp.org/signed-note) by the log's key, whose text cannot be mistaken
for a checkpoint (its second line is not a size)::

    facetrail-restore/v1
    origin <the log's origin>
    backup <size> <base64 root>       the log as the backup held it, and as it now restarts
    previous <size> <base64 root>     the last checkpoint seen before the restore
    at <ISO time>

A witness accepts the restored log only when ``previous`` is exactly the checkpoint it last
cosigned, the statement is signed by the key it pinned, and the new checkpoint extends
``backup`` by a consistency proof (``check_restore``); ``lost`` entries are gone for good,
and the witness says so loudly and keeps the statement. Without a statement a shorter log is
refused as before.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from facetrail.errors import AuditInputError, NoteError, WitnessConflictError, WitnessSignatureError
from facetrail.governance.checkpoints import Checkpoint
from facetrail.governance.merkle import verify_consistency
from facetrail.governance.note import SignerKey, VerifierKey, open_note, sign_note

RESTORE_FORMAT = "facetrail-restore/v1"

__all__ = ["RESTORE_FORMAT", "LogHead", "RestoreStatement", "check_restore", "parse_restore"]


@dataclass(frozen=True)
class LogHead:
    """A log's size and Merkle root."""

    size: int
    root: bytes

    def line(self) -> str:
        return f"{self.size} {base64.b64encode(self.root).decode()}"

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "root": self.root.hex()}


@dataclass(frozen=True)
class RestoreStatement:
    origin: str
    #: the log as restored from the backup
    backup: LogHead
    #: the last checkpoint seen before the restore (by a witness, or given by the operator)
    previous: LogHead
    at: str

    @property
    def lost(self) -> int:
        """Entries the restore took out of the log: those after the backup."""
        return self.previous.size - self.backup.size

    def text(self) -> str:
        return (
            f"{RESTORE_FORMAT}\norigin {self.origin}\nbackup {self.backup.line()}\n"
            f"previous {self.previous.line()}\nat {self.at}\n"
        )

    def sign(self, signer: SignerKey) -> str:
        """The statement as a note signed by the log's key."""
        if signer.name != self.origin:
            raise NoteError(
                "a restore statement is signed by the log's own key", subject=signer.name
            )
        return sign_note(self.text(), signer)


def parse_restore(note: str, log_key: VerifierKey) -> RestoreStatement:
    """The statement in ``note`` when the log's key signed it; ``WitnessSignatureError`` when
    it did not, ``AuditInputError`` when it is not a restore statement."""
    try:
        text = open_note(note, log_key)
    except NoteError as exc:
        raise WitnessSignatureError(
            f"the restore statement is not signed by the log's key {log_key.encode()}",
            subject=log_key.name,
        ) from exc
    lines = text.removesuffix("\n").split("\n")
    try:
        if len(lines) != 5 or lines[0] != RESTORE_FORMAT:
            raise ValueError(f"{RESTORE_FORMAT} and four lines expected")
        origin = _field(lines[1], "origin")
        backup, previous = _head(_field(lines[2], "backup")), _head(_field(lines[3], "previous"))
        at = _field(lines[4], "at")
    except ValueError as exc:
        raise AuditInputError(f"not a restore statement: {exc}", subject=log_key.name) from exc
    if origin != log_key.name:
        raise WitnessSignatureError("the restore statement names another log", subject=origin)
    return RestoreStatement(origin, backup, previous, at)


def _field(line: str, name: str) -> str:
    key, _, value = line.partition(" ")
    if key != name or not value:
        raise ValueError(f"'{name} ...' expected")
    return value


def _head(value: str) -> LogHead:
    size, _, root_b64 = value.partition(" ")
    if not size.isdigit():
        raise ValueError("a size is a decimal number")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a root is base64") from exc
    if len(root) != 32:
        raise ValueError("a root is 32 bytes")
    return LogHead(int(size), root)


def check_restore(
    statement: RestoreStatement,
    old_size: int,
    proof: tuple[bytes, ...],
    new: Checkpoint,
    latest: Checkpoint | None,
    cosigned_at_backup: Checkpoint | None,
) -> None:
    """Whether a witness that last cosigned ``latest`` may follow the log to ``new`` by this
    restore: ``previous`` is exactly what it cosigned, the request starts from the backup's
    size, ``new`` extends the backup's root, and a checkpoint it cosigned at the backup's size
    (``cosigned_at_backup``) has the backup's root. ``WitnessConflictError`` otherwise."""
    seen = latest.tree_size if latest else 0

    def refuse(why: str) -> WitnessConflictError:
        return WitnessConflictError(f"restore refused: {why}", latest_size=seen, subject=new.origin)

    if latest is None or (latest.tree_size, latest.root) != (
        statement.previous.size,
        statement.previous.root,
    ):
        raise refuse(
            f"its statement names the checkpoint of {statement.previous.size} entries as the "
            f"previous one, this witness last cosigned {seen} entries"
            + ("" if latest is None else f" (root {latest.root.hex()[:16]})")
        )
    if statement.backup.size >= statement.previous.size:
        raise refuse("a restore that loses no entry needs no statement")
    if old_size != statement.backup.size:
        raise refuse(f"old size {old_size} is not the backup's size {statement.backup.size}")
    if cosigned_at_backup is not None and cosigned_at_backup.root != statement.backup.root:
        raise refuse(
            f"this witness cosigned another root at the backup's size {statement.backup.size}"
        )
    size, root = statement.backup.size, statement.backup.root
    if new.tree_size < size or (new.tree_size == size and (proof or new.root != root)):
        raise refuse("the new checkpoint is not the backup's log")
    if new.tree_size > size and not verify_consistency(size, new.tree_size, root, new.root, proof):
        raise refuse(f"the new checkpoint does not extend the backup's {size} entries")
