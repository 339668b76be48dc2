"""Signed checkpoints (Ed25519 over tree size, root and time) and the signing key files.

The private key stays in ``$FACETRAIL_HOME/keys``; the public key is exported so anyone can
verify checkpoints offline. A checkpoint's signed message is text, so it can be published
as is (e.g. in a transparency report).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from facetrail._atomic import write_atomically

PRIVATE_KEY = "audit-signing-key.pem"
PUBLIC_KEY = "audit-signing-key.pub.pem"


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: bytes
    at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.tree_size, self.root, self.at)

    def to_json(self) -> dict[str, str | int]:
        """The published form (hex strings), as ``audit export`` writes it."""
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "at": self.at,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            int(data["tree_size"]),
            bytes.fromhex(data["root"]),
            str(data["at"]),
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
        )


def checkpoint_message(tree_size: int, root: bytes, at: str) -> bytes:
    return f"facetrail audit checkpoint v1\n{tree_size}\n{root.hex()}\n{at}\n".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def create_keys(folder: Path) -> Ed25519PublicKey:
    """Make the signing key pair once; refuses to overwrite an existing key."""
    private_path = folder / PRIVATE_KEY
    if private_path.exists():
        raise FileExistsError(f"{private_path} exists: an audit signing key is never replaced")
    key = Ed25519PrivateKey.generate()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    private_path.chmod(0o600)
    public = key.public_key()
    write_atomically(folder / PUBLIC_KEY, public_pem(public))
    return public


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(folder: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((folder / PRIVATE_KEY).read_bytes(), None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{folder / PRIVATE_KEY} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, tree_size: int, root: bytes, at: str) -> Checkpoint:
    return Checkpoint(
        tree_size,
        root,
        at,
        key_id(key.public_key()),
        key.sign(checkpoint_message(tree_size, root, at)),
    )


def signature_ok(public: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        public.verify(checkpoint.signature, checkpoint.message())
    except InvalidSignature:
        return False
    return True
