"""Signed checkpoints in the C2SP form (c2sp.org/tlog-checkpoint), and the signing key files.

A checkpoint is a signed note whose text is three lines: the log's origin, the tree size in
decimal, the base64 root hash. The log's key name is its origin, so any witness or verifier
that speaks C2SP (Go's sumdb tools, Sigstore, transparency-dev witnesses, ``facetrail audit
witness``) can check it with nothing but the log's vkey.

The private key (an skey, 0600 in a 0700 folder) lives apart from the home and the database,
readable only by the process that makes checkpoints; the public vkey is copied into the home
and may be handed to anyone.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facetrail._atomic import write_atomically
from facetrail.errors import AuditInputError, NoteError, SigningKeyUnavailableError
from facetrail.governance.note import (
    ED25519,
    Signature,
    SignerKey,
    VerifierKey,
    parse_skey,
    parse_vkey,
    split_note,
)

PRIVATE_KEY = "audit-log.skey"
PUBLIC_KEY = "audit-log.vkey"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log ``origin`` had ``tree_size`` entries with ``root``."""

    origin: str
    tree_size: int
    root: bytes
    at: str  # when it was made; informational, not signed
    key_id: str  # hex of the 4-byte note key id
    signature: bytes  # 64-byte Ed25519 signature over text()

    def text(self) -> str:
        return checkpoint_text(self.origin, self.tree_size, self.root)

    def note(self) -> str:
        """The signed note, byte for byte what a C2SP witness or verifier reads."""
        line = Signature(self.origin, bytes.fromhex(self.key_id), self.signature).line()
        return self.text() + "\n" + line

    def to_json(self) -> dict[str, str | int]:
        """The published form, as ``audit export`` writes it."""
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "at": self.at,
            "note": self.note(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return parse_checkpoint(str(data["note"]), at=str(data.get("at", "")))


def checkpoint_text(origin: str, tree_size: int, root: bytes) -> str:
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint_text(text: str) -> tuple[str, int, bytes]:
    """Origin, size and root of a checkpoint body; extension lines are allowed and ignored."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0] or not _SIZE.fullmatch(lines[1]):
        raise NoteError("not a checkpoint: origin, size, root hash lines expected")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("checkpoint root hash is not base64", subject=lines[0]) from exc
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes", subject=lines[0])
    return lines[0], int(lines[1]), root


def parse_checkpoint(note: str, *, at: str = "") -> Checkpoint:
    """A checkpoint read from its signed note; its first Ed25519 signature by the key named
    as its origin is kept (``signature_ok`` checks it against a trusted key)."""
    text, signatures = split_note(note)
    origin, size, root = parse_checkpoint_text(text)
    if checkpoint_text(origin, size, root) != text:
        raise NoteError(
            "checkpoint carries extension lines facetrail does not write", subject=origin
        )
    own = [s for s in signatures if s.name == origin and len(s.signature) == 64]
    if not own:
        raise NoteError("checkpoint is not signed by a key named as its origin", subject=origin)
    return Checkpoint(origin, size, root, at, own[0].key_id.hex(), own[0].signature)


def sign_checkpoint(signer: SignerKey, tree_size: int, root: bytes, at: str) -> Checkpoint:
    text = checkpoint_text(signer.name, tree_size, root)
    signature = signer.private.sign(text.encode())
    return Checkpoint(signer.name, tree_size, root, at, signer.verifier.id.hex(), signature)


def signature_ok(verifier: VerifierKey, checkpoint: Checkpoint) -> bool:
    """Signed by exactly this log key, for exactly this log's origin."""
    return (
        checkpoint.origin == verifier.name
        and checkpoint.key_id == verifier.id.hex()
        and verifier.verify(checkpoint.signature, checkpoint.text().encode())
    )


# --- key files -------------------------------------------------------------------------------


def create_signing_key(folder: Path, origin: str) -> VerifierKey:
    """Make the log's key pair once, in a 0700 folder with the skey 0600; never replaces one."""
    private_path = folder / PRIVATE_KEY
    if private_path.exists():
        raise SigningKeyUnavailableError(
            "an audit signing key exists there and is never replaced", subject=str(private_path)
        )
    signer = SignerKey.generate(origin, ED25519)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    # Created with its final mode: never readable by others, not even for an instant.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(signer.encode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    write_vkey(folder / PUBLIC_KEY, signer.verifier)
    return signer.verifier


def write_vkey(path: Path, verifier: VerifierKey) -> None:
    write_atomically(path, (verifier.encode() + "\n").encode())
    path.chmod(0o644)


def load_signer(folder: Path) -> SignerKey:
    """The private key, or SigningKeyUnavailableError when it is absent or not readable."""
    path = folder / PRIVATE_KEY
    try:
        text = path.read_text()
    except OSError as exc:
        raise SigningKeyUnavailableError(
            f"cannot read the audit signing key ({exc.strerror})", subject=str(path)
        ) from exc
    signer = parse_skey(text)
    if signer.sig_type != ED25519:
        raise SigningKeyUnavailableError("not an Ed25519 note key", subject=str(path))
    return signer


def load_vkey(source: str | Path) -> VerifierKey:
    """A log's public key from a vkey file, or the vkey text itself."""
    if isinstance(source, str) and source.count("+") >= 2 and not Path(source).exists():
        return parse_vkey(source)
    path = Path(source)
    try:
        return parse_vkey(path.read_text())
    except OSError as exc:
        raise AuditInputError(
            f"cannot read the public key ({exc.strerror})", subject=str(path)
        ) from exc
