"""A C2SP witness (c2sp.org/tlog-witness): keeps the last checkpoint it cosigned per log and
cosigns a new one only when a consistency proof leads to it from there.

The witness's own folder (0700) holds its Ed25519 cosigning key (an skey, type 0x04, 0600) and,
per log origin: the log's vkey pinned at first use, the latest cosigned checkpoint, every
checkpoint it cosigned (``history/``) and every request it refused (``refused/``, evidence of
misbehaviour). Checking a request and recording its checkpoint happen under one file lock, so
two runs cannot roll the witness back (the race the spec warns about).

Refusals map to the spec's HTTP answers: unknown origin 404, no valid log signature 403, old
size not the last cosigned size or a different root at that size 409, proof not verifying 422.
A checkpoint smaller than the one last cosigned is a 409: the log was shortened or wiped,
unless the request carries a restore statement signed by the log's key whose previous head is
exactly the checkpoint last cosigned (``governance.restores``): the restore is then accepted,
kept in ``restores/`` with the checkpoints of the lost branch, and reported.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from facetrail._atomic import write_atomically
from facetrail.errors import (
    AuditInputError,
    FacetrailError,
    NoteError,
    WitnessConflictError,
    WitnessInconsistentError,
    WitnessSignatureError,
    WitnessUnknownLogError,
)
from facetrail.governance.checkpoints import Checkpoint, parse_checkpoint, write_vkey
from facetrail.governance.merkle import verify_consistency
from facetrail.governance.note import (
    COSIGNATURE_V1,
    Signature,
    SignerKey,
    VerifierKey,
    cosign,
    open_note,
    parse_skey,
    parse_vkey,
)
from facetrail.governance.restores import RestoreStatement, check_restore, parse_restore

WITNESS_KEY = "witness.skey"
WITNESS_VKEY = "witness.vkey"
MAX_PROOF_LINES = 63
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class AddCheckpoint:
    """The body of an add-checkpoint request: old size, consistency proof, signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def encode(self) -> str:
        lines = [f"old {self.old_size}"] + [base64.b64encode(p).decode() for p in self.proof]
        return "\n".join(lines) + "\n\n" + self.note

    @classmethod
    def parse(cls, body: str) -> AddCheckpoint:
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        match = _OLD.fullmatch(lines[0])
        if not sep or match is None:
            raise AuditInputError("not an add-checkpoint request: 'old <size>' line expected")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise AuditInputError(f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = []
        for line in lines[1:]:
            try:
                value = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise AuditInputError("a consistency proof line is not base64") from exc
            if len(value) != 32:
                raise AuditInputError("a consistency proof hash is not 32 bytes")
            proof.append(value)
        return cls(int(match.group(1)), tuple(proof), note)


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    cosignature: Signature
    timestamp: int
    #: the restore this checkpoint followed, when it was one (the log shortened, explained)
    restore: RestoreStatement | None = None


class Witness:
    """One witness: its folder, its cosigning key."""

    def __init__(self, folder: Path, signer: SignerKey) -> None:
        self.folder = folder
        self.signer = signer

    @classmethod
    def open(cls, folder: Path, name: str | None = None) -> Witness:
        """The witness kept in ``folder``; its key is made on first use (named ``name``)."""
        key_path = folder / WITNESS_KEY
        if key_path.exists():
            signer = parse_skey(key_path.read_text())
            if name is not None and name != signer.name:
                raise AuditInputError(f"this witness is named {signer.name}", subject=name)
            return cls(folder, signer)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        signer = SignerKey.generate(
            name or f"facetrail-witness.invalid/{secrets.token_hex(4)}", COSIGNATURE_V1
        )
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(signer.encode() + "\n")
        write_vkey(folder / WITNESS_VKEY, signer.verifier)
        return cls(folder, signer)

    @property
    def verifier(self) -> VerifierKey:
        return self.signer.verifier

    def _log_dir(self, origin: str) -> Path:
        return self.folder / "logs" / hashlib.sha256(origin.encode()).hexdigest()[:32]

    @contextmanager
    def _locked(self, origin: str) -> Iterator[Path]:
        folder = self._log_dir(origin)
        (folder / "history").mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def latest(self, origin: str) -> Checkpoint | None:
        path = self._log_dir(origin) / "latest.checkpoint"
        return parse_checkpoint(path.read_text()) if path.exists() else None

    def seen(self, origin: str, size: int) -> str | None:
        """The checkpoint note of that size this witness cosigned, if any."""
        path = self._log_dir(origin) / "history" / f"{size:020d}.checkpoint"
        return path.read_text() if path.exists() else None

    def add_checkpoint(
        self,
        request: AddCheckpoint,
        log_key: VerifierKey,
        *,
        now: int | None = None,
        restore: str | None = None,
    ) -> Cosigned:
        """Check ``request`` against what this witness saw of the log; cosign and record it.
        ``restore``: the log's signed restore statement that came with it, if any."""
        checkpoint = _signed_checkpoint(request.note, log_key)
        statement = None
        with self._locked(log_key.name) as folder:
            try:
                _pin(folder, log_key)
                latest = self.latest(log_key.name)
                if restore is None:
                    _check(request, checkpoint, latest)
                else:
                    statement = parse_restore(restore, log_key)
                    at_backup = self.seen(log_key.name, statement.backup.size)
                    check_restore(
                        statement,
                        request.old_size,
                        request.proof,
                        checkpoint,
                        latest,
                        None if at_backup is None else parse_checkpoint(at_backup),
                    )
            except FacetrailError as exc:
                _keep_refused(folder, request, exc, restore)
                raise
            stamp = int(time.time()) if now is None else now
            if statement is not None:
                _keep_restore(folder, request, restore or "", statement.backup.size)
            cosignature = cosign(checkpoint.text(), self.signer, stamp)
            note = checkpoint.note()
            write_atomically(
                folder / "history" / f"{checkpoint.tree_size:020d}.checkpoint", note.encode()
            )
            write_atomically(folder / "latest.checkpoint", (note + cosignature.line()).encode())
        return Cosigned(checkpoint, cosignature, stamp, statement)

    def restores(self, origin: str) -> list[str]:
        """The restore statements this witness accepted for the log, oldest first."""
        folder = self._log_dir(origin) / "restores"
        if not folder.is_dir():
            return []
        return [p.read_text() for p in sorted(folder.glob("*.restore"))]


def _signed_checkpoint(note: str, log_key: VerifierKey) -> Checkpoint:
    try:
        checkpoint = parse_checkpoint(note)
    except NoteError as exc:
        raise AuditInputError(f"the request's checkpoint is malformed: {exc}") from exc
    if checkpoint.origin != log_key.name:
        raise WitnessUnknownLogError(
            f"this witness follows {log_key.name}, not this log", subject=checkpoint.origin
        )
    try:
        open_note(note, log_key)
    except NoteError as exc:
        raise WitnessSignatureError(
            f"the checkpoint is not signed by the log's key {log_key.encode()}",
            subject=checkpoint.origin,
        ) from exc
    return checkpoint


def _pin(folder: Path, log_key: VerifierKey) -> None:
    """The log's key is fixed at first use: a log re-keyed under the same origin is refused."""
    path = folder / "log.vkey"
    if not path.exists():
        write_vkey(path, log_key)
    elif parse_vkey(path.read_text()).encode() != log_key.encode():
        raise WitnessSignatureError(
            f"this witness follows {log_key.name} under the key {path.read_text().strip()}",
            subject=log_key.name,
        )


def _check(request: AddCheckpoint, new: Checkpoint, latest: Checkpoint | None) -> None:
    seen = latest.tree_size if latest else 0
    if new.tree_size < seen:
        raise WitnessConflictError(
            f"the log is shorter than when this witness last saw it: checkpoint of "
            f"{new.tree_size} entries, the witness cosigned {seen} (log cut or wiped)",
            latest_size=seen,
            subject=new.origin,
        )
    if request.old_size != seen:
        raise WitnessConflictError(
            f"old size {request.old_size} is not the size this witness last cosigned ({seen})",
            latest_size=seen,
            subject=new.origin,
        )
    if latest is None:
        if request.proof:
            raise AuditInputError("a request from old size 0 carries no proof")
        return
    if new.tree_size == seen:
        if request.proof or new.root != latest.root:
            raise WitnessConflictError(
                f"a different root for size {seen} than the one this witness cosigned "
                "(history was rewritten)",
                latest_size=seen,
                subject=new.origin,
            )
        return
    if not verify_consistency(seen, new.tree_size, latest.root, new.root, request.proof):
        raise WitnessInconsistentError(
            f"the log of {new.tree_size} entries does not extend the {seen} entries this "
            "witness cosigned: history was rewritten",
            subject=new.origin,
        )


def _keep_refused(
    folder: Path, request: AddCheckpoint, exc: FacetrailError, restore: str | None = None
) -> None:
    name = f"{time.time_ns()}-{exc.code}.request"
    write_atomically(folder / "refused" / name, request.encode().encode())
    if restore is not None:
        write_atomically(folder / "refused" / f"{name}.restore", restore.encode())


def _keep_restore(folder: Path, request: AddCheckpoint, statement: str, backup_size: int) -> None:
    """Keep the accepted statement and its request in ``restores/``, and move the checkpoints
    of the lost branch (beyond the backup) out of ``history/`` beside them: evidence of what
    the log held before, no longer what this witness follows."""
    stamp = f"{time.time_ns()}"
    restores = folder / "restores"
    write_atomically(restores / f"{stamp}.restore", statement.encode())
    write_atomically(restores / f"{stamp}.request", request.encode().encode())
    lost = restores / f"{stamp}.lost-history"
    for path in sorted((folder / "history").glob("*.checkpoint")):
        if int(path.name.split(".")[0]) > backup_size:
            lost.mkdir(parents=True, exist_ok=True)
            path.rename(lost / path.name)
