"""C2SP signed notes (c2sp.org/signed-note), Ed25519 only, with tlog-cosignature lines.

A note is text ending in a newline, a blank line, then signature lines
``— <key name> base64(key id || signature)``. The key id is the first four bytes of
SHA-256(key name || 0x0A || signature type || public key): type 0x01 for an Ed25519 signature
over the text (what a log signs its checkpoints with), 0x04 for a timestamped witness
cosignature (c2sp.org/tlog-cosignature: Ed25519 over ``cosignature/v1``, ``time <unix>`` and
the checkpoint text; the signature is an 8-byte big-endian time then 64 signature bytes).

Keys travel in the forms golang.org/x/mod/sumdb/note uses, so Go tools and witnesses read them:
``<name>+<hex key id>+base64(type || public key)`` (a vkey) and
``PRIVATE+KEY+<name>+<hex key id>+base64(type || seed)`` (an skey).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from facetrail.errors import NoteError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014 "  # em dash, space: every signature line starts with it
MAX_SIGNATURES = 100


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4] (c2sp.org/signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name must be non-empty, without spaces or '+'", subject=name)
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not base64", subject=text[:40]) from exc


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name and signature type, as a vkey line carries it."""

    name: str
    sig_type: int
    public: Ed25519PublicKey

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.sig_type, _raw(self.public))

    def encode(self) -> str:
        blob = base64.b64encode(bytes([self.sig_type]) + _raw(self.public)).decode()
        return f"{self.name}+{self.id.hex()}+{blob}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A private key with its name and signature type (an skey line)."""

    name: str
    sig_type: int
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str, sig_type: int = ED25519) -> SignerKey:
        return cls(_check_name(name), sig_type, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.sig_type, self.private.public_key())

    def encode(self) -> str:
        seed = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        blob = base64.b64encode(bytes([self.sig_type]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{blob}"


def _split_key(text: str, parts: int, what: str) -> list[str]:
    # The base64 part may itself contain '+', so split only as often as the format has fields.
    fields = text.strip().split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"malformed {what}", subject=text.strip()[:60])
    return fields


def _key_material(name: str, blob: str, what: str) -> tuple[int, bytes]:
    _check_name(name)
    raw = _b64decode(blob, what)
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"{what} is not an Ed25519 key (type 0x01 or 0x04)", subject=name)
    return raw[0], raw[1:]


def parse_vkey(text: str) -> VerifierKey:
    """Read ``<name>+<hex id>+<base64(type || key)>``; the id must match the key."""
    name, hex_id, blob = _split_key(text, 3, "verifier key")
    sig_type, public = _key_material(name, blob, "verifier key")
    if hex_id != key_id(name, sig_type, public).hex():
        raise NoteError("verifier key id does not match its key", subject=name)
    return VerifierKey(name, sig_type, Ed25519PublicKey.from_public_bytes(public))


def parse_skey(text: str) -> SignerKey:
    fields = _split_key(text, 5, "signer key")
    if fields[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("a signer key starts with PRIVATE+KEY+", subject=fields[2])
    name, hex_id, blob = fields[2:]
    sig_type, seed = _key_material(name, blob, "signer key")
    signer = SignerKey(name, sig_type, Ed25519PrivateKey.from_private_bytes(seed))
    if signer.verifier.id.hex() != hex_id:
        raise NoteError("signer key id does not match its key", subject=name)
    return signer


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: the key name, its 4-byte id and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{DASH}{self.name} {blob}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text holds a control character")


def sign_note(text: str, signer: SignerKey) -> str:
    """``text`` signed by ``signer`` (an Ed25519 note signature, type 0x01)."""
    _check_text(text)
    sig = Signature(signer.name, signer.verifier.id, signer.private.sign(text.encode()))
    return text + "\n" + sig.line()


def split_note(note: str) -> tuple[str, list[Signature]]:
    """The text and signature lines of a signed note; refuses a malformed one."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("not a signed note: no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    signatures = []
    for line in block.splitlines():
        if not line.startswith(DASH) or " " not in line[len(DASH) :]:
            raise NoteError("malformed signature line", subject=line[:60])
        name, blob = line[len(DASH) :].split(" ", 1)
        raw = _b64decode(blob, "signature")
        if len(raw) < 5:
            raise NoteError("signature too short", subject=name)
        signatures.append(Signature(_check_name(name), raw[:4], raw[4:]))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note needs 1..{MAX_SIGNATURES} signatures")
    return text, signatures


def open_note(note: str, verifier: VerifierKey) -> str:
    """The note's text when ``verifier`` signed it; a known key's bad signature refuses it."""
    text, signatures = split_note(note)
    ours = [s for s in signatures if (s.name, s.key_id) == (verifier.name, verifier.id)]
    if not ours:
        raise NoteError("the note carries no signature of this key", subject=verifier.name)
    if not all(verifier.verify(s.signature, text.encode()) for s in ours):
        raise NoteError("a signature of this key does not verify", subject=verifier.name)
    return text


# --- c2sp.org/tlog-cosignature (Ed25519, cosignature/v1) ----------------------------------


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


def cosign(text: str, witness: SignerKey, timestamp: int) -> Signature:
    """A timestamped cosignature of a checkpoint's text by a witness key (type 0x04)."""
    if witness.sig_type != COSIGNATURE_V1:
        raise NoteError("a cosigning key has signature type 0x04", subject=witness.name)
    if not 0 <= timestamp < 2**63:
        raise NoteError("cosignature time out of range", subject=str(timestamp))
    sig = witness.private.sign(cosigned_message(text, timestamp))
    return Signature(witness.name, witness.verifier.id, timestamp.to_bytes(8, "big") + sig)


def verify_cosignature(text: str, signature: Signature, witness: VerifierKey) -> int:
    """The cosignature's time when ``witness`` made it over ``text``; NoteError otherwise."""
    if (signature.name, signature.key_id) != (witness.name, witness.id):
        raise NoteError("not a cosignature of this witness", subject=signature.name)
    if len(signature.signature) != 72:
        raise NoteError("a cosignature is 8 time bytes and 64 signature bytes")
    timestamp = int.from_bytes(signature.signature[:8], "big")
    if not witness.verify(signature.signature[8:], cosigned_message(text, timestamp)):
        raise NoteError("cosignature does not verify", subject=witness.name)
    return timestamp
