"""Credentials: argon2id password hashes, TOTP second factor, recovery codes, API tokens.

Pure functions over strings; the accounts service decides when each is checked. Secrets
that are shown once (recovery codes, tokens) are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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


def totp_matches(secret: str, code: str, *, at: float | None = None) -> bool:
    """Accept the current 30 s step and one on either side (clock drift)."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return False
    return bool(pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1))


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
