"""Credentials: argon2id password hashes, TOTP second factor, recovery codes, API tokens.

Pure functions over strings (and the one key file); the services decide when each is
checked. Secrets that are shown once (recovery codes, tokens) are stored only as SHA-256
hashes; TOTP secrets, which must be read back, are sealed with AES-GCM under a key kept in a
file apart from the database, so the database alone (a copy, a backup, a row) reveals none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facetrail.errors import SecretsKeyError

_HASHER = PasswordHasher()  # argon2id with the library's current RFC 9106 defaults

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "ft_"


class Role(StrEnum):
    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    AGENCY_HEAD = "agency_head"
    AUDITOR = "auditor"
    GALLERY_ADMIN = "gallery_admin"
    NETWORK_OPERATOR = "network_operator"
    SYSTEM_ADMIN = "system_admin"
    #: approves erasure requests and confirms their decisions (a platform role)
    PRIVACY_OFFICER = "privacy_officer"


@dataclass(frozen=True)
class Principal:
    """An authenticated user, as services see them."""

    user_id: int
    username: str
    agency_id: int
    agency: str
    roles: frozenset[str]

    def has(self, role: Role) -> bool:
        return role.value in self.roles

    def has_any(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: (the hasher, a hash of a random secret no one knows, made by it): see ``no_password_matches``
_STAND_IN: tuple[PasswordHasher, str] | None = None


def no_password_matches(password: str) -> bool:
    """Check ``password`` against a hash that no password matches, made with the current
    algorithm and cost, and answer False: a sign-in for a name no account holds (or one that
    cannot be checked now) takes as long as a wrong password for one that does, so the time
    of the answer does not tell which names exist."""
    global _STAND_IN
    if _STAND_IN is None or _STAND_IN[0] is not _HASHER:
        _STAND_IN = (_HASHER, _HASHER.hash(secrets.token_urlsafe(32)))
    password_matches(_STAND_IN[1], password)
    return False


def password_problem(password: str) -> str | None:
    """Why a password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "must not start or end with spaces"
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    """otpauth:// URI for authenticator apps (render as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="facetrail")


def totp_step(secret: str, code: str, *, at: float) -> int | None:
    """The 30 s time step whose code this is (the current one or one on either side, for
    clock drift), or None. The caller accepts a step once: see ``User.totp_last_step``."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at // totp.interval)
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def totp_now(secret: str, *, at: float | None = None) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(at) if at is not None else totp.now()


def new_recovery_codes(count: int = 10) -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(count)]


def secret_hash(value: str) -> str:
    """SHA-256 of a high-entropy secret (token or recovery code): enough, and indexable."""
    return hashlib.sha256(value.strip().encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- TOTP secrets at rest -----------------------------------------------------------------

SEALED_PREFIX = "aesgcm1:"
_KEY_BYTES = 32


def load_secrets_key(path: Path, *, create: bool = False) -> bytes:
    """The AES-256 key that seals TOTP secrets. Made (0600, in a 0700 folder, never through a
    link) only when ``create`` and absent: a lost key must fail loudly, not be replaced by a
    new one that opens nothing."""
    if create and not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(AESGCM.generate_key(bit_length=256))
                out.flush()
                os.fsync(out.fileno())
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as src:
            key = src.read(_KEY_BYTES + 1)
    except OSError as exc:
        raise SecretsKeyError(
            f"cannot read the secrets key ({exc.strerror}); set FACETRAIL_SECRETS_KEY_FILE",
            subject=str(path),
        ) from exc
    if len(key) != _KEY_BYTES:
        raise SecretsKeyError("the secrets key is not 32 bytes", subject=str(path))
    return key


def _context(user_id: int) -> bytes:
    # Bound to the row: a sealed secret copied onto another account's row does not open.
    return f"facetrail totp user {user_id}".encode()


def seal_secret(key: bytes, secret: str, user_id: int) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _context(user_id))
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def open_secret(key: bytes, stored: str, user_id: int) -> str:
    """The TOTP secret of a sealed value (a legacy plaintext one is returned as it is: the
    caller re-seals it)."""
    if not is_sealed(stored):
        return stored
    try:
        raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX), validate=True)
        return AESGCM(key).decrypt(raw[:12], raw[12:], _context(user_id)).decode()
    except (InvalidTag, ValueError) as exc:
        raise SecretsKeyError(
            "the secrets key does not open this account's second factor", subject=str(user_id)
        ) from exc
